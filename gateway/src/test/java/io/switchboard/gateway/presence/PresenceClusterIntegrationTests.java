package io.switchboard.gateway.presence;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.GatewayProcess;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardException;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import reactor.core.publisher.Flux;

/**
 * Presence across instances through a real redis-server (docs/protocol.md section 10): join and leave on every
 * instance, exact counts everywhere, a resume on another instance that causes no leave, a killed instance whose
 * users leave within the node lease plus 2 s, and Redis restarted empty with the state rebuilt from the live
 * connections.
 */
class PresenceClusterIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private static final String LOBBY = "public:lobby";
    private static final long LEASE_MS = 3_000;

    @RegisterExtension
    final Closing owned = new Closing();

    private RedisServer redis;

    private RedisServer redis() {
        if (redis == null) {
            redis = owned.keep(RedisServer.start());
        }
        return redis;
    }

    private static Map<String, String> env(Map<String, String> extra) {
        Map<String, String> env = new HashMap<>(extra);
        env.putIfAbsent("SWITCHBOARD_NODE_LEASE_MS", String.valueOf(LEASE_MS));
        env.putIfAbsent("SWITCHBOARD_RATE", "100000");
        env.putIfAbsent("SWITCHBOARD_BURST", "100000");
        return env;
    }

    private TestGateway instance(String node, Map<String, String> extra) {
        return owned.keep(TestGateway.startClustered(redis().uri(), node, env(extra)));
    }

    private static List<ServerFrame> joinsAndLeaves(SwitchboardClient c) {
        List<ServerFrame> out = new CopyOnWriteArrayList<>();
        c.events()
                .filter(f -> f instanceof ServerFrame.Join || f instanceof ServerFrame.Leave)
                .subscribe(out::add);
        return out;
    }

    private static void awaitCount(String what, SwitchboardClient c, long count) {
        Await.until(what, T, () -> answers(() -> c.presenceCount(LOBBY).block(T) == count));
    }

    /**
     * {@code check}'s answer, or false while it is refused as {@code unavailable}: an instance that has just
     * started, or Redis coming back.
     */
    private static boolean answers(BooleanSupplier check) {
        try {
            return check.getAsBoolean();
        } catch (SwitchboardException e) {
            if (!e.code().equals(ErrorCodes.UNAVAILABLE)) {
                throw e;
            }
            return false;
        }
    }

    @Test
    @DisplayName("section 10: two instances: a join and a leave on one reach the other; counts agree on both")
    void joinAndLeaveAcrossTwoInstances() {
        TestGateway a = instance("gw-a", Map.of());
        TestGateway b = instance("gw-b", Map.of());
        SwitchboardClient watcher = a.connect(Tokens.user("u_watch"));
        List<ServerFrame> seen = joinsAndLeaves(watcher);
        watcher.subscribe(LOBBY, null, true, true).block(T);
        SwitchboardClient ann = b.connect(Tokens.user("u_ann"));

        ann.subscribe(LOBBY, null, true, false).block(T);

        Await.until("ann's join on gw-a", T, () -> seen.contains(new ServerFrame.Join(LOBBY, "u_ann", "{}")));
        assertThat(watcher.presenceCount(LOBBY).block(T)).isEqualTo(2);
        assertThat(ann.presenceCount(LOBBY).block(T)).isEqualTo(2);
        assertThat(ann.presence(LOBBY).block(T).users())
                .extracting(ServerFrame.PresentUser::user)
                .containsExactly("u_ann", "u_watch");
        Await.until(
                "both instances' users online on either",
                T,
                () -> answers(() -> ann.matchStats().block(T).online() == 2
                        && watcher.matchStats().block(T).online() == 2));

        ann.unsubscribe(LOBBY).block(T);
        Await.until("ann's leave on gw-a", T, () -> seen.contains(new ServerFrame.Leave(LOBBY, "u_ann")));
        assertThat(ann.presenceCount(LOBBY).block(T)).isEqualTo(1);
    }

    /** Two instances; {@code u_bob} present on gw-a drops and resumes on gw-b, subscribing there again. */
    private record Resumed(
            TestGateway a, TestGateway b, SwitchboardClient watcher, List<ServerFrame> seen, SwitchboardClient bob) {}

    private Resumed bobResumesOnAnotherInstance(long graceMs) {
        Map<String, String> grace = Map.of("SWITCHBOARD_RESUME_GRACE_MS", String.valueOf(graceMs));
        TestGateway a = instance("gw-a", grace);
        TestGateway b = instance("gw-b", grace);
        SwitchboardClient watcher = b.connect(Tokens.user("u_watch"));
        List<ServerFrame> seen = joinsAndLeaves(watcher);
        watcher.subscribe(LOBBY, null, false, true).block(T);
        SwitchboardClient bob = a.connect(Tokens.user("u_bob"));
        ServerFrame.Welcome first = bob.welcome();
        bob.subscribe(LOBBY, null, true, false).block(T);
        Await.until("bob's join", T, () -> seen.size() == 1);

        bob.abort();
        SwitchboardClient again = b.open();
        ServerFrame.Welcome resumed = again.hello(
                        new ClientFrame.Hello(1, Tokens.user("u_bob"), first.resume(), null, "test"))
                .block(T);
        assertThat(resumed.resumed()).isTrue();
        again.subscribe(LOBBY, null, true, false).block(T);
        return new Resumed(a, b, watcher, seen, again);
    }

    @Test
    @DisplayName("section 10: a user that drops on one instance and resumes on another within the grace never leaves,"
            + " not even when the first instance's grace for it runs out")
    void resumeOnAnotherInstanceDoesNotLeave() {
        Resumed r = bobResumesOnAnotherInstance(1_500);

        Await.until(
                "gw-a to let go of bob's dropped connection after its grace",
                T,
                () -> r.a().gateway().presence().holders() == 0);
        SwitchboardClient marker = r.b().connect(Tokens.user("u_marker"));
        marker.subscribe(LOBBY, null, true, false).block(T);
        Await.until("the marker's join", T, () -> r.seen().size() >= 2);

        assertThat(r.seen())
                .containsExactly(
                        new ServerFrame.Join(LOBBY, "u_bob", "{}"), new ServerFrame.Join(LOBBY, "u_marker", "{}"));
        assertThat(r.watcher().presenceCount(LOBBY).block(T)).isEqualTo(2);
    }

    @Test
    @DisplayName("section 10: three instances, one killed: its users leave everywhere within the node lease plus 2 s;"
            + " the others' users stay")
    void killedInstanceUsersLeaveWithinTheLease() throws Exception {
        TestGateway a = instance("gw-a", Map.of());
        TestGateway b = instance("gw-b", Map.of());
        GatewayProcess doomed = owned.keep(GatewayProcess.start(redis().uri(), "gw-doomed", env(Map.of())));
        SwitchboardClient watchA = a.connect(Tokens.user("u_watch_a"));
        List<ServerFrame> seenA = joinsAndLeaves(watchA);
        watchA.subscribe(LOBBY, null, true, true).block(T);
        SwitchboardClient watchB = b.connect(Tokens.user("u_watch_b"));
        List<ServerFrame> seenB = joinsAndLeaves(watchB);
        watchB.subscribe(LOBBY, null, true, true).block(T);
        for (String user : List.of("u_doomed1", "u_doomed2")) {
            SwitchboardClient c = owned.keep(SwitchboardClient.connect(
                            a.options().withToken(Tokens.user(user)).withUri(doomed.wsUri()))
                    .block(T));
            Await.until(
                    "gw-doomed serving",
                    T,
                    () -> answers(() -> {
                        c.subscribe(LOBBY, null, true, false).block(T);
                        return true;
                    }));
        }
        awaitCount("4 present", watchA, 4);

        doomed.kill();
        long killed = System.nanoTime();
        for (List<ServerFrame> seen : List.of(seenA, seenB)) {
            Await.until(
                    "both doomed users' leaves",
                    Duration.ofMillis(LEASE_MS + 2_000 + 2_000),
                    () -> seen.contains(new ServerFrame.Leave(LOBBY, "u_doomed1"))
                            && seen.contains(new ServerFrame.Leave(LOBBY, "u_doomed2")));
        }

        assertThat(Duration.ofNanos(System.nanoTime() - killed))
                .as("within the node lease plus 2 s")
                .isLessThan(Duration.ofMillis(LEASE_MS + 2_000));
        assertThat(watchA.presence(LOBBY).block(T).users())
                .extracting(ServerFrame.PresentUser::user)
                .containsExactly("u_watch_a", "u_watch_b");
        assertThat(watchB.presenceCount(LOBBY).block(T)).isEqualTo(2);
    }

    @Test
    @DisplayName("section 10: Redis down: presence answers unavailable, match.stats too once its figures are 2 s old;"
            + " Redis restarted empty: the state is rebuilt from the live connections, no ghost and nobody missing")
    void redisRestartedEmptyIsRebuilt() {
        TestGateway a = instance("gw-a", Map.of());
        TestGateway b = instance("gw-b", Map.of());
        SwitchboardClient ann = a.connect(Tokens.user("u_ann"));
        ann.subscribe(LOBBY, null, true, false).block(T);
        SwitchboardClient bob = b.connect(Tokens.user("u_bob"));
        bob.subscribe(LOBBY, null, true, false).block(T);
        SwitchboardClient ghost = b.connect(Tokens.user("u_ghost"));
        ghost.subscribe(LOBBY, null, true, false).block(T);
        awaitCount("3 present", ann, 3);
        Await.until(
                "the figures read on both",
                T,
                () -> answers(() -> ann.matchStats().block(T).online() == 3
                        && bob.matchStats().block(T).online() == 3));

        redis().kill();
        assertThatThrownBy(() -> ann.presence(LOBBY).block(T))
                .isInstanceOf(SwitchboardException.class)
                .hasFieldOrPropertyWithValue("code", ErrorCodes.UNAVAILABLE);
        Await.until(
                "match.stats unavailable",
                T,
                () -> !answers(() -> bob.matchStats().block(T) != null));
        // u_ghost leaves while Redis is away: the store cannot be told now
        ghost.close(1000, "bye").block(T);
        redis().restart();

        Await.until("the lobby rebuilt: ann and bob, not the ghost", T, () -> {
            try {
                return ann.presence(LOBBY).block(T).users().stream()
                        .map(ServerFrame.PresentUser::user)
                        .toList()
                        .equals(List.of("u_ann", "u_bob"));
            } catch (SwitchboardException e) {
                return false;
            }
        });
        Await.until("counts exact on both", T, () -> {
            try {
                return ann.presenceCount(LOBBY).block(T) == 2
                        && bob.presenceCount(LOBBY).block(T) == 2;
            } catch (SwitchboardException e) {
                return false;
            }
        });
        assertThat(a.gateway()
                        .metrics()
                        .registry()
                        .get("switchboard.presence.rebuilds")
                        .counter()
                        .count())
                .isPositive();
    }

    @Test
    @DisplayName("section 10: connections that close while their presence subscribe is in flight leave no ghost")
    void closeDuringTheSubscribeLeavesNoGhost() {
        TestGateway a = instance("gw-a", Map.of());
        TestGateway b = instance("gw-b", Map.of());
        SwitchboardClient watcher = b.connect(Tokens.user("u_watch"));
        for (int i = 0; i < 30; i++) {
            SwitchboardClient c = a.connect(Tokens.user("u_" + i));
            c.sendFrame(new ClientFrame.Subscribe(1L, LOBBY, null, true, false));
            c.close(1000, "bye").block(T);
        }
        SwitchboardClient marker = a.connect(Tokens.user("u_marker"));
        marker.subscribe(LOBBY, null, true, false).block(T);

        Await.until(
                "nobody but the marker, and nothing held for the closed ones",
                T,
                () -> answers(() -> watcher.presenceCount(LOBBY).block(T) == 1
                        && a.gateway().presence().holders() == 1));
        assertThat(watcher.presence(LOBBY).block(T).users())
                .extracting(ServerFrame.PresentUser::user)
                .containsExactly("u_marker");
    }

    @Test
    @DisplayName("section 10: a user resumed on another instance that unsubscribes leaves at once, not when the first"
            + " instance's grace for its dropped connection runs out")
    void resumedElsewhereThenUnsubscribedLeavesAtOnce() {
        Resumed r = bobResumesOnAnotherInstance(60_000);

        r.bob().unsubscribe(LOBBY).block(T);

        Await.until(
                "bob's leave, well within the 60 s grace",
                T,
                () -> r.seen().contains(new ServerFrame.Leave(LOBBY, "u_bob")));
        assertThat(r.seen())
                .containsExactly(new ServerFrame.Join(LOBBY, "u_bob", "{}"), new ServerFrame.Leave(LOBBY, "u_bob"));
        assertThat(r.watcher().presenceCount(LOBBY).block(T)).isZero();
    }

    @Test
    @DisplayName("section 10: many users dropped at once, resumed on the other instance and closed normally: all leave"
            + " at once, whatever order their drops and resumes reached Redis in")
    void stormOfResumesThenCloses() {
        TestGateway a = instance("gw-a", Map.of("SWITCHBOARD_RESUME_GRACE_MS", "60000"));
        TestGateway b = instance("gw-b", Map.of("SWITCHBOARD_RESUME_GRACE_MS", "60000"));
        SwitchboardClient watcher = b.connect(Tokens.user("u_watch"));
        int n = 200;
        List<TestGateway> first = new ArrayList<>();
        List<SwitchboardClient> users = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            TestGateway gw = i % 2 == 0 ? a : b;
            SwitchboardClient c = gw.connect();
            c.subscribe(LOBBY, null, true, false).block(T);
            first.add(gw);
            users.add(c);
        }
        awaitCount("all present", watcher, n);

        users.forEach(SwitchboardClient::abort);
        List<SwitchboardClient> resumed = Flux.range(0, n)
                .flatMap(
                        i -> {
                            TestGateway other = first.get(i) == a ? b : a;
                            return SwitchboardClient.open(other.options())
                                    .delayElement(Duration.ofMillis(i % 7))
                                    .flatMap(again -> again.hello(new ClientFrame.Hello(
                                                    1,
                                                    null,
                                                    users.get(i).welcome().resume(),
                                                    null,
                                                    "test"))
                                            .then(again.subscribe(LOBBY, null, true, false))
                                            .thenReturn(again));
                        },
                        64)
                .collectList()
                .block(T.multipliedBy(3));
        awaitCount("all present after the resumes", watcher, n);
        Flux.fromIterable(resumed).flatMap(c -> c.close(1000, "bye"), 64).blockLast(T);

        awaitCount("nobody left", watcher, 0);
    }
}
