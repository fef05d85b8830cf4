package io.switchboard.testing.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lettuce.core.RedisURI;
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

/** {@link RedisCluster} gives tests a real, healthy cluster that Lettuce's cluster client routes over. */
class RedisClusterFixtureTests {
    private static final String SCHEME = "redis-cluster://";

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

        List<Integer> keysPerNode = cluster.nodes().stream().map(n -> Integer.parseInt(n.cli("DBSIZE"))).toList();
        assertThat(keysPerNode).hasSize(3).allSatisfy(count -> assertThat(count).isPositive());
        assertThat(keysPerNode.stream().mapToInt(Integer::intValue).sum()).isEqualTo(100);
    }

    @Test
    void uriIsTheGatewaySeedListOfEveryNode() {
        List<Integer> ports = cluster.ports();
        assertThat(ports).hasSize(3).doesNotHaveDuplicates();
        assertThat(cluster.uri()).isEqualTo(SCHEME + "127.0.0.1:" + ports.get(0) + ",127.0.0.1:" + ports.get(1)
                + ",127.0.0.1:" + ports.get(2));
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
