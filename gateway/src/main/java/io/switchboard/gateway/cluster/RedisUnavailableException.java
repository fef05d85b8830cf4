package io.switchboard.gateway.cluster;

/** Redis cannot serve this operation now; the request it serves answers {@code unavailable}. */
public final class RedisUnavailableException extends RuntimeException {
    public RedisUnavailableException(String message) {
        super(message, null, false, false);
    }

    public RedisUnavailableException(String message, Throwable cause) {
        super(message, cause, false, false);
    }
}
