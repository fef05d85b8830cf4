package io.switchboard.gateway.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import reactor.core.publisher.Flux;

/** Three gateway instances acting as one through a real redis-server (issue 3; docs/protocol.md sections 2, 5). */
class ClusterIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;

    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    private final List<TestGateway> gateways = new ArrayList<>();

    @AfterEach
    void stop() {
        gateways.forEach(TestGateway::close);
    }

    private TestGateway instance(String node, Map<String, String> extra) {
        Map<String, String> env = new HashMap<>(extra);
        env.putIfAbsent("SWITCHBOARD_RATE", "100000");
        env.putIfAbsent("SWITCHBOARD_BURST", "100000");
        TestGateway gw = TestGateway.startClustered(redis.server().uri(), node, env);
        gateways.add(gw);
        return gw;
    }

    private TestGateway instance(String node) {
        return instance(node, Map.of());
    }

    private long numsub(String channel) {
        String out = redis.server().cli("PUBSUB", "NUMSUB", "sb:{" + channel + "}");
        String[] lines = out.split("\n");
        return Long.parseLong(lines[lines.length - 1].trim());
    }

    @Test
    @DisplayName("section 5: every subscriber on every instance gets every message in offset order, exactly once")
    void fanOutAcrossInstances() throws InterruptedException {
        List<TestGateway> three = List.of(instance("gw-a"), instance("gw-b"), instance("gw-c"));
        int perInstance = 10;
        int messages = 300;
        CountDownLatch done = new CountDownLatch(3 * perInstance);
        AtomicReference<String> failure = new AtomicReference<>();
        for (TestGateway gw : three) {
            for (int s = 0; s < perInstance; s++) {
                SwitchboardClient c = gw.connect();
                long[] expected = {1};
                c.events().ofType(ServerFrame.Message.class).subscribe(m -> {
                    if (m.offset() != expected[0]) {
                        failure.compareAndSet(null, "got offset " + m.offset() + ", expected " + expected[0]);
                    }
                    expected[0]++;
                    if (expected[0] == messages + 1) {
                        done.countDown();
                    }
                });
                c.subscribe("public:cluster-fan").block(T);
            }
        }
        List<SwitchboardClient> publishers =
                three.stream().map(TestGateway::connect).toList();
        Flux.range(0, messages)
                .flatMap(i -> publishers.get(i % 3).publish("public:cluster-fan", "{\"n\":" + i + "}"), 8)
                .blockLast(T.multipliedBy(3));
        assertThat(done.await(30, TimeUnit.SECONDS))
                .as("every subscriber got every message")
                .isTrue();
        assertThat(failure.get()).isNull();
        assertThat(numsub("public:cluster-fan"))
                .as("one Redis subscription per instance")
                .isEqualTo(3);
    }

    @Test
    @DisplayName("issue 3: one Redis subscription per channel per instance, dropped when the last subscriber leaves")
    void oneRedisSubscriptionPerChannelPerInstance() {
        TestGateway a = instance("gw-a");
        List<SwitchboardClient> clients = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            SwitchboardClient c = a.connect();
            c.subscribe("public:shared").block(T);
            clients.add(c);
        }
        assertThat(numsub("public:shared")).isEqualTo(1);
        for (int i = 0; i < 4; i++) {
            clients.get(i).unsubscribe("public:shared").block(T);
        }
        assertThat(numsub("public:shared")).isEqualTo(1);
        clients.get(4).close();
        Await.until("the instance to drop its Redis subscription", T, () -> numsub("public:shared") == 0);
    }

    @Test
    @DisplayName("section 5: since recovery works on another instance than the one that served the messages")
    void recoveryOnAnotherInstance() {
        TestGateway a = instance("gw-a");
        TestGateway b = instance("gw-b");
        SwitchboardClient publisher = a.connect();
        String epoch = null;
        for (int i = 1; i <= 5; i++) {
            epoch = publisher.publish("public:rec", String.valueOf(i)).block(T).epoch();
        }
        SwitchboardClient late = b.connect();
        EventRecorder events = EventRecorder.of(late);
        ServerFrame.Ack ack =
                late.subscribe("public:rec", new StreamPosition(2, epoch)).block(T);
        assertThat(ack.recovered()).isTrue();
        assertThat(ack.offset()).isEqualTo(5L);
        assertThat(events.next(ServerFrame.Message.class, 3))
                .extracting(ServerFrame.Message::offset)
                .containsExactly(3L, 4L, 5L);
        ServerFrame.Ack stale = b.connect()
                .subscribe("public:rec", new StreamPosition(2, "other"))
                .block(T);
        assertThat(stale.recovered()).isFalse();
    }

    @Test
    @DisplayName("section 5: send reaches the user on whatever instance it is connected; delivered says so")
    void sendAcrossInstances() {
        TestGateway a = instance("gw-a");
        TestGateway b = instance("gw-b");
        SwitchboardClient alice = a.connect(Tokens.user("u_alice"));
        SwitchboardClient bob = b.connect(Tokens.user("u_bob"));
        EventRecorder bobEvents = EventRecorder.of(bob);
        assertThat(alice.send("u_bob", "{\"t\":1}").block(T).delivered()).isTrue();
        ServerFrame.Direct d = bobEvents.next(ServerFrame.Direct.class);
        assertThat(d.from()).isEqualTo("u_alice");
        assertThat(d.data()).isEqualTo("{\"t\":1}");
        assertThat(alice.send("u_nobody", "1").block(T).delivered()).isFalse();
        bob.close();
        Await.until(
                "bob to be gone from the cluster",
                T,
                () -> Boolean.FALSE.equals(alice.send("u_bob", "2").block(T).delivered()));
    }

    @Test
    @DisplayName("section 2: a user connecting on instance B closes its connection on instance A with 4002 within 1 s")
    void sessionReplacedAcrossInstances() {
        TestGateway a = instance("gw-a");
        TestGateway b = instance("gw-b");
        String token = Tokens.user("u_carol");
        SwitchboardClient older = a.connect(token);
        EventRecorder olderEvents = EventRecorder.of(older);
        long start = System.nanoTime();
        SwitchboardClient newer = b.connect(token);
        assertThat(older.closed().block(T).code()).isEqualTo(CloseCodes.SESSION_REPLACED);
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(1_000);
        assertThat(olderEvents.next(ServerFrame.Error.class).code()).isEqualTo(ErrorCodes.SESSION_REPLACED);
        assertThat(newer.isClosed()).isFalse();
        assertThat(a.connect().send("u_carol", "1").block(T).delivered()).isTrue();
    }

    @Test
    @DisplayName("section 9: /api/disconnect closes the user's connection on another instance with 4002")
    void disconnectAcrossInstances() {
        TestGateway a = instance("gw-a");
        TestGateway b = instance("gw-b");
        SwitchboardClient dan = b.connect(Tokens.user("u_dan"));
        Await.until(
                "dan's ownership to reach Redis",
                T,
                () -> Boolean.TRUE.equals(
                        a.connect().send("u_dan", "0").block(T).delivered()));
        var res = a.post("/api/disconnect", "{\"user\":\"u_dan\"}");
        assertThat(res.body()).contains("\"disconnected\":true");
        assertThat(dan.closed().block(T).code()).isEqualTo(CloseCodes.SESSION_REPLACED);
    }

    @Test
    @DisplayName("issue 3: /metrics has Redis command latency, pub/sub messages in, subscriptions held, circuit state")
    void redisMetrics() {
        TestGateway a = instance("gw-a");
        SwitchboardClient c = a.connect();
        EventRecorder events = EventRecorder.of(c);
        c.subscribe("public:metered").block(T);
        c.publish("public:metered", "1").block(T);
        events.next(ServerFrame.Message.class);
        String text = a.get("/metrics").body();
        assertThat(sample(text, "lettuce_command_completion_seconds_count", "command=\"EVALSHA\""))
                .isPositive();
        assertThat(sample(text, "switchboard_redis_pubsub_messages_total", "")).isPositive();
        assertThat(sample(text, "switchboard_redis_subscriptions", "")).isGreaterThanOrEqualTo(2.0);
        assertThat(sample(text, "resilience4j_circuitbreaker_state", "state=\"closed\""))
                .isEqualTo(1.0);
    }

    @Test
    @DisplayName("issue 3: when an instance's pub/sub link drops while Redis stays up, what it missed is filled from"
            + " history: every message arrives, in order, once")
    void pubsubLinkLossIsFilledFromHistory() {
        TestGateway a = instance("gw-a");
        TestGateway b = instance("gw-b");
        SwitchboardClient subscriber = b.connect();
        List<ServerFrame.Message> received = new CopyOnWriteArrayList<>();
        subscriber.events().ofType(ServerFrame.Message.class).subscribe(received::add);
        subscriber.subscribe("public:gappy").block(T);
        SwitchboardClient publisher = a.connect();
        for (int i = 1; i <= 20; i++) {
            publisher.publish("public:gappy", String.valueOf(i)).block(T);
        }
        Await.until("the first 20", T, () -> received.size() == 20);
        redis.server().cli("CLIENT", "KILL", "TYPE", "pubsub");
        for (int i = 21; i <= 60; i++) {
            publisher.publish("public:gappy", String.valueOf(i)).block(T);
        }
        Await.until("all 60, the missed ones from history", T, () -> received.size() >= 60);
        assertThat(received)
                .extracting(ServerFrame.Message::offset)
                .containsExactlyElementsOf(LongStream.rangeClosed(1, 60).boxed().toList());
        assertThat(received).extracting(ServerFrame.Message::data).endsWith("60");
        double filled = b.gateway()
                .metrics()
                .registry()
                .get("switchboard.redis.gaps")
                .tag("outcome", "filled")
                .counter()
                .count();
        assertThat(filled)
                .as("messages were missed on the link and filled from history")
                .isPositive();
    }

    /** The value of the first sample of {@code name} whose labels contain {@code label}. */
    private static double sample(String prometheus, String name, String label) {
        for (String line : prometheus.split("\n")) {
            if (line.startsWith(name)
                    && (line.charAt(name.length()) == ' ' || line.charAt(name.length()) == '{')
                    && line.contains(label)) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        throw new AssertionError("no sample " + name + " with " + label + " in /metrics");
    }
}
