package io.switchboard.protocol.client;

import io.switchboard.protocol.ServerFrame;
import java.time.Duration;
import java.util.List;

/** A change of a {@link ReconnectingClient}'s connection, reported to the application in order. */
public sealed interface ConnectionEvent {

    /** A connection is being opened: {@code attempt} 0 for the first, {@code k} for reconnect attempt k. */
    record Connecting(int attempt) implements ConnectionEvent {}

    /** The server's {@code welcome} arrived; {@code reconnect} is false only for the client's first one. */
    record Connected(ServerFrame.Welcome welcome, boolean reconnect) implements ConnectionEvent {}

    /**
     * After a reconnect, once every channel was subscribed again: whether the identity came back
     * ({@code resumed}), the inbox was replayed in full ({@code inboxRecovered}), and which channels lost
     * messages ({@code channelsNotRecovered}). When {@code recovered} is false the application resyncs what
     * it missed from its own backend.
     */
    record Recovered(boolean recovered, boolean resumed, boolean inboxRecovered, List<String> channelsNotRecovered)
            implements ConnectionEvent {
        public Recovered {
            channelsNotRecovered = List.copyOf(channelsNotRecovered);
        }
    }

    /** A connection that had its {@code welcome} ended: 1006 when it dropped, 4003 (local) when it went silent. */
    record Disconnected(CloseStatus status) implements ConnectionEvent {}

    /** Reconnect attempt {@code attempt} (1-based) will start after {@code delay}; {@code cause} ended the last. */
    record Reconnecting(int attempt, Duration delay, CloseStatus cause) implements ConnectionEvent {}

    /**
     * The client stopped for good: the server closed with a code that forbids reconnecting, or
     * {@code maxAttempts} attempts in a row failed. {@code lastClose} is how the last connection or attempt ended.
     */
    record GaveUp(String reason, CloseStatus lastClose) implements ConnectionEvent {}

    /** The application closed the client. */
    record Closed(CloseStatus status) implements ConnectionEvent {}
}
