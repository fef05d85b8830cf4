package io.switchboard.testing.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link RedisSentinel} gives tests a real sentinel through which Lettuce finds the master. */
class RedisSentinelFixtureTests {
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
        assertThat(parsed.getSentinels()).singleElement().satisfies(s -> assertThat(s.getPort()).isEqualTo(sentinel.port()));
    }
}
