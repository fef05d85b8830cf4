package io.switchboard.gateway.cluster;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.github.resilience4j.micrometer.tagged.TaggedCircuitBreakerMetrics;
import io.lettuce.core.RedisCommandExecutionException;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;

/**
 * The circuit breakers Redis commands run behind: one for the server, and one per Redis Cluster master, so a
 * failed shard only holds off its own slots. An outage opens them; a wrong command does not.
 */
final class RedisBreakers {
    private final CircuitBreakerRegistry registry;
    private final CircuitBreaker server;

    RedisBreakers(MeterRegistry meters) {
        this.registry = CircuitBreakerRegistry.of(CircuitBreakerConfig.custom()
                .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                .slidingWindowSize(20)
                .minimumNumberOfCalls(5)
                .failureRateThreshold(50)
                .waitDurationInOpenState(Duration.ofSeconds(1))
                .permittedNumberOfCallsInHalfOpenState(3)
                .recordException(RedisBreakers::isOutage)
                .build());
        this.server = registry.circuitBreaker("redis");
        TaggedCircuitBreakerMetrics.ofCircuitBreakerRegistry(registry).bindTo(meters);
    }

    /** The breaker of the server (single, Sentinel's master), or of a cluster as a whole. */
    CircuitBreaker server() {
        return server;
    }

    /** The breaker of the Redis Cluster master at {@code address}. */
    CircuitBreaker master(String address) {
        return registry.circuitBreaker("redis " + address);
    }

    /** Closes every breaker: Redis answers again. */
    void resetAll() {
        registry.getAllCircuitBreakers().forEach(CircuitBreaker::reset);
    }

    /** Whether a failure says Redis cannot serve now (as opposed to a wrong command). */
    static boolean isOutage(Throwable e) {
        if (e instanceof RedisCommandExecutionException x) {
            String m = String.valueOf(x.getMessage());
            return m.startsWith("LOADING")
                    || m.startsWith("CLUSTERDOWN")
                    || m.startsWith("TRYAGAIN")
                    || m.startsWith("MASTERDOWN")
                    || m.startsWith("READONLY");
        }
        return !(e instanceof IllegalArgumentException);
    }
}
