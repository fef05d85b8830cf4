package io.switchboard.gateway.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocket13FrameDecoder;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.ServerFrame;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Server frames encoded straight to WebSocket wire bytes, docs/protocol.md section 1: every application frame is one
 * text frame holding one JSON object. The bytes are checked by hand (RFC 6455 section 5.2) and by Netty's decoder
 * for frames coming from a server.
 */
class WireFramesUnitTests {

    private final ByteBufAllocator alloc = new UnpooledByteBufAllocator(false);
    private final List<ByteBuf> toRelease = new ArrayList<>();

    @AfterEach
    void releaseBuffers() {
        for (ByteBuf b : toRelease) {
            if (b.refCnt() > 0) {
                b.release(b.refCnt());
            }
        }
    }

    /** A channel message whose JSON encoding is exactly {@code payloadBytes} UTF-8 bytes long. */
    private static ServerFrame.Message messageOfPayloadLength(int payloadBytes) {
        int empty = FrameCodec.encodeUtf8(message("\"\"")).length;
        assertThat(payloadBytes).as("smallest possible payload").isGreaterThanOrEqualTo(empty);
        ServerFrame.Message m = message("\"" + "x".repeat(payloadBytes - empty) + "\"");
        assertThat(FrameCodec.encodeUtf8(m)).hasSize(payloadBytes);
        return m;
    }

    private static ServerFrame.Message message(String data) {
        return new ServerFrame.Message("public:lobby", 21, "a1b2", "g_Qm3v", data);
    }

    private ByteBuf encode(ServerFrame frame) {
        ByteBuf wire = WireFrames.encode(alloc, frame);
        toRelease.add(wire);
        return wire;
    }

    /** The payload length from the header, and checks the parts of the header that never change. */
    private static int headerLength(ByteBuf wire) {
        int at = wire.readerIndex();
        assertThat(wire.getUnsignedByte(at))
                .as("FIN, no RSV bits, opcode 1 (text)")
                .isEqualTo((short) 0x81);
        assertThat(wire.getUnsignedByte(at + 1) & 0x80)
                .as("a server's frames are not masked")
                .isZero();
        return wire.getUnsignedByte(at + 1) & 0x7f;
    }

    private static String payloadText(ByteBuf wire, int headerBytes) {
        return wire.toString(
                wire.readerIndex() + headerBytes, wire.readableBytes() - headerBytes, StandardCharsets.UTF_8);
    }

    /** Decodes {@code wire} with Netty as a client would and returns the text of the one frame it holds. */
    private static String decodeWithNetty(ByteBuf wire) {
        EmbeddedChannel client = new EmbeddedChannel(new WebSocket13FrameDecoder(false, false, 1 << 20));
        try {
            assertThat(client.writeInbound(wire.retainedDuplicate())).isTrue();
            Object decoded = client.readInbound();
            assertThat(decoded).isInstanceOf(TextWebSocketFrame.class);
            TextWebSocketFrame text = (TextWebSocketFrame) decoded;
            try {
                assertThat(text.isFinalFragment()).isTrue();
                assertThat(text.rsv()).isZero();
                return text.text();
            } finally {
                text.release();
            }
        } finally {
            assertThat(client.finishAndReleaseAll())
                    .as("nothing else was decoded or written")
                    .isFalse();
        }
    }

    @ParameterizedTest(name = "{0} bytes")
    @ValueSource(ints = {96, 110, 125})
    @DisplayName("docs/protocol.md section 1: a payload under 126 bytes has a 2-byte header with the length in it")
    void shortPayloadHasTwoByteHeader(int payloadBytes) {
        ServerFrame.Message frame = messageOfPayloadLength(payloadBytes);

        ByteBuf wire = encode(frame);

        assertThat(headerLength(wire)).isEqualTo(payloadBytes);
        assertThat(wire.readableBytes()).isEqualTo(2 + payloadBytes);
        assertThat(payloadText(wire, 2)).isEqualTo(FrameCodec.encode(frame));
        assertThat(decodeWithNetty(wire)).isEqualTo(FrameCodec.encode(frame));
    }

    @ParameterizedTest(name = "{0} bytes")
    @ValueSource(ints = {126, 127, 255, 256, 1000, 4096, 65_535})
    @DisplayName("docs/protocol.md section 1: a payload of 126 to 65535 bytes has a 16-bit extended length")
    void mediumPayloadHasSixteenBitLength(int payloadBytes) {
        ServerFrame.Message frame = messageOfPayloadLength(payloadBytes);

        ByteBuf wire = encode(frame);

        assertThat(headerLength(wire)).isEqualTo(126);
        assertThat(wire.getUnsignedShort(wire.readerIndex() + 2)).isEqualTo(payloadBytes);
        assertThat(wire.readableBytes()).isEqualTo(4 + payloadBytes);
        assertThat(payloadText(wire, 4)).isEqualTo(FrameCodec.encode(frame));
        assertThat(decodeWithNetty(wire)).isEqualTo(FrameCodec.encode(frame));
    }

    @ParameterizedTest(name = "{0} bytes")
    @ValueSource(ints = {65_536, 65_537, 200_000})
    @DisplayName("docs/protocol.md section 1: a payload of 65536 bytes or more has a 64-bit extended length")
    void longPayloadHasSixtyFourBitLength(int payloadBytes) {
        ServerFrame.Message frame = messageOfPayloadLength(payloadBytes);

        ByteBuf wire = encode(frame);

        assertThat(headerLength(wire)).isEqualTo(127);
        assertThat(wire.getLong(wire.readerIndex() + 2))
                .as("most significant bit 0")
                .isEqualTo(payloadBytes);
        assertThat(wire.readableBytes()).isEqualTo(10 + payloadBytes);
        assertThat(payloadText(wire, 10)).isEqualTo(FrameCodec.encode(frame));
        assertThat(decodeWithNetty(wire)).isEqualTo(FrameCodec.encode(frame));
    }

    @Test
    @DisplayName("docs/protocol.md section 1: the length counts UTF-8 bytes, not characters")
    void lengthCountsUtf8Bytes() {
        // 80 characters of data, but e-acute is 2 bytes and the emoji 4: the payload is over 125 bytes
        String data = "\"" + "\u00e9".repeat(40) + "\ud83d\ude00".repeat(19) + "\"";
        ServerFrame.Message frame = message(data);
        String json = FrameCodec.encode(frame);
        int bytes = json.getBytes(StandardCharsets.UTF_8).length;
        assertThat(json.length()).isLessThan(bytes);
        assertThat(bytes).isGreaterThan(125);

        ByteBuf wire = encode(frame);

        assertThat(headerLength(wire)).isEqualTo(126);
        assertThat(wire.getUnsignedShort(wire.readerIndex() + 2)).isEqualTo(bytes);
        assertThat(decodeWithNetty(wire)).isEqualTo(json);
    }

    @Test
    @DisplayName("docs/protocol.md section 3: the ping frame is {\"type\":\"ping\"} in a 17-byte text frame")
    void pingIsExact() {
        ByteBuf wire = encode(new ServerFrame.Ping());

        assertThat(ByteBufUtil.getBytes(wire))
                .isEqualTo(("\u0081\u000f{\"type\":\"ping\"}").getBytes(StandardCharsets.ISO_8859_1));
        assertThat(decodeWithNetty(wire)).isEqualTo("{\"type\":\"ping\"}");
    }

    @Test
    @DisplayName("every kind of server frame decodes to its FrameCodec JSON")
    void everyFrameKindRoundTrips() {
        List<ServerFrame> frames = List.of(
                new ServerFrame.Ping(),
                ServerFrame.Ack.of(7),
                ServerFrame.Error.of(7L, "forbidden", "cannot publish to room:1"),
                new ServerFrame.Direct("u_alice", "{\"text\":\"psst\"}", 3, "k2x9"),
                new ServerFrame.MatchFound("m_x1", "u_bob", true, List.of("music"), 4, "k2x9"),
                new ServerFrame.MatchSignal("m_x1", "u_alice", "{\"sdp\":\"...\"}", 9, "q7"),
                new ServerFrame.MatchEnded("m_x1", "next", 10, "q7"),
                new ServerFrame.MatchPartner("m_x1", "reconnecting"),
                message("{\"text\":\"hi\"}"));

        for (ServerFrame frame : frames) {
            assertThat(decodeWithNetty(encode(frame))).as(frame.type()).isEqualTo(FrameCodec.encode(frame));
        }
    }

    @Test
    @DisplayName("the caller owns the encoded buffer: one reference, freed by one release")
    void callerOwnsTheBuffer() {
        ByteBuf wire = WireFrames.encode(PooledByteBufAllocator.DEFAULT, message("1"));

        assertThat(wire.refCnt()).isEqualTo(1);
        assertThat(wire.release()).isTrue();
    }

    @Test
    @DisplayName("a constant frame has the same bytes as encode() and survives any number of releases")
    void constantIsUnreleasable() {
        ByteBuf constant = WireFrames.constant(new ServerFrame.Ping());
        ByteBuf encoded = encode(new ServerFrame.Ping());

        assertThat(ByteBufUtil.equals(constant, encoded)).isTrue();
        assertThat(constant.isReadOnly()).isTrue();
        for (int i = 0; i < 3; i++) {
            assertThat(constant.release()).isFalse();
        }
        assertThat(constant.refCnt()).isPositive();
        assertThat(decodeWithNetty(constant)).isEqualTo("{\"type\":\"ping\"}");
        assertThat(decodeWithNetty(constant))
                .as("decoding a duplicate leaves the constant intact")
                .isEqualTo("{\"type\":\"ping\"}");
    }
}
