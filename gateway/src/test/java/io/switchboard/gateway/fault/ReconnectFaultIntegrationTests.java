package io.switchboard.gateway.fault;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.switchboard.gateway.support.ClientRecorder;
import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.ConnectionEvent;
import io.switchboard.protocol.client.ReconnectPolicy;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import io.switchboard.testing.net.TcpProxy;
import io.switchboard.testing.redis.RedisExtension;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;

/**
 * Nothing lost across a dropped connection (docs/protocol.md sections 5 and 8): a publish stream runs while the test
 * breaks the subscriber's connection through a proxy; the reconnecting client must end up with every channel
 * message and every direct message, in order, once each, as the same user.
 */
class ReconnectFaultIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private static final String CHANNEL = "public:stream";
    private static final int DIRECT_EVERY = 10;
    private static final ReconnectPolicy POLICY =
            new ReconnectPolicy(Duration.ofMillis(200), Duration.ofSeconds(1), 20, Duration.ofSeconds(30));
    private static final Map<String, String> ENV = Map.of(
            "SWITCHBOARD_RATE",
            "100000",
            "SWITCHBOARD_BURST",
            "100000",
            "SWITCHBOARD_HISTORY_SIZE",
            "20000",
            "SWITCHBOARD_RESUME_SECRET",
            "fault-test-resume-secret-0123456789abcdef");

    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    @RegisterExtension
    final Closing closing = new Closing();

    private <C extends AutoCloseable> C keep(C c) {
        return closing.keep(c);
    }

    @Test
    @DisplayName("section 8: a TCP connection cut in the middle of a publish stream: every message arrives, in"
            + " order, once, same user")
    void cutMidStream() {
        TestGateway gw = keep(TestGateway.start(ENV));
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));

        ClientRecorder r = stream(gw, proxy, 3000, "", proxy::cutAll);

        assertThat(r.events(ConnectionEvent.Disconnected.class))
                .first()
                .satisfies(d -> assertThat(d.status().code()).isEqualTo(CloseCodes.ABNORMAL));
    }

    @Test
    @DisplayName("section 8: the same when the client lands on another instance of the cluster")
    void cutMidStreamLandsOnAnotherInstance() {
        TestGateway a = keep(TestGateway.startClustered(redis.server().uri(), "gw-a", ENV));
        TestGateway b = keep(TestGateway.startClustered(redis.server().uri(), "gw-b", ENV));
        TcpProxy proxy = keep(TcpProxy.to(a.port()));

        ClientRecorder r = stream(a, proxy, 3000, "", () -> {
            proxy.retarget(b.port());
            proxy.cutAll();
        });

        assertThat(r.events(ConnectionEvent.Connected.class))
                .extracting(c -> c.welcome().node())
                .containsExactly("gw-a", "gw-b");
    }

    @Test
    @DisplayName("section 2: 100 connections dropped at once without a close frame, while messages flow to them,"
            + " all resume on another instance as the same users")
    void manyDroppedAtOnceAllResumeElsewhere() {
        TestGateway a = keep(TestGateway.startClustered(redis.server().uri(), "gw-a", ENV));
        TestGateway b = keep(TestGateway.startClustered(redis.server().uri(), "gw-b", ENV));
        TcpProxy proxy = keep(TcpProxy.to(a.port()));
        List<ClientRecorder> clients = ClientRecorder.connectMany(
                proxy.wsUri(), POLICY, 100, r -> r.client().subscribe(CHANNEL).block(T));
        clients.forEach(this::keep);
        SwitchboardClient publisher = keep(a.connect());
        // Messages flowing to the connections when they break, as in a real outage. The race this guards against
        // (a lost connection taken for a normal closure, see Session.run) showed in the benchmark's reconnect storm,
        // with gateways in their own processes; it depends on timing and has not shown in-process.
        AtomicReference<Throwable> streamFailure = new AtomicReference<>();
        Disposable stream = Flux.interval(Duration.ofMillis(20))
                .onBackpressureDrop()
                .concatMap(i -> publisher.publish(CHANNEL, "{\"n\":" + i + "}"), 1)
                .subscribe(ack -> {}, streamFailure::set);
        closing.keep((AutoCloseable) stream::dispose);
        clients.get(0).awaitFrames(ServerFrame.Message.class, m -> true, 20, T);

        proxy.retarget(b.port());
        proxy.cutAll();

        for (ClientRecorder r : clients) {
            try {
                r.await(ConnectionEvent.Connected.class, 2, Duration.ofSeconds(30));
            } catch (AssertionError e) {
                // seen once in .ci/run (a client with no Disconnected at all): say whether its link was cut
                String user = r.events(ConnectionEvent.Connected.class)
                        .get(0)
                        .welcome()
                        .user();
                throw new AssertionError(
                        e.getMessage() + "; links still open through the proxy " + proxy.openLinks() + "; " + user
                                + " connected to gw-a "
                                + (a.gateway().registry().local(user) != null)
                                + ", to gw-b " + (b.gateway().registry().local(user) != null),
                        e);
            }
            ServerFrame.Welcome before =
                    r.events(ConnectionEvent.Connected.class).get(0).welcome();
            ServerFrame.Welcome after =
                    r.events(ConnectionEvent.Connected.class).get(1).welcome();
            assertThat(after.node()).isEqualTo("gw-b");
            assertThat(after.resumed()).as("resumed: %s", after).isTrue();
            assertThat(after.user()).isEqualTo(before.user());
        }
        assertThat(streamFailure.get()).as("the publisher's stream").isNull();
        assertThat(a.gateway()
                        .metrics()
                        .registry()
                        .get("switchboard.connections.closed")
                        .tag("code", "1006")
                        .counter()
                        .count())
                .as("closes without a close frame counted as 1006")
                .isEqualTo(100);
    }

    @Test
    @DisplayName("section 7: the same when the client stops reading and the server closes it with 4004")
    void stalledReaderClosedWith4004() {
        TestGateway gw = keep(TestGateway.start(ENV));
        Counter slowCloses = gw.gateway()
                .metrics()
                .registry()
                .get("switchboard.slow.consumer.closes")
                .counter();
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));

        ClientRecorder r = stream(gw, proxy, 8000, "x".repeat(2000), () -> {
            proxy.stall();
            Await.until("the gateway to close the stalled reader", T, () -> slowCloses.count() >= 1);
            proxy.unstall();
        });

        assertThat(r.events(ConnectionEvent.Disconnected.class))
                .first()
                .satisfies(d -> assertThat(d.status().code()).isEqualTo(CloseCodes.SLOW_CONSUMER));
    }

    /**
     * Subscribes a reconnecting client through {@code proxy}, publishes {@code total} numbered messages through
     * {@code gw} (and a direct message to the client every {@link #DIRECT_EVERY}), applies {@code fault} once a
     * quarter has arrived, and checks that the client got everything, in order, once, as the same user.
     */
    private ClientRecorder stream(TestGateway gw, TcpProxy proxy, int total, String pad, Runnable fault) {
        ClientRecorder r = keep(ClientRecorder.of(proxy.wsUri(), POLICY));
        ServerFrame.Welcome first = r.connect();
        r.client().subscribe(CHANNEL).block(T);
        SwitchboardClient publisher = keep(gw.connect());
        // A send to a user whose connection is live or resumable says delivered:true (docs/protocol.md section 5);
        // one that said false is named here rather than waited for.
        List<Integer> undelivered = new CopyOnWriteArrayList<>();

        CompletableFuture<Void> publishing = CompletableFuture.runAsync(() -> {
            for (int i = 1; i <= total; i++) {
                publisher
                        .publish(CHANNEL, "{\"n\":" + i + ",\"pad\":\"" + pad + "\"}")
                        .block(T);
                if (i % DIRECT_EVERY == 0) {
                    ServerFrame.Ack ack = publisher
                            .send(first.user(), "{\"d\":" + i / DIRECT_EVERY + "}")
                            .block(T);
                    if (!ack.delivered()) {
                        undelivered.add(i / DIRECT_EVERY);
                    }
                }
            }
        });
        r.awaitFrames(ServerFrame.Message.class, m -> true, total / 4, Duration.ofSeconds(30));
        fault.run();
        publishing.join();
        assertThat(undelivered)
                .as("direct messages whose send said delivered:false while the user was connected or resumable")
                .isEmpty();
        r.awaitFrames(ServerFrame.Message.class, m -> true, total, Duration.ofSeconds(60));
        try {
            r.awaitFrames(ServerFrame.Direct.class, d -> true, total / DIRECT_EVERY, Duration.ofSeconds(30));
        } catch (AssertionError e) {
            // rare under load (seen twice in .ci/run, never alone): say which are missing and how the client resumed
            List<String> got = r.frames(ServerFrame.Direct.class).stream()
                    .map(ServerFrame.Direct::data)
                    .toList();
            List<Integer> missing = IntStream.rangeClosed(1, total / DIRECT_EVERY)
                    .filter(d -> !got.contains("{\"d\":" + d + "}"))
                    .boxed()
                    .toList();
            throw new AssertionError(
                    e.getMessage() + "; missing directs " + missing + "; connected "
                            + r.events(ConnectionEvent.Connected.class) + "; recovered "
                            + r.events(ConnectionEvent.Recovered.class),
                    e);
        }

        List<Long> numbers = r.frames(ServerFrame.Message.class).stream()
                .map(m -> Long.parseLong(m.data().substring(5, m.data().indexOf(','))))
                .toList();
        List<Long> expected = LongStream.rangeClosed(1, total).boxed().toList();
        assertThat(numbers).as("channel messages: all, in order, once").isEqualTo(expected);
        List<String> directs = r.frames(ServerFrame.Direct.class).stream()
                .map(ServerFrame.Direct::data)
                .toList();
        assertThat(directs)
                .as("direct messages: all, in order, once")
                .isEqualTo(IntStream.rangeClosed(1, total / DIRECT_EVERY)
                        .mapToObj(d -> "{\"d\":" + d + "}")
                        .toList());
        assertThat(r.events(ConnectionEvent.Connected.class))
                .as("the fault made the client reconnect")
                .hasSizeGreaterThanOrEqualTo(2)
                .allSatisfy(c -> assertThat(c.welcome().user()).isEqualTo(first.user()));
        assertThat(r.events(ConnectionEvent.Recovered.class))
                .allSatisfy(rec ->
                        assertThat(rec.recovered()).as("recovered: %s", rec).isTrue());
        return r;
    }
}
