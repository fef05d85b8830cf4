package io.switchboard.gateway.presence;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.switchboard.gateway.cluster.RedisConnections;
import io.switchboard.gateway.cluster.RedisPresence;
import io.switchboard.gateway.config.RedisConfig;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisExtension;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The presence contract on the cluster mode's store, on a real redis-server; then what only an instance that
 * shares Redis with others meets: a dead instance's holders removed by another's tick, and a Redis that lost its
 * data.
 */
class RedisPresenceIntegrationTests extends PresenceStoreContract {
    /** Short, so that an instance that stops ticking is dead soon. */
    private static final long LEASE_MS = 500;

    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    private final List<RedisConnections> connections = new ArrayList<>();
    private final List<PresenceStore> others = new ArrayList<>();

    @Override
    PresenceStore newStore() {
        return store("gw-a");
    }

    private RedisPresence store(String node) {
        RedisConnections c = new RedisConnections(
                new RedisConfig(redis.server().uri(), null, 2_000, LEASE_MS), new SimpleMeterRegistry());
        connections.add(c);
        Await.until("Redis up", T, c::isUp);
        return new RedisPresence(c, node, LEASE_MS, EVENTS_MAX);
    }

    @AfterEach
    void closeConnections() {
        others.forEach(PresenceStore::close);
        connections.forEach(RedisConnections::close);
    }

    @Test
    @DisplayName("section 10: a dead instance's users leave once its lease ran out, removed by another instance's"
            + " tick; a user it shared with a live instance stays")
    void deadInstanceHoldersAreRemoved() {
        RedisPresence dead = store("gw-dead");
        others.add(dead);
        dead.tick(1, 2).block(T);
        dead.add("public:lobby", "u_gone", "d1", "{}").block(T);
        dead.add("public:lobby", "u_both", "d2", "{}").block(T);
        store.add("public:lobby", "u_both", "a1", "{}").block(T);
        awaitQuiet();
        events.clear();
        assertThat(store.tick(0, 1).block(T).online())
                .as("both instances' figures")
                .isEqualTo(1);

        // gw-dead ticks no more: after its lease, a tick of gw-a removes its holders
        Await.until("gw-dead's holders removed", T, () -> {
            store.tick(0, 1).block(T);
            return store.count("public:lobby").block(T) == 1;
        });

        awaitQuiet();
        assertThat(events).containsExactly(new ServerFrame.Leave("public:lobby", "u_gone"));
        assertThat(store.list("public:lobby", 10).block(T).users())
                .extracting(ServerFrame.PresentUser::user)
                .containsExactly("u_both");
        assertThat(store.tick(0, 1).block(T).online())
                .as("gw-dead's figures gone")
                .isZero();
        assertThat(redis.server().cli("EXISTS", "sb:pi:{gw-dead#1}").trim()).isEqualTo("0");
    }

    @Test
    @DisplayName("after Redis lost its data, the next tick says so, and a rebuild makes every user present again")
    void dataLossIsToldAndRebuilt() {
        store.add("public:lobby", "u_ann", "a1", "{}").block(T);
        assertThat(store.tick(1, 1).block(T).lost()).isFalse();

        redis.server().cli("FLUSHALL");
        assertThat(store.count("public:lobby").block(T)).isZero();
        PresenceStore.Figures f = store.tick(1, 1).block(T);

        assertThat(f.lost()).isTrue();
        store.rebuild(List.of(new PresenceStore.Holder("public:lobby", "u_ann", "a1", "{}")))
                .block(T);
        assertThat(store.count("public:lobby").block(T)).isEqualTo(1);
        assertThat(store.tick(1, 1).block(T).lost()).as("known again").isFalse();
    }

    @Test
    @DisplayName("an instance away longer than its lease comes back as a new incarnation: its holders, written again,"
            + " survive the removal of its old ones")
    void holdersWrittenAgainSurviveTheRemovalOfTheOldIncarnation() {
        RedisPresence other = store("gw-b");
        others.add(other);
        store.add("public:lobby", "u_ann", "a1", "{}").block(T);
        // gw-a stops ticking; gw-b sees it dead and removes its holders
        Await.until("gw-a's holders removed", T, () -> {
            other.tick(0, 0).block(T);
            return store.count("public:lobby").block(T) == 0;
        });
        PresenceStore.Figures back = store.tick(1, 1).block(T);
        assertThat(back.lost()).as("gw-a learns it was removed").isTrue();

        store.rebuild(List.of(new PresenceStore.Holder("public:lobby", "u_ann", "a1", "{}")))
                .block(T);
        other.tick(0, 0).block(T);
        other.tick(0, 0).block(T);

        assertThat(store.count("public:lobby").block(T)).isEqualTo(1);
    }

    @Test
    @DisplayName("an instance that dies before its first tick still had a lease: its holders are removed")
    void holdersWrittenBeforeAnyTickAreRemovedWhenTheInstanceDies() {
        RedisPresence early = store("gw-early");
        others.add(early);
        early.add("public:lobby", "u_early", "e1", "{}").block(T);
        assertThat(store.count("public:lobby").block(T)).isEqualTo(1);

        Await.until("gw-early's holder removed", T, () -> {
            store.tick(0, 0).block(T);
            return store.count("public:lobby").block(T) == 0;
        });
    }

    @Test
    @DisplayName("a data loss before an instance's first tick is told by that tick")
    void dataLossBeforeTheFirstTickIsTold() {
        RedisPresence early = store("gw-early");
        others.add(early);
        early.add("public:lobby", "u_early", "e1", "{}").block(T);

        redis.server().cli("FLUSHALL");

        assertThat(early.tick(1, 1).block(T).lost()).isTrue();
    }

    @Test
    @DisplayName("what a channel's presence holds in Redis is gone with its last user (no key of it is left), and"
            + " from the instance's index once the dropped connection's grace has ended")
    void aChannelLeavesNothingBehind() {
        store.add("public:gone", "u_ann", "a1", "{\"name\":\"Ann\"}").block(T);
        store.add("public:gone", "u_ann", "a2", "{}").block(T);
        store.linger("public:gone", "u_ann", "a1").block(T);
        store.add("public:gone", "u_bob", "b1", "{}").block(T);
        assertThat(redis.server().cli("KEYS", "sb:{public:gone}:*")).isNotBlank();

        store.remove("public:gone", "u_ann", "a2").block(T);
        store.remove("public:gone", "u_bob", "b1").block(T);

        assertThat(redis.server().cli("KEYS", "sb:{public:gone}:*")).isBlank();
        assertThat(store.count("public:gone").block(T)).isZero();
        // the dropped connection's entry in the instance's index goes when its grace ends (the service removes it)
        assertThat(store.remove("public:gone", "u_ann", "a1").block(T))
                .as("no leave again")
                .isFalse();
        assertThat(redis.server().cli("SMEMBERS", "sb:pi:{gw-a#1}")).doesNotContain("public:gone");
    }
}
