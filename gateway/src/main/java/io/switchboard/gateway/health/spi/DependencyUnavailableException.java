package io.switchboard.gateway.health.spi;

/**
 * A dependency (Redis, MongoDB) cannot serve an operation now: an outage, not a bug. A client request it serves
 * answers {@code unavailable} with a wait before retrying; any other failure answers {@code internal}.
 */
public abstract class DependencyUnavailableException extends RuntimeException {
    protected DependencyUnavailableException(String message, Throwable cause) {
        super(message, cause, false, false);
    }
}
