package io.switchboard.gateway.cluster;

import io.switchboard.gateway.health.spi.DependencyUnavailableException;

/** Redis cannot serve this operation now; the request it serves answers {@code unavailable}. */
public final class RedisUnavailableException extends DependencyUnavailableException {
    public RedisUnavailableException(String message) {
        super(message, null);
    }

    public RedisUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
