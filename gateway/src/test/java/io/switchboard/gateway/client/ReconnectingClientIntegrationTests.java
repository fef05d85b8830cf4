package io.switchboard.gateway.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.switchboard.gateway.support.ClientRecorder;
import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import io.switchboard.protocol.client.ConnectionEvent;
import io.switchboard.protocol.client.ReconnectPolicy;
import io.switchboard.protocol.client.ReconnectingClient;
import io.switchboard.protocol.client.SwitchboardClientOptions;
import io.switchboard.protocol.client.SwitchboardException;
import io.switchboard.testing.Await;
import io.switchboard.testing.net.TcpProxy;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import reactor.core.publisher.Mono;

/** The reconnecting Java client (docs/protocol.md section 8) against a real gateway, through a proxy that cuts. */
class ReconnectingClientIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private static final ReconnectPolicy FAST =
            new ReconnectPolicy(Duration.ofMillis(50), Duration.ofMillis(200), 10, Duration.ofSeconds(30));

    @RegisterExtension
    final Closing closing = new Closing();

    private <C extends AutoCloseable> C keep(C c) {
        return closing.keep(c);
    }

    private TestGateway gateway(Map<String, String> env) {
        return keep(TestGateway.start(env));
    }

    private static void publish(TestGateway gw, String channel, int n) {
        assertThat(gw.post("/api/publish", "{\"channel\":\"" + channel + "\",\"data\":{\"n\":" + n + "}}")
                        .statusCode())
                .isEqualTo(200);
    }

    private static List<String> data(ClientRecorder r, String channel) {
        return r.frames(ServerFrame.Message.class).stream()
                .filter(m -> m.channel().equals(channel))
                .map(ServerFrame.Message::data)
                .toList();
    }

    private static List<String> numbered(int from, int to) {
        List<String> out = new ArrayList<>();
        for (int i = from; i <= to; i++) {
            out.add("{\"n\":" + i + "}");
        }
        return out;
    }

    @Test
    @DisplayName("section 8: the first connection reports connecting (attempt 0) and connected; requests work")
    void firstConnection() {
        TestGateway gw = gateway(Map.of());
        ClientRecorder r = keep(ClientRecorder.of(gw.wsUri(), FAST));
        ServerFrame.Welcome w = r.connect();

        r.client().subscribe("public:first").block(T);
        ServerFrame.Ack ack = r.client().publish("public:first", "{\"hi\":1}").block(T);
        r.awaitFrames(ServerFrame.Message.class, m -> true, 1, T);

        assertThat(ack.offset()).isEqualTo(1L);
        assertThat(data(r, "public:first")).containsExactly("{\"hi\":1}");
        assertThat(r.events())
                .containsExactly(new ConnectionEvent.Connecting(0), new ConnectionEvent.Connected(w, false));
        assertThat(r.client().state()).isEqualTo(ReconnectingClient.State.CONNECTED);
        assertThat(r.client().position("public:first")).isEqualTo(new StreamPosition(1, ack.epoch()));
    }

    @Test
    @DisplayName("section 8: a cut connection reconnects, resumes the same user, re-subscribes with since, and"
            + " reports every step; the messages come once, in order")
    void cutConnectionRecovers() {
        TestGateway gw = gateway(Map.of());
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));
        ClientRecorder r = keep(ClientRecorder.of(proxy.wsUri(), FAST));
        ServerFrame.Welcome first = r.connect();
        r.client().subscribe("public:cut").block(T);
        publish(gw, "public:cut", 1);
        publish(gw, "public:cut", 2);
        r.awaitFrames(ServerFrame.Message.class, m -> true, 2, T);

        proxy.cutAll();
        publish(gw, "public:cut", 3);
        ConnectionEvent.Recovered recovered = r.await(ConnectionEvent.Recovered.class, 1);
        publish(gw, "public:cut", 4);
        r.awaitFrames(ServerFrame.Message.class, m -> true, 4, T);

        assertThat(recovered).isEqualTo(new ConnectionEvent.Recovered(true, true, true, List.of()));
        List<ConnectionEvent> events = r.events();
        assertThat(events).hasSize(7);
        assertThat(events.get(2))
                .isInstanceOfSatisfying(
                        ConnectionEvent.Disconnected.class,
                        d -> assertThat(d.status().code()).isEqualTo(CloseCodes.ABNORMAL));
        assertThat(events.get(3)).isInstanceOfSatisfying(ConnectionEvent.Reconnecting.class, e -> {
            assertThat(e.attempt()).isEqualTo(1);
            assertThat(e.delay()).isBetween(Duration.ZERO, FAST.base());
            assertThat(e.cause().code()).isEqualTo(CloseCodes.ABNORMAL);
        });
        assertThat(events.get(4)).isEqualTo(new ConnectionEvent.Connecting(1));
        assertThat(events.get(5)).isInstanceOfSatisfying(ConnectionEvent.Connected.class, c -> {
            assertThat(c.reconnect()).isTrue();
            assertThat(c.welcome().user()).isEqualTo(first.user());
            assertThat(c.welcome().resumed()).isTrue();
        });
        assertThat(data(r, "public:cut")).isEqualTo(numbered(1, 4));
    }

    @Test
    @DisplayName("section 8: a close whose code forbids reconnecting (4002) gives up with the reason; requests"
            + " then fail with closed")
    void nonReconnectCloseGivesUp() {
        TestGateway gw = gateway(Map.of());
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));
        ClientRecorder r = keep(ClientRecorder.of(proxy.wsUri(), FAST));
        ServerFrame.Welcome w = r.connect();

        assertThat(gw.post("/api/disconnect", "{\"user\":\"" + w.user() + "\"}").statusCode())
                .isEqualTo(200);
        ConnectionEvent.GaveUp gaveUp = r.await(ConnectionEvent.GaveUp.class, 1);

        assertThat(gaveUp.lastClose().code()).isEqualTo(CloseCodes.SESSION_REPLACED);
        assertThat(gaveUp.reason())
                .contains("4002")
                .contains("session replaced")
                .contains("not reconnecting");
        assertThat(r.events(ConnectionEvent.Reconnecting.class)).isEmpty();
        assertThat(r.client().state()).isEqualTo(ReconnectingClient.State.GAVE_UP);
        assertThatThrownBy(() -> r.client().publish("public:x", "1").block(T))
                .isInstanceOfSatisfying(
                        SwitchboardException.class, e -> assertThat(e.code()).isEqualTo("closed"));
        // the proxy sees the close on its own loop, a moment after the client did
        Await.until("the connection closed at the proxy too", T, () -> proxy.openLinks() == 0);
    }

    @Test
    @DisplayName("section 8: with no server there, the client makes maxAttempts attempts within the jitter bounds"
            + " and gives up, saying so")
    void givesUpAfterMaxAttempts() {
        TestGateway gw = gateway(Map.of());
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));
        ReconnectPolicy policy = FAST.withMaxAttempts(4);
        ClientRecorder r = keep(ClientRecorder.of(proxy.wsUri(), policy));
        r.connect();

        proxy.refuse();
        proxy.cutAll();
        ConnectionEvent.GaveUp gaveUp = r.await(ConnectionEvent.GaveUp.class, 1);

        assertThat(gaveUp.reason()).startsWith("gave up after 4 attempts");
        List<ConnectionEvent.Reconnecting> attempts = r.events(ConnectionEvent.Reconnecting.class);
        assertThat(attempts).extracting(ConnectionEvent.Reconnecting::attempt).containsExactly(1, 2, 3, 4);
        for (ConnectionEvent.Reconnecting a : attempts) {
            assertThat(a.delay())
                    .as("attempt %d", a.attempt())
                    .isBetween(Duration.ZERO, policy.delayBound(a.attempt()));
        }
        assertThat(r.events(ConnectionEvent.Connecting.class))
                .extracting(ConnectionEvent.Connecting::attempt)
                .containsExactly(0, 1, 2, 3, 4);
        assertThat(proxy.refusedAtNanos()).hasSize(4);
        assertThat(r.client().state()).isEqualTo(ReconnectingClient.State.GAVE_UP);
    }

    @Test
    @DisplayName("section 8: a first connection that is refused goes through the same backoff, then connects")
    void firstConnectionRetries() {
        TestGateway gw = gateway(Map.of());
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));
        proxy.refuse();
        ClientRecorder r = keep(ClientRecorder.of(proxy.wsUri(), FAST));
        Mono<ServerFrame.Welcome> welcome = r.client().connect();

        r.await(ConnectionEvent.Reconnecting.class, 2);
        proxy.accept();
        ServerFrame.Welcome w = welcome.block(T);

        assertThat(w.resumed()).isFalse();
        ConnectionEvent.Connected connected = r.await(ConnectionEvent.Connected.class, 1);
        assertThat(connected.reconnect()).isFalse();
        assertThat(r.events(ConnectionEvent.Disconnected.class))
                .as("never connected, so never disconnected")
                .isEmpty();
        assertThat(r.events(ConnectionEvent.Recovered.class))
                .as("nothing to recover on a first connection")
                .isEmpty();
    }

    @Test
    @DisplayName("section 8: attempts count on while connections drop early, and start again after resetAfter up")
    void attemptCounterResetsOnlyAfterStayingUp() {
        TestGateway gw = gateway(Map.of());
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));
        ClientRecorder counting = keep(ClientRecorder.of(proxy.wsUri(), FAST));
        ClientRecorder resetting = keep(ClientRecorder.of(proxy.wsUri(), FAST.withResetAfter(Duration.ZERO)));
        counting.connect();
        resetting.connect();

        for (int cut = 1; cut <= 3; cut++) {
            proxy.cutAll();
            counting.await(ConnectionEvent.Recovered.class, cut);
            resetting.await(ConnectionEvent.Recovered.class, cut);
        }

        assertThat(counting.events(ConnectionEvent.Reconnecting.class))
                .extracting(ConnectionEvent.Reconnecting::attempt)
                .containsExactly(1, 2, 3);
        assertThat(resetting.events(ConnectionEvent.Reconnecting.class))
                .extracting(ConnectionEvent.Reconnecting::attempt)
                .containsExactly(1, 1, 1);
    }

    @Test
    @DisplayName("section 8: a request made while reconnecting waits and goes out on the next connection")
    void requestsWaitForTheNextConnection() {
        TestGateway gw = gateway(Map.of());
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));
        ClientRecorder r = keep(ClientRecorder.of(proxy.wsUri(), FAST.withMaxAttempts(1000)));
        r.connect();
        r.client().subscribe("public:wait").block(T);

        proxy.refuse();
        proxy.cutAll();
        r.await(ConnectionEvent.Reconnecting.class, 2);
        Mono<ServerFrame.Ack> publish =
                r.client().publish("public:wait", "{\"n\":1}").cache();
        publish.subscribe(a -> {}, e -> {});
        assertThat(r.client().state()).isEqualTo(ReconnectingClient.State.RECONNECTING);
        proxy.accept();
        ServerFrame.Ack ack = publish.block(T);
        r.awaitFrames(ServerFrame.Message.class, m -> true, 1, T);

        assertThat(ack.offset()).isEqualTo(1L);
        assertThat(data(r, "public:wait")).containsExactly("{\"n\":1}");
    }

    @Test
    @DisplayName("section 3: a connection that hears nothing for ping.interval + ping.timeout is dropped (4003) and"
            + " replaced")
    void silentConnectionIsReplaced() {
        TestGateway gw = gateway(Map.of("SWITCHBOARD_PING_INTERVAL_MS", "300", "SWITCHBOARD_PING_TIMEOUT_MS", "300"));
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));
        ClientRecorder r = keep(ClientRecorder.of(proxy.wsUri(), FAST));
        ServerFrame.Welcome w = r.connect();

        proxy.stall();
        ConnectionEvent.Disconnected d = r.await(ConnectionEvent.Disconnected.class, 1);
        proxy.unstall();
        ConnectionEvent.Connected again = r.await(ConnectionEvent.Connected.class, 2);

        assertThat(d.status().code()).isEqualTo(CloseCodes.HEARTBEAT_TIMEOUT);
        assertThat(d.status().local()).isTrue();
        assertThat(again.welcome().user()).isEqualTo(w.user());
    }

    @Test
    @DisplayName("section 5: when the history no longer holds the gap, recovered is false and names the channel")
    void unrecoverableGapIsReported() {
        TestGateway gw = gateway(Map.of("SWITCHBOARD_HISTORY_SIZE", "5"));
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));
        ClientRecorder r = keep(ClientRecorder.of(proxy.wsUri(), FAST.withMaxAttempts(1000)));
        r.connect();
        r.client().subscribe("public:gap").block(T);
        r.client().subscribe("public:calm").block(T);
        publish(gw, "public:gap", 1);
        r.awaitFrames(ServerFrame.Message.class, m -> true, 1, T);

        proxy.refuse();
        proxy.cutAll();
        r.await(ConnectionEvent.Reconnecting.class, 1);
        for (int i = 2; i <= 20; i++) {
            publish(gw, "public:gap", i);
        }
        proxy.accept();
        ConnectionEvent.Recovered recovered = r.await(ConnectionEvent.Recovered.class, 1);
        publish(gw, "public:gap", 21);
        r.awaitFrames(ServerFrame.Message.class, m -> true, 2, T);

        assertThat(recovered).isEqualTo(new ConnectionEvent.Recovered(false, true, true, List.of("public:gap")));
        assertThat(data(r, "public:gap"))
                .as("nothing replayed, new messages flow")
                .containsExactly("{\"n\":1}", "{\"n\":21}");
    }

    @Test
    @DisplayName("section 8: close() stops the client for good: closed event, no reconnect, requests fail")
    void closeIsFinal() {
        TestGateway gw = gateway(Map.of());
        ClientRecorder r = keep(ClientRecorder.of(gw.wsUri(), FAST));
        r.connect();

        r.client().close(CloseCodes.NORMAL, "done").block(T);

        assertThat(r.events().get(r.events().size() - 1))
                .isInstanceOfSatisfying(
                        ConnectionEvent.Closed.class,
                        c -> assertThat(c.status().code()).isEqualTo(CloseCodes.NORMAL));
        assertThat(r.client().state()).isEqualTo(ReconnectingClient.State.CLOSED);
        assertThatThrownBy(() -> r.client().publish("public:x", "1").block(T))
                .isInstanceOfSatisfying(
                        SwitchboardException.class, e -> assertThat(e.code()).isEqualTo("closed"));
        assertThat(r.events(ConnectionEvent.Reconnecting.class)).isEmpty();
    }

    @Test
    @DisplayName("section 2: a token source is asked before every connection; an expired token (4001) ends it")
    void tokenSourceIsAskedPerConnection() {
        TestGateway gw = gateway(Map.of());
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));
        AtomicInteger asked = new AtomicInteger();
        ReconnectingClient client = keep(ReconnectingClient.create(
                SwitchboardClientOptions.of(proxy.wsUri()),
                FAST,
                () -> Mono.fromCallable(() -> asked.incrementAndGet() < 3
                        ? Tokens.user("u_token")
                        : Tokens.hs256(
                                TestGateway.JWT_SECRET,
                                "u_token",
                                Instant.now().minusSeconds(60),
                                List.of(),
                                List.of()))));
        List<ConnectionEvent> events = new CopyOnWriteArrayList<>();
        client.events().subscribe(events::add);

        assertThat(client.connect().block(T).user()).isEqualTo("u_token");
        proxy.cutAll();
        Await.until(
                "the second connection",
                T,
                () -> events.stream()
                                .filter(e -> e instanceof ConnectionEvent.Connected)
                                .count()
                        == 2);
        proxy.cutAll();
        Await.until("the client to give up", T, () -> client.state() == ReconnectingClient.State.GAVE_UP);

        assertThat(asked.get()).isEqualTo(3);
        assertThat(events)
                .filteredOn(e -> e instanceof ConnectionEvent.Connected)
                .allSatisfy(e -> assertThat(
                                ((ConnectionEvent.Connected) e).welcome().user())
                        .isEqualTo("u_token"));
        assertThat(events.get(events.size() - 1)).isInstanceOfSatisfying(ConnectionEvent.GaveUp.class, g -> {
            assertThat(g.lastClose().code()).isEqualTo(CloseCodes.UNAUTHORIZED);
            assertThat(g.reason()).contains("4001 (unauthorized)");
        });
    }

    @Test
    @DisplayName("section 5: a channel the server refused is not subscribed again after a reconnect")
    void refusedChannelIsForgotten() {
        TestGateway gw = gateway(Map.of());
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));
        ClientRecorder r = keep(
                ClientRecorder.of(SwitchboardClientOptions.of(proxy.wsUri()).withToken(Tokens.user("u_plain")), FAST));
        r.connect();
        r.client().subscribe("public:ok").block(T);

        assertThatThrownBy(() -> r.client().subscribe("room:secret").block(T))
                .isInstanceOfSatisfying(
                        SwitchboardException.class, e -> assertThat(e.code()).isEqualTo("forbidden"));
        proxy.cutAll();
        ConnectionEvent.Recovered recovered = r.await(ConnectionEvent.Recovered.class, 1);

        assertThat(recovered).isEqualTo(new ConnectionEvent.Recovered(true, true, true, List.of()));
        assertThat(r.client().position("room:secret")).isNull();
        assertThat(r.client().position("public:ok")).isNotNull();
    }

    @Test
    @DisplayName("section 5: subscribe from a position kept from before replays what came after it, once")
    void subscribeFromAKeptPosition() {
        TestGateway gw = gateway(Map.of());
        for (int i = 1; i <= 5; i++) {
            publish(gw, "public:kept", i);
        }
        ClientRecorder first = keep(ClientRecorder.of(gw.wsUri(), FAST));
        first.connect();
        String epoch = first.client().subscribe("public:kept").block(T).epoch();

        ClientRecorder later = keep(ClientRecorder.of(gw.wsUri(), FAST));
        later.connect();
        ServerFrame.Ack ack = later.client()
                .subscribe("public:kept", new StreamPosition(2, epoch))
                .block(T);
        publish(gw, "public:kept", 6);
        later.awaitFrames(ServerFrame.Message.class, m -> true, 4, T);

        assertThat(ack.recovered()).isTrue();
        assertThat(data(later, "public:kept")).isEqualTo(numbered(3, 6));
        assertThat(later.client().position("public:kept").offset()).isEqualTo(6);
    }
}
