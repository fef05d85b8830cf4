package io.switchboard.gateway.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.switchboard.gateway.support.ClientRecorder;
import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.ConnectionEvent;
import io.switchboard.protocol.client.ReconnectPolicy;
import io.switchboard.protocol.client.SubscribeOptions;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardClientOptions;
import io.switchboard.protocol.client.SwitchboardException;
import io.switchboard.testing.Await;
import io.switchboard.testing.net.TcpProxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Presence through the reconnecting Java client (docs/protocol.md section 10) against a real gateway: the reads, the
 * roster of a joinLeave channel told as join and leave, and the difference told after a reconnect, resumed or not.
 */
class ReconnectingClientPresenceIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private static final ReconnectPolicy FAST =
            new ReconnectPolicy(Duration.ofMillis(50), Duration.ofMillis(200), 1000, Duration.ofSeconds(30));
    private static final String ROOM = "public:room";
    private static final SubscribeOptions JOIN_LEAVE =
            SubscribeOptions.DEFAULT.withPresence(true).withJoinLeave(true);

    @RegisterExtension
    final Closing closing = new Closing();

    private <C extends AutoCloseable> C keep(C c) {
        return closing.keep(c);
    }

    /** A user {@code id} (name {@code name} in its info) present in {@code channel}, connected straight to {@code gw}. */
    private static SwitchboardClient present(TestGateway gw, String id, String name, String channel) {
        SwitchboardClient c = gw.connect(Tokens.userWithInfo(id, Map.of("name", name)));
        c.subscribe(channel, null, true, false).block(T);
        return c;
    }

    private static String info(String name) {
        return "{\"name\":\"" + name + "\"}";
    }

    /** The join and leave frames {@code r} received from index {@code from} of its frames on. */
    private static List<ServerFrame> presenceFrames(ClientRecorder r, int from) {
        List<ServerFrame> all = r.frames();
        return all.subList(from, all.size()).stream()
                .filter(f -> f instanceof ServerFrame.Join || f instanceof ServerFrame.Leave)
                .toList();
    }

    private static void awaitPresent(TestGateway gw, String channel, String user, boolean present) {
        Await.until(
                user + (present ? " to be present in " : " to be gone from ") + channel,
                T,
                () -> gw.get("/api/presence?channel=" + channel, TestGateway.API_KEY)
                                .body()
                                .contains("\"" + user + "\"")
                        == present);
    }

    @Test
    @DisplayName("section 10: a joinLeave subscription tells everyone present as join (itself included), then each"
            + " change once; unsubscribing forgets the roster")
    void joinLeaveTellsEveryoneThenEachChange() {
        TestGateway gw = keep(TestGateway.start(Map.of()));
        present(gw, "u_ann", "Ann", ROOM);
        ClientRecorder r = keep(ClientRecorder.of(
                SwitchboardClientOptions.of(gw.wsUri()).withToken(Tokens.userWithInfo("u_me", Map.of("name", "Me"))),
                FAST));
        r.connect();

        ServerFrame.Ack ack = r.client().subscribe(ROOM, JOIN_LEAVE).block(T);

        assertThat(ack.channel()).isEqualTo(ROOM);
        assertThat(r.client().roster(ROOM))
                .as("read before the ack")
                .containsOnly(Map.entry("u_ann", info("Ann")), Map.entry("u_me", info("Me")));
        assertThat(presenceFrames(r, 0))
                .containsExactlyInAnyOrder(
                        new ServerFrame.Join(ROOM, "u_ann", info("Ann")),
                        new ServerFrame.Join(ROOM, "u_me", info("Me")));

        SwitchboardClient bob = present(gw, "u_bob", "Bob", ROOM);
        r.awaitFrames(ServerFrame.Join.class, j -> j.user().equals("u_bob"), 1, T);
        bob.unsubscribe(ROOM).block(T);
        r.awaitFrames(ServerFrame.Leave.class, l -> l.user().equals("u_bob"), 1, T);

        assertThat(presenceFrames(r, 0))
                .containsSubsequence(
                        new ServerFrame.Join(ROOM, "u_bob", info("Bob")), new ServerFrame.Leave(ROOM, "u_bob"));
        assertThat(r.client().roster(ROOM)).containsOnlyKeys("u_ann", "u_me");

        r.client().unsubscribe(ROOM).block(T);
        assertThat(r.client().roster(ROOM)).isNull();
        assertThat(r.client().roster("public:never")).isNull();
    }

    @Test
    @DisplayName("section 10: presence, presence.count and match.stats through the reconnecting client; a channel"
            + " it may not subscribe to is refused")
    void presenceReads() {
        TestGateway gw = keep(TestGateway.start(Map.of()));
        present(gw, "u_ann", "Ann", ROOM);
        present(gw, "u_bob", "Bob", ROOM);
        SwitchboardClient waiting = gw.connect(Tokens.user("u_wait"));
        waiting.request(id -> new ClientFrame.MatchJoin(id, List.of())).block(T);
        ClientRecorder r = keep(ClientRecorder.of(gw.wsUri(), FAST));
        r.connect();

        ServerFrame.PresenceAck read = r.client().presence(ROOM).block(T);
        Long count = r.client().presenceCount(ROOM).block(T);

        assertThat(read.count()).isEqualTo(2);
        assertThat(read.truncated()).isFalse();
        assertThat(read.users())
                .containsExactly(
                        new ServerFrame.PresentUser("u_ann", info("Ann")),
                        new ServerFrame.PresentUser("u_bob", info("Bob")));
        assertThat(count).isEqualTo(2L);
        assertThat(r.client().presenceCount("public:empty").block(T)).isZero();
        List<ServerFrame.StatsAck> stats = new ArrayList<>();
        Await.until("match.stats to count the waiting user", T, () -> {
            ServerFrame.StatsAck s = r.client().matchStats().block(T);
            stats.add(s);
            return s.waiting() == 1;
        });
        assertThat(stats.get(stats.size() - 1).online())
                .as("u_ann, u_bob, u_wait and this guest")
                .isEqualTo(4);
        assertThatThrownBy(() -> r.client().presence("room:secret").block(T))
                .isInstanceOfSatisfying(
                        SwitchboardException.class, e -> assertThat(e.code()).isEqualTo("forbidden"));
    }

    @Test
    @DisplayName("section 10: after a resumed reconnect, a user who left meanwhile is told as leave and one who joined"
            + " as join, before Recovered; unchanged users (itself included) cause nothing; live events go on")
    void resumedReconnectTellsWhatChangedWhileAway() {
        TestGateway gw = keep(TestGateway.start(Map.of()));
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));
        present(gw, "u_ann", "Ann", ROOM);
        SwitchboardClient bob = present(gw, "u_bob", "Bob", ROOM);
        ClientRecorder r = keep(ClientRecorder.of(proxy.wsUri(), FAST));
        String me = r.connect().user();
        r.client().subscribe(ROOM, JOIN_LEAVE).block(T);
        assertThat(r.client().roster(ROOM)).containsOnlyKeys("u_ann", "u_bob", me);

        proxy.refuse();
        proxy.cutAll();
        r.await(ConnectionEvent.Reconnecting.class, 1);
        int away = r.frames().size();
        bob.unsubscribe(ROOM).block(T);
        present(gw, "u_cat", "Cat", ROOM);
        proxy.accept();
        ConnectionEvent.Recovered recovered = r.await(ConnectionEvent.Recovered.class, 1);

        assertThat(recovered.resumed()).isTrue();
        assertThat(presenceFrames(r, away))
                .as("told before Recovered")
                .containsExactly(
                        new ServerFrame.Leave(ROOM, "u_bob"), new ServerFrame.Join(ROOM, "u_cat", info("Cat")));
        assertThat(r.client().roster(ROOM)).containsOnlyKeys("u_ann", "u_cat", me);

        present(gw, "u_dan", "Dan", ROOM);
        r.awaitFrames(ServerFrame.Join.class, j -> j.user().equals("u_dan"), 1, T);
        assertThat(presenceFrames(r, away))
                .as("joinLeave kept after the reconnect; nothing told twice")
                .containsExactly(
                        new ServerFrame.Leave(ROOM, "u_bob"),
                        new ServerFrame.Join(ROOM, "u_cat", info("Cat")),
                        new ServerFrame.Join(ROOM, "u_dan", info("Dan")));
    }

    @Test
    @DisplayName("section 10: after a reconnect that could not resume (grace over), the old identity and a user who"
            + " left are told as leave, the new identity (present again: the options were kept) and a user who"
            + " joined as join")
    void unresumedReconnectTellsTheNewIdentityAndWhatChanged() {
        TestGateway gw = keep(TestGateway.start(Map.of("SWITCHBOARD_RESUME_GRACE_MS", "1000")));
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));
        present(gw, "u_ann", "Ann", ROOM);
        SwitchboardClient bob = present(gw, "u_bob", "Bob", ROOM);
        ClientRecorder r = keep(ClientRecorder.of(proxy.wsUri(), FAST));
        String before = r.connect().user();
        r.client().subscribe(ROOM, JOIN_LEAVE).block(T);

        proxy.refuse();
        proxy.cutAll();
        r.await(ConnectionEvent.Reconnecting.class, 1);
        int away = r.frames().size();
        bob.unsubscribe(ROOM).block(T);
        present(gw, "u_cat", "Cat", ROOM);
        awaitPresent(gw, ROOM, before, false);
        proxy.accept();
        ConnectionEvent.Recovered recovered = r.await(ConnectionEvent.Recovered.class, 1);
        String after = r.client().welcome().user();

        assertThat(recovered.resumed()).isFalse();
        assertThat(after).isNotEqualTo(before);
        assertThat(presenceFrames(r, away))
                .containsExactlyInAnyOrder(
                        new ServerFrame.Leave(ROOM, before),
                        new ServerFrame.Leave(ROOM, "u_bob"),
                        new ServerFrame.Join(ROOM, "u_cat", info("Cat")),
                        new ServerFrame.Join(ROOM, after, "{}"));
        assertThat(r.client().roster(ROOM)).containsOnlyKeys("u_ann", "u_cat", after);
    }

    @Test
    @DisplayName("section 10: a user who resumed and then unsubscribes leaves at once (counts exact within 2 s)")
    void resumedUserWhoUnsubscribesLeavesAtOnce() {
        TestGateway gw = keep(TestGateway.start(Map.of()));
        TcpProxy proxy = keep(TcpProxy.to(gw.port()));
        ClientRecorder observer = keep(ClientRecorder.of(gw.wsUri(), FAST));
        observer.connect();
        observer.client().subscribe(ROOM, JOIN_LEAVE).block(T);
        ClientRecorder r = keep(ClientRecorder.of(
                SwitchboardClientOptions.of(proxy.wsUri()).withToken(Tokens.user("u_resumer")), FAST));
        r.connect();
        r.client().subscribe(ROOM, SubscribeOptions.DEFAULT.withPresence(true)).block(T);
        observer.awaitFrames(ServerFrame.Join.class, j -> j.user().equals("u_resumer"), 1, T);

        proxy.cutAll();
        assertThat(r.await(ConnectionEvent.Recovered.class, 1).resumed()).isTrue();
        r.client().unsubscribe(ROOM).block(T);

        observer.awaitFrames(ServerFrame.Leave.class, l -> l.user().equals("u_resumer"), 1, Duration.ofSeconds(4));
        assertThat(gw.get("/api/presence?channel=" + ROOM, TestGateway.API_KEY).body())
                .doesNotContain("u_resumer");
    }
}
