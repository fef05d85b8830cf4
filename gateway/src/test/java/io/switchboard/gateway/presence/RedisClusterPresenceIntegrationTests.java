package io.switchboard.gateway.presence;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.switchboard.gateway.cluster.RedisConnections;
import io.switchboard.gateway.cluster.RedisPresence;
import io.switchboard.gateway.config.RedisConfig;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisCluster;
import io.switchboard.testing.redis.RedisServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;

/**
 * The presence contract on a Redis Cluster of three masters: a channel's keys share its slot, an instance's index
 * and the leases have slots of their own, and the scripts' joins and leaves reach every instance.
 */
class RedisClusterPresenceIntegrationTests extends PresenceStoreContract {
    private static RedisCluster cluster;
    private RedisConnections connections;

    @BeforeAll
    static void startCluster() {
        cluster = RedisCluster.start(3);
    }

    @AfterAll
    static void stopCluster() {
        cluster.close();
    }

    @Override
    PresenceStore newStore() {
        for (RedisServer node : cluster.nodes()) {
            node.cli("FLUSHALL");
        }
        connections =
                new RedisConnections(new RedisConfig(cluster.uri(), null, 2_000, 10_000), new SimpleMeterRegistry());
        Await.until("Redis Cluster up", T, connections::isUp);
        return new RedisPresence(connections, "gw-a", 10_000, EVENTS_MAX);
    }

    @AfterEach
    void closeConnections() {
        connections.close();
    }
}
