package io.switchboard.gateway.session;

import java.util.Collection;
import reactor.core.publisher.Mono;

/**
 * Who is connected: at most one live session per user, and the sessions that dropped less than
 * {@code resumeGrace} ago and may be resumed. The embedded registry knows this instance; the cluster one keeps
 * ownership in Redis so that a user connecting on another instance replaces this one.
 */
public interface SessionRegistry {

    /** Makes {@code session} the user's live session; the one it replaces, if any, is closed with 4002. */
    void register(Session session);

    /**
     * Forgets {@code session} if it is still its user's live session; with {@code resumable}, the user may
     * resume it for the grace period (and counts as connected meanwhile).
     */
    void unregister(Session session, boolean resumable);

    /** Whether {@code session} of {@code userId} may be resumed: it dropped within the grace, or is still live. */
    Mono<Boolean> resumable(String userId, String session);

    /** The user's live session on this instance, or null. */
    Session local(String userId);

    /** Whether the user has a live or resumable connection anywhere. */
    Mono<Boolean> isConnected(String userId);

    /**
     * Closes the user's connection with 4002, on whichever instance it is; emits whether there was one.
     */
    Mono<Boolean> disconnect(String userId);

    /** Authenticated sessions on this instance. */
    int size();

    /** Every authenticated session on this instance. */
    Collection<Session> sessions();

    /** Drops records of resumable sessions whose grace ran out. */
    default void purge() {
    }
}
