package io.switchboard.gateway.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.Unpooled;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.ServerFrame;

/**
 * Encodes server frames straight into WebSocket wire bytes (an unmasked, final text frame: header and JSON
 * payload in one buffer). The bytes can be written to any number of server connections as they are, which is
 * how a channel message is encoded once per instance and shared by every local subscriber.
 */
public final class WireFrames {
    /** Room for the longest header: 2 bytes and an 8-byte extended length. */
    private static final int MAX_HEADER = 10;

    private static final int INITIAL_CAPACITY = 256;
    private static final byte FIN_TEXT = (byte) 0x81;
    private static final byte FIN_PONG = (byte) 0x8A;

    private WireFrames() {}

    /** A new buffer holding {@code frame} as one WebSocket text frame; the caller owns it. */
    public static ByteBuf encode(ByteBufAllocator alloc, ServerFrame frame) {
        ByteBuf buf = alloc.buffer(INITIAL_CAPACITY);
        try {
            buf.writerIndex(MAX_HEADER);
            FrameCodec.encodeTo(frame, new ByteBufOutputStream(buf));
            int length = buf.writerIndex() - MAX_HEADER;
            int start;
            if (length < 126) {
                start = MAX_HEADER - 2;
                buf.setByte(start, FIN_TEXT);
                buf.setByte(start + 1, length);
            } else if (length < 65_536) {
                start = MAX_HEADER - 4;
                buf.setByte(start, FIN_TEXT);
                buf.setByte(start + 1, 126);
                buf.setShort(start + 2, length);
            } else {
                start = 0;
                buf.setByte(0, FIN_TEXT);
                buf.setByte(1, 127);
                buf.setLong(2, length);
            }
            buf.readerIndex(start);
            return buf;
        } catch (RuntimeException e) {
            buf.release();
            throw e;
        }
    }

    /**
     * A WebSocket Pong control frame carrying {@code payload} (at most 125 bytes, as every control frame), as wire
     * bytes; the caller owns the result, and {@code payload} is only read.
     */
    public static ByteBuf pong(ByteBufAllocator alloc, ByteBuf payload) {
        int length = payload.readableBytes();
        if (length > 125) {
            throw new IllegalArgumentException("a control frame carries at most 125 bytes, not " + length);
        }
        ByteBuf buf = alloc.buffer(2 + length);
        buf.writeByte(FIN_PONG);
        buf.writeByte(length);
        buf.writeBytes(payload, payload.readerIndex(), length);
        return buf;
    }

    /** {@code frame} as wire bytes that are never released, for frames sent unchanged to everyone (ping). */
    public static ByteBuf constant(ServerFrame frame) {
        ByteBuf heap = encode(ByteBufAllocator.DEFAULT, frame);
        try {
            return Unpooled.unreleasableBuffer(Unpooled.copiedBuffer(heap).asReadOnly());
        } finally {
            heap.release();
        }
    }
}
