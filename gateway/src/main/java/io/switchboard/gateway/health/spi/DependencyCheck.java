package io.switchboard.gateway.health.spi;

import reactor.core.publisher.Mono;

/**
 * One external dependency as {@code /health} reports it (Redis, MongoDB). The embedded mode has none; the
 * cluster mode's stores add theirs.
 */
public interface DependencyCheck {

    /** The name under {@code dependencies} in {@code /health}. */
    String name();

    /** Whether the instance stops being ready while this dependency is down. */
    boolean requiredForReadiness();

    /** The dependency's state now; must not fail and should answer within a second. */
    Mono<DependencyHealth> check();
}
