package io.switchboard.gateway.events;

import reactor.core.publisher.Mono;

/**
 * Which connection continues which: a resumed connection carries on the one it resumed, so the backend hears of
 * one session from its {@code user.connected} to its one {@code user.disconnected}, however often it resumed
 * meanwhile. Each connection is recorded with its <em>origin</em>, the connection whose {@code user.connected}
 * announced the session. Ending and resuming a connection are decided once: a connection that was resumed does
 * not end, and one that ended cannot be resumed (a resume then counts as a new session).
 */
public interface SessionLineage extends AutoCloseable {

    /** A connection of a new session opened: its own origin. */
    Mono<Void> opened(String user, String session);

    /**
     * Connection {@code session} resumes {@code previous}: emits the session's origin, or nothing when
     * {@code previous} already ended or is unknown (then it is a new session).
     */
    Mono<String> resumed(String user, String previous, String session);

    /**
     * Connection {@code session} is over: emits true when its session ends with it (its
     * {@code user.disconnected} is to be sent), false when a newer connection resumed it.
     */
    Mono<Boolean> ended(String user, String session);

    /** The connection's end was told: this instance no longer answers for it. */
    Mono<Void> forget(String user, String session);

    @Override
    default void close() {}
}
