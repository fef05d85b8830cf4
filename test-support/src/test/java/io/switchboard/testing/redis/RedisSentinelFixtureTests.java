package io.switchboard.testing.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link RedisSentinel} gives tests a real sentinel through which Lettuce finds the master, and one with a replica
 * that the sentinel promotes on a planned failover or when the master is killed.
 */
class RedisSentinelFixtureTests {
    private static final Duration FAILOVER = Duration.ofSeconds(15);

    private static RedisSentinel sentinel;

    @BeforeAll
    static void startSentinel() {
        sentinel = RedisSentinel.start();
    }

    @AfterAll
    static void stopSentinel() {
        if (sentinel != null) {
            sentinel.close();
        }
    }

    @Test
    void clientThroughTheSentinelWritesToTheMaster() {
        RedisURI uri = RedisURI.create(sentinel.uri());
        uri.setTimeout(Duration.ofSeconds(5));
        RedisClient client = RedisClient.create(uri);
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            assertThat(connection.sync().set("via-sentinel", "found")).isEqualTo("OK");
            assertThat(connection.sync().get("via-sentinel")).isEqualTo("found");
        } finally {
            client.shutdown();
        }
        assertThat(sentinel.master().cli("GET", "via-sentinel")).isEqualTo("found");
    }

    @Test
    void uriNamesTheSentinelAndTheMasterSet() {
        assertThat(sentinel.uri()).isEqualTo("redis-sentinel://127.0.0.1:" + sentinel.port() + "#mymaster");
        assertThat(sentinel.port()).isNotEqualTo(sentinel.master().port());
        RedisURI parsed = RedisURI.create(sentinel.uri());
        assertThat(parsed.getSentinelMasterId()).isEqualTo(RedisSentinel.MASTER_NAME);
        assertThat(parsed.getSentinels())
                .singleElement()
                .satisfies(s -> assertThat(s.getPort()).isEqualTo(sentinel.port()));
    }

    @Test
    void withoutAReplicaThereIsNoneToFailOverTo() {
        assertThat(sentinel.currentMaster()).isSameAs(sentinel.master());
        assertThat(sentinel.sentinelPorts()).containsExactly(sentinel.port());
        assertThatThrownBy(sentinel::replica)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("has no replica");
        assertThatThrownBy(sentinel::failover)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("startWithReplica");
    }

    @Test
    void plannedFailoverPromotesTheSyncedReplicaAndClientsThroughTheSentinelFollow() {
        try (RedisSentinel replicated = RedisSentinel.startWithReplica()) {
            RedisServer first = replicated.currentMaster();
            RedisServer replica = replicated.replica();
            assertThat(first).isSameAs(replicated.master());
            assertThat(replica).isNotSameAs(first);
            assertThat(replica.cli("INFO", "replication")).contains("role:slave", "master_link_status:up");
            assertThat(replicated.sentinelPorts())
                    .containsExactly(replicated.port())
                    .doesNotContain(first.port(), replica.port());
            List<String> keys = writeReplicated(first);

            replicated.failover();
            RedisServer promoted = replicated.awaitNewMaster(first, FAILOVER);

            assertThat(promoted).isSameAs(replica);
            assertThat(replicated.currentMaster()).isSameAs(promoted);
            assertThat(replicated.replica()).isSameAs(first);
            assertThat(promoted.cli("INFO", "replication")).contains("role:master");
            keys.forEach(key -> assertThat(promoted.cli("GET", key)).isEqualTo("value-of-" + key));

            RedisURI uri = RedisURI.create(replicated.uri());
            uri.setTimeout(Duration.ofSeconds(5));
            RedisClient client = RedisClient.create(uri);
            try (StatefulRedisConnection<String, String> connection = client.connect()) {
                assertThat(connection.sync().set("after-the-failover", "on-the-new-master"))
                        .isEqualTo("OK");
            } finally {
                client.shutdown();
            }
            assertThat(promoted.cli("GET", "after-the-failover")).isEqualTo("on-the-new-master");
        }
    }

    @Test
    void killingTheMasterLeadsTheSentinelToPromoteTheReplica() {
        try (RedisSentinel replicated = RedisSentinel.startWithReplica()) {
            RedisServer first = replicated.currentMaster();
            RedisServer replica = replicated.replica();
            List<String> keys = writeReplicated(first);

            first.kill();
            RedisServer promoted = replicated.awaitNewMaster(first, FAILOVER);

            assertThat(promoted).isSameAs(replica);
            assertThat(replicated.currentMaster()).isSameAs(promoted);
            assertThat(promoted.cli("INFO", "replication")).contains("role:master");
            keys.forEach(key -> assertThat(promoted.cli("GET", key)).isEqualTo("value-of-" + key));
        }
    }

    /** Writes keys to {@code master} and waits until its replica acknowledged them ({@code WAIT 1 1000}). */
    private static List<String> writeReplicated(RedisServer master) {
        List<String> keys =
                IntStream.range(0, 20).mapToObj(i -> "before-the-failover-" + i).toList();
        RedisClient client = RedisClient.create(RedisURI.create(master.uri()));
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            RedisCommands<String, String> commands = connection.sync();
            keys.forEach(key -> commands.set(key, "value-of-" + key));
            assertThat(commands.waitForReplication(1, 1000))
                    .as("replicas that acknowledged the keys")
                    .isEqualTo(1);
        } finally {
            client.shutdown();
        }
        return keys;
    }
}
