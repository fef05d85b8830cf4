package io.switchboard.gateway.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.switchboard.gateway.config.RedisConfig;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisServer;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** Subscriptions while Redis is away: they fail as an outage, which a client's request answers as unavailable. */
class RedisSubscriptionsIntegrationTests {
    private static final Duration T = Duration.ofSeconds(10);

    @Test
    @DisplayName("while Redis is down, a channel's subscription and an instance's control subscription both fail with"
            + " RedisUnavailableException (the request waiting on them answers unavailable, not internal)")
    void subscriptionsFailAsAnOutageWhileRedisIsDown() throws Exception {
        try (RedisServer redis = RedisServer.start()) {
            RedisConnections redisConnections =
                    new RedisConnections(new RedisConfig(redis.uri(), null, 1_000, 10_000), new SimpleMeterRegistry());
            try {
                Await.until("Redis up", T, redisConnections::isUp);
                redisConnections
                        .subscribeControl("control:test")
                        .toCompletableFuture()
                        .get(10, TimeUnit.SECONDS);

                redis.kill();
                Await.until("Redis seen down", T, () -> !redisConnections.isUp());

                assertOutage(redisConnections.subscribeControl("control:other"));
                assertOutage(redisConnections.subscribe("channel:x"));
            } finally {
                redisConnections.close();
            }
        }
    }

    private static void assertOutage(CompletionStage<Void> subscribed) {
        assertThat(subscribed.toCompletableFuture())
                .failsWithin(T)
                .withThrowableOfType(ExecutionException.class)
                .withCauseInstanceOf(RedisUnavailableException.class);
    }
}
