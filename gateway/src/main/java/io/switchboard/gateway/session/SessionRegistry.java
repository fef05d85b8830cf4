package io.switchboard.gateway.session;

import io.switchboard.protocol.StreamPosition;
import java.util.Collection;
import reactor.core.publisher.Mono;

/**
 * Who is connected: at most one live session per user, and the sessions that dropped less than
 * {@code resumeGrace} ago and may be resumed. The embedded registry knows this instance; the cluster one keeps
 * ownership in Redis so that a user connecting on another instance replaces this one.
 */
public interface SessionRegistry {

    /**
     * Makes {@code session} the user's live session on this instance; the local one it replaces, if any, is
     * closed with 4002. The user does not count as connected through it before {@link #claim}.
     */
    void register(SessionHandle session);

    /**
     * {@code session}'s inbox is subscribed: from now on the user counts as connected through it, on every
     * instance, and the connection it replaces on another instance is closed with 4002. Completes once that is
     * recorded; fails when it could not be (it is then recorded when the cluster's store is back).
     */
    Mono<Void> claim(SessionHandle session);

    /**
     * Forgets {@code session} if it is still its user's live session; with {@code resumable}, the user may
     * resume it for the grace period (and counts as connected meanwhile).
     */
    void unregister(SessionHandle session, boolean resumable);

    /**
     * Whether {@code session} of {@code userId} may be resumed: it dropped within the grace, or is still live;
     * fails when that cannot be known now.
     */
    Mono<Resumable> resumable(String userId, String session);

    /**
     * What {@link #resumable} found: whether the session may be resumed and, for a session whose inbox was
     * subscribed late without its client being told a position, the position it started from (else null).
     */
    record Resumable(boolean ok, StreamPosition inboxStart) {
        public static final Resumable NO = new Resumable(false, null);
    }

    /** The user's live session on this instance, or null. */
    SessionHandle local(String userId);

    /**
     * Whether the user has a live connection with a subscribed inbox, or a resumable one, anywhere: a message
     * stored in its inbox after this answered true reaches it, live or replayed on resume.
     */
    Mono<Boolean> isConnected(String userId);

    /**
     * Closes the user's connection with 4002, on whichever instance it is; emits whether there was one.
     */
    Mono<Boolean> disconnect(String userId);

    /** Authenticated sessions on this instance. */
    int size();

    /** Every authenticated session on this instance. */
    Collection<SessionHandle> sessions();

    /** Drops records of resumable sessions whose grace ran out. */
    default void purge() {}
}
