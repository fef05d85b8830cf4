package io.switchboard.gateway.session;

import io.netty.buffer.ByteBuf;
import io.switchboard.protocol.ServerFrame;

/**
 * A session's only way to its client (the port of centrifuge's {@code Transport}): the transport implements it
 * over a WebSocket channel, with the outbound bound, the replay allowance, flush batching and the close
 * handshake; unit tests implement it with a list. Called on the session's loop only.
 *
 * <p>When more than the outbound bound is pending the implementation calls {@link Session#slowConsumer()}.
 */
public interface Outbound {

    /** Encodes and queues one frame; flushed with the others queued in the same loop iteration. */
    void write(ServerFrame frame);

    /** Queues wire bytes encoded once for many connections; ownership passes here. */
    void writeWire(ByteBuf wire);

    /** Like {@link #write}, for a recovery replay: may go past the bound by the replay allowance. */
    void writeReplay(ServerFrame frame);

    /** Like {@link #writeWire}, for a recovery replay: may go past the bound by the replay allowance. */
    void writeReplayWire(ByteBuf wire);

    /** Queues a heartbeat {@code ping}. */
    void ping();

    /** Writes nothing more (the client reads too slowly). */
    void stopWrites();

    /**
     * Sends a close frame with {@code code} and {@code reason}, then closes once the client answered or a grace
     * ran out; with {@code cut}, closes as soon as the frame is written (the client will not be read again).
     */
    void close(int code, String reason, boolean cut);

    /** Whether the connection is still open. */
    boolean isOpen();
}
