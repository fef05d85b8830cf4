package io.switchboard.testing.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.api.sync.RedisAdvancedClusterCommands;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link RedisCluster} gives tests a real, healthy cluster that Lettuce's cluster client routes over, and one with
 * replicas that fails over when a master is killed.
 */
class RedisClusterFixtureTests {
    private static final String SCHEME = "redis-cluster://";
    private static final Duration FAILOVER = Duration.ofSeconds(15);

    private static RedisCluster cluster;

    @BeforeAll
    static void startCluster() {
        cluster = RedisCluster.start(3);
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void clusterClientSetsAndGetsKeysSpreadOverEveryMaster() {
        List<String> keys = IntStream.range(0, 100).mapToObj(i -> "key-" + i).toList();
        assertThat(keys.stream().map(SlotHash::getSlot).distinct().count()).isEqualTo(100);

        RedisClusterClient client = RedisClusterClient.create(seeds(cluster.uri()));
        try (StatefulRedisClusterConnection<String, String> connection = client.connect()) {
            RedisAdvancedClusterCommands<String, String> commands = connection.sync();
            keys.forEach(key -> assertThat(commands.set(key, "value-of-" + key)).isEqualTo("OK"));
            keys.forEach(key -> assertThat(commands.get(key)).isEqualTo("value-of-" + key));
        } finally {
            client.shutdown();
        }

        List<Integer> keysPerNode = cluster.nodes().stream()
                .map(n -> Integer.parseInt(n.cli("DBSIZE")))
                .toList();
        assertThat(keysPerNode).hasSize(3).allSatisfy(count -> assertThat(count).isPositive());
        assertThat(keysPerNode.stream().mapToInt(Integer::intValue).sum()).isEqualTo(100);
    }

    @Test
    void uriIsTheGatewaySeedListOfEveryNode() {
        List<Integer> ports = cluster.ports();
        assertThat(ports).hasSize(3).doesNotHaveDuplicates();
        assertThat(cluster.uri())
                .isEqualTo(SCHEME + "127.0.0.1:" + ports.get(0) + ",127.0.0.1:" + ports.get(1) + ",127.0.0.1:"
                        + ports.get(2));
    }

    @Test
    void everyNodeReportsTheClusterHealthy() {
        for (RedisServer node : cluster.nodes()) {
            assertThat(node.cli("CLUSTER", "INFO"))
                    .contains("cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:3");
        }
    }

    @Test
    void fewerThanThreeMastersIsRejectedWithTheReason() {
        assertThatThrownBy(() -> RedisCluster.start(2))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("masters is 2, expected at least 3");
    }

    @Test
    void slotIsTheOneRedisComputesHashTagsIncluded() {
        RedisServer node = cluster.nodes().get(0);
        for (String key : List.of(
                "key-1",
                "",
                "{user1000}.following",
                "{user1000}.followers",
                "foo{}{bar}",
                "foo{{bar}}zap",
                "foo{bar}{zap}",
                "{}",
                "}{",
                "ключ-é",
                "{tag")) {
            assertThat(RedisCluster.slot(key))
                    .as("slot of '%s'", key)
                    .isEqualTo(Integer.parseInt(node.cli("CLUSTER", "KEYSLOT", key)));
        }
        assertThat(RedisCluster.slot("{user1000}.following")).isEqualTo(RedisCluster.slot("{user1000}.followers"));
    }

    @Test
    void mastersServeTheSlotsAndKeysTheClusterAssignsThem() {
        List<RedisServer> masters = cluster.masters();
        assertThat(masters).containsExactlyInAnyOrderElementsOf(cluster.nodes());
        assertThat(cluster.replicas()).isEmpty();
        assertThat(masters.stream().map(cluster::slotRanges).toList())
                .containsExactly("0-5460", "5461-10922", "10923-16383");
        assertThat(cluster.masterForSlot(0)).isSameAs(masters.get(0));
        assertThat(cluster.masterForSlot(5461)).isSameAs(masters.get(1));
        assertThat(cluster.masterForSlot(16383)).isSameAs(masters.get(2));
        for (String key : List.of("owned-a", "owned-b", "{owned}-c")) {
            // The owner answers (nil), which redis-cli prints as nothing; any other node would answer MOVED.
            assertThat(cluster.masterForKey(key).cli("GET", key))
                    .as("GET %s on its master", key)
                    .isEmpty();
        }
        assertThatThrownBy(() -> cluster.masterForSlot(16384))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("slot is 16384, expected 0 to 16383");
    }

    @Test
    void killedMasterIsReplacedByItsReplicaWithTheReplicatedKeysAndRejoinsAsAReplicaOnRestart() {
        try (RedisCluster replicated = RedisCluster.start(3, 1)) {
            assertThat(replicated.nodes()).hasSize(6);
            List<RedisServer> replicasBefore = replicated.replicas();
            assertThat(replicated.masters()).hasSize(3).doesNotContainAnyElementsOf(replicasBefore);
            assertThat(replicasBefore).hasSize(3);
            for (RedisServer replica : replicasBefore) {
                assertThat(replica.cli("INFO", "replication")).contains("role:slave", "master_link_status:up");
            }

            RedisServer victim = replicated.masterForSlot(0);
            String ranges = replicated.slotRanges(victim);
            assertThat(ranges).matches("0-\\d+");
            int lastSlot = Integer.parseInt(ranges.substring(2));
            List<String> keys = IntStream.range(0, 200)
                    .mapToObj(i -> "before-the-kill-" + i)
                    .filter(key -> RedisCluster.slot(key) <= lastSlot)
                    .toList();
            assertThat(keys).hasSizeGreaterThan(20);
            RedisClient client = RedisClient.create(RedisURI.create(victim.uri()));
            try (StatefulRedisConnection<String, String> connection = client.connect()) {
                RedisCommands<String, String> commands = connection.sync();
                keys.forEach(key -> commands.set(key, "value-of-" + key));
                assertThat(commands.waitForReplication(1, 1000))
                        .as("replicas that acknowledged the keys")
                        .isEqualTo(1);
            } finally {
                client.shutdown();
            }

            assertThat(replicated.killMaster(victim)).isSameAs(victim);
            assertThat(victim.isRunning()).isFalse();
            RedisServer promoted = replicated.awaitPromotion(victim, FAILOVER);

            assertThat(replicasBefore).contains(promoted);
            assertThat(replicated.masterForSlot(0)).isSameAs(promoted);
            assertThat(replicated.slotRanges(promoted)).isEqualTo(ranges);
            assertThat(replicated.masters()).hasSize(3).contains(promoted).doesNotContain(victim);
            assertThat(replicated.replicas()).hasSize(2).doesNotContain(promoted, victim);
            assertThat(promoted.cli("INFO", "replication")).contains("role:master");
            keys.forEach(key -> assertThat(promoted.cli("GET", key)).isEqualTo("value-of-" + key));
            assertThat(replicated.masterForKey(keys.get(0))).isSameAs(promoted);

            victim.restart();
            assertThat(replicated.awaitRejoined(victim, FAILOVER)).isSameAs(promoted);
            assertThat(replicated.replicas()).hasSize(3).contains(victim);
            assertThat(replicated.masters()).hasSize(3).contains(promoted).doesNotContain(victim);
            assertThat(victim.cli("INFO", "replication")).contains("role:slave", "master_link_status:up");
            assertThat(victim.cli("DBSIZE"))
                    .as("keys the rejoined node synced from its new master")
                    .isEqualTo(Integer.toString(keys.size()));
            assertThatThrownBy(() -> replicated.slotRanges(victim))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("serves no slots");
        }
    }

    @Test
    void awaitPromotionNeedsAMasterKilledByKillMaster() {
        RedisServer master = cluster.masters().get(0);
        assertThatThrownBy(() -> cluster.awaitPromotion(master, Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("was not killed by killMaster");
    }

    /** Turns the gateway's seed list into the URIs Lettuce's cluster client takes. */
    private static List<RedisURI> seeds(String clusterUri) {
        assertThat(clusterUri).startsWith(SCHEME);
        return Arrays.stream(clusterUri.substring(SCHEME.length()).split(","))
                .map(hostAndPort -> {
                    RedisURI uri = RedisURI.create("redis://" + hostAndPort);
                    uri.setTimeout(Duration.ofSeconds(5));
                    return uri;
                })
                .toList();
    }
}
