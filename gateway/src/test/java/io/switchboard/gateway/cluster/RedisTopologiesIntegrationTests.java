package io.switchboard.gateway.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisCluster;
import io.switchboard.testing.redis.RedisSentinel;
import io.switchboard.testing.redis.RedisServer;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The gateway against Redis with TLS, through Sentinel, and against a Redis Cluster (issue 3). */
class RedisTopologiesIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;

    @RegisterExtension
    final Closing owned = new Closing();

    private TestGateway instance(String url, String node, Map<String, String> extra) {
        Map<String, String> env = new HashMap<>(extra);
        env.put("REDIS_URL", url);
        env.put("SWITCHBOARD_NODE_ID", node);
        TestGateway gw = TestGateway.start(env);
        owned.keep(gw);
        return gw;
    }

    private static JsonNode health(TestGateway gw) {
        return gw.health();
    }

    private static void awaitUp(TestGateway gw) {
        Await.until("Redis UP", T, () -> health(gw).path("status").asText().equals("UP"));
    }

    /** Two instances: a subscriber on one gets what a publisher on the other sends, and recovery works. */
    private static void assertActsAsOne(TestGateway a, TestGateway b, String channel) {
        SwitchboardClient sub = b.connect();
        EventRecorder events = EventRecorder.of(sub);
        sub.subscribe(channel).block(T);
        SwitchboardClient pub = a.connect();
        String epoch = null;
        for (int i = 1; i <= 3; i++) {
            epoch = pub.publish(channel, String.valueOf(i)).block(T).epoch();
        }
        assertThat(events.next(ServerFrame.Message.class, 3))
                .extracting(ServerFrame.Message::offset)
                .containsExactly(1L, 2L, 3L);
        ServerFrame.Ack rec =
                a.connect().subscribe(channel, new StreamPosition(1, epoch)).block(T);
        assertThat(rec.recovered()).isTrue();
    }

    @Test
    @DisplayName("rediss:// with SWITCHBOARD_REDIS_CA: the cluster mode works over TLS with a private CA")
    void tls() {
        RedisServer redis = RedisServer.startTls();
        owned.keep(redis);
        Map<String, String> env =
                Map.of("SWITCHBOARD_REDIS_CA", redis.caCertificate().toString());
        TestGateway a = instance(redis.uri(), "gw-a", env);
        TestGateway b = instance(redis.uri(), "gw-b", env);
        awaitUp(a);
        awaitUp(b);
        assertActsAsOne(a, b, "public:tls");
    }

    @Test
    @DisplayName("rediss:// against a server without TLS: DEGRADED, and the cause says the TLS handshake failed")
    void tlsAgainstPlainServer() {
        RedisServer redis = RedisServer.start();
        owned.keep(redis);
        TestGateway gw = instance(redis.uri().replace("redis://", "rediss://"), "gw-a", Map.of());
        Await.until(
                "DEGRADED naming TLS",
                T,
                () -> health(gw)
                        .path("dependencies")
                        .path("redis")
                        .path("detail")
                        .asText()
                        .contains("TLS"));
        assertThat(health(gw).path("status").asText()).isEqualTo("DEGRADED");
    }

    @Test
    @DisplayName("redis:// against a TLS-only server: DEGRADED, and the cause suggests rediss://")
    void plainAgainstTlsServer() {
        RedisServer redis = RedisServer.startTls();
        owned.keep(redis);
        TestGateway gw = instance(redis.uri().replace("rediss://", "redis://"), "gw-a", Map.of());
        Await.until(
                "DEGRADED suggesting rediss",
                T,
                () -> health(gw)
                        .path("dependencies")
                        .path("redis")
                        .path("detail")
                        .asText()
                        .contains("rediss://"));
        assertThat(health(gw).path("status").asText()).isEqualTo("DEGRADED");
    }

    @Test
    @DisplayName("a password Redis refuses: DEGRADED, and the cause says authentication failed")
    void authenticationFailed() {
        RedisServer redis = RedisServer.start();
        owned.keep(redis);
        redis.cli("CONFIG", "SET", "requirepass", "right-password");
        TestGateway gw = instance(redis.uri().replace("redis://", "redis://:wrong-password@"), "gw-a", Map.of());
        Await.until(
                "DEGRADED naming authentication",
                T,
                () -> health(gw)
                        .path("dependencies")
                        .path("redis")
                        .path("detail")
                        .asText()
                        .contains("authentication failed"));
        assertThat(health(gw).toString()).doesNotContain("wrong-password");
    }

    @Test
    @DisplayName("a DNS name that does not resolve: DEGRADED, and the cause says so, naming the host")
    void unknownHost() {
        TestGateway gw = instance("redis://no-such-host.invalid:6379", "gw-a", Map.of());
        Await.until(
                "DEGRADED naming DNS",
                T,
                () -> health(gw)
                        .path("dependencies")
                        .path("redis")
                        .path("detail")
                        .asText()
                        .contains("DNS name not found"));
        assertThat(health(gw).path("dependencies").path("redis").path("detail").asText())
                .contains("no-such-host.invalid");
    }

    @Test
    @DisplayName("a redis-cluster:// seed whose DNS name does not resolve: DEGRADED, and the cause says so, naming"
            + " the host")
    void unknownClusterHost() {
        TestGateway gw = instance("redis-cluster://no-such-host.invalid:7000", "gw-a", Map.of());
        Await.until(
                "DEGRADED naming DNS",
                T,
                () -> health(gw)
                        .path("dependencies")
                        .path("redis")
                        .path("detail")
                        .asText()
                        .contains("DNS name not found"));
        assertThat(health(gw).path("dependencies").path("redis").path("detail").asText())
                .contains("no-such-host.invalid");
    }

    @Test
    @DisplayName("rediss:// against a server whose CA is not trusted: DEGRADED, and the cause names"
            + " SWITCHBOARD_REDIS_CA, not redis://")
    void untrustedCertificate() {
        RedisServer redis = RedisServer.startTls();
        owned.keep(redis);
        TestGateway gw = instance(redis.uri(), "gw-a", Map.of());
        Await.until(
                "DEGRADED naming SWITCHBOARD_REDIS_CA",
                T,
                () -> health(gw)
                        .path("dependencies")
                        .path("redis")
                        .path("detail")
                        .asText()
                        .contains("SWITCHBOARD_REDIS_CA"));
        assertThat(health(gw).path("dependencies").path("redis").path("detail").asText())
                .doesNotContain("use redis://");
    }

    @Test
    @DisplayName("redis-sentinel:// finds the master through Sentinel")
    void sentinel() {
        RedisSentinel sentinel = RedisSentinel.start();
        owned.keep(sentinel);
        TestGateway a = instance(sentinel.uri(), "gw-a", Map.of());
        TestGateway b = instance(sentinel.uri(), "gw-b", Map.of());
        awaitUp(a);
        awaitUp(b);
        assertActsAsOne(a, b, "public:sentinel");
        assertThat(sentinel.master().cli("EXISTS", "sb:{public:sentinel}:s")).isEqualTo("1");
    }

    @Test
    @DisplayName("redis-cluster:// against a 3-master Redis Cluster: fan-out over sharded pub/sub, recovery,"
            + " send and session replacement")
    void redisCluster() {
        RedisCluster cluster = RedisCluster.start(3);
        owned.keep(cluster);
        TestGateway a =
                instance(cluster.uri(), "gw-a", Map.of("SWITCHBOARD_RATE", "100000", "SWITCHBOARD_BURST", "100000"));
        TestGateway b =
                instance(cluster.uri(), "gw-b", Map.of("SWITCHBOARD_RATE", "100000", "SWITCHBOARD_BURST", "100000"));
        awaitUp(a);
        awaitUp(b);
        for (int i = 0; i < 6; i++) {
            assertActsAsOne(a, b, "public:shard-" + i);
        }
        SwitchboardClient bob = b.connect(Tokens.user("u_bob"));
        EventRecorder bobEvents = EventRecorder.of(bob);
        SwitchboardClient alice = a.connect(Tokens.user("u_alice"));
        Await.until(
                "bob visible across the cluster",
                T,
                () -> Boolean.TRUE.equals(alice.send("u_bob", "1").block(T).delivered()));
        assertThat(bobEvents.next(ServerFrame.Direct.class).from()).isEqualTo("u_alice");
        SwitchboardClient bobAgain = a.connect(Tokens.user("u_bob"));
        assertThat(bob.closed().block(T).code()).isEqualTo(CloseCodes.SESSION_REPLACED);
        assertThat(bobAgain.isClosed()).isFalse();
    }
}
