package io.switchboard.gateway.session;

import io.switchboard.protocol.StreamPosition;

/**
 * What the registries, the drain and the HTTP API may do with a connection: the narrow view of a
 * {@link Session} that crosses package boundaries. Every method may be called from any thread.
 */
public interface SessionHandle {

    String id();

    /** The user id, or null before {@code hello} was accepted. */
    String userId();

    /**
     * Whether this connection's inbox is subscribed: only then does its user count as connected through it (a
     * {@code send} says {@code delivered:true}, it may be matched).
     */
    boolean inboxSubscribed();

    /**
     * Whether a message stored in this user's inbox now reaches this connection: its inbox is subscribed, or it
     * resumed from an inbox position, so that its subscription replays whatever was stored after it.
     */
    boolean receivesInbox();

    /**
     * Where the inbox subscription started when it came after the welcome (Redis was away), so that its client
     * was told no position: a resume without {@code inboxSince} replays from it. Null when the welcome gave one.
     */
    StreamPosition inboxStart();

    /** Tries to subscribe the inbox now if it is still not (Redis is back); a no-op otherwise. */
    void retryInbox();

    /** A newer connection of the same user took over: {@code session_replaced}, then close 4002. */
    void replaced();

    /** Closes with 4002 on the operator's request ({@code POST /api/disconnect}). */
    void disconnect();

    /** Sends a close frame with {@code code} and closes the connection (docs/protocol.md section 7). */
    void close(int code, String reason);

    /** Runs {@code action} once the connection has closed (at once when it already has). */
    void onClose(Runnable action);
}
