package io.switchboard.matchmaking;

/**
 * An operation refused at once because {@link RedisMatchmaker#MAX_WAITING} others already wait for Redis on this
 * instance (Redis slow or away): the caller answers {@code unavailable}, and the client tries again.
 */
public final class MatchmakerBusyException extends RuntimeException {
    public MatchmakerBusyException(String message) {
        super(message);
    }
}
