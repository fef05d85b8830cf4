package io.switchboard.gateway.hooks;

import io.switchboard.gateway.health.spi.DependencyUnavailableException;

/**
 * The backend's hooks cannot answer now: the call failed, timed out, answered other than 2xx or unreadably, the
 * circuit breaker holds calls off, or too many are in flight. The request it serves answers {@code unavailable}.
 */
public final class HookUnavailableException extends DependencyUnavailableException {
    /** What went wrong, as the {@code outcome} tag of {@code switchboard.hooks.calls} says it. */
    private final String outcome;

    HookUnavailableException(String outcome, String message, Throwable cause) {
        super(message, cause);
        this.outcome = outcome;
    }

    String outcome() {
        return outcome;
    }
}
