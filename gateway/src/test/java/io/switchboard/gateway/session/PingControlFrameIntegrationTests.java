package io.switchboard.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.FrameDecodeException;
import io.switchboard.protocol.ServerFrame;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.netty.http.client.HttpClient;
import reactor.netty.http.client.WebsocketClientSpec;

/**
 * The WebSocket transport seen by a plain WebSocket client (docs/protocol.md section 1): Ping control frames answered
 * with Pong, and the {@code switchboard.v1} subprotocol echoed when offered and not required.
 */
class PingControlFrameIntegrationTests {
    private static final String SUBPROTOCOL = "switchboard.v1";
    private static final String HELLO = "{\"type\":\"hello\",\"v\":1,\"client\":\"raw-websocket\"}";

    private TestGateway gw;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
    }

    /** What a raw WebSocket connection saw: the negotiated subprotocol, the response header, and a frame. */
    private record Seen(String selectedSubprotocol, String protocolHeader, byte[] pong, String firstText) {}

    private static WebsocketClientSpec.Builder spec() {
        return WebsocketClientSpec.builder().handlePing(true);
    }

    @Test
    @DisplayName("section 1: a WebSocket Ping control frame is answered with a Pong carrying the same payload")
    void pingAnsweredWithPong() {
        gw = TestGateway.start();
        byte[] payload = "are-you-there-42".getBytes(StandardCharsets.US_ASCII);

        Seen seen = HttpClient.newConnection()
                .websocket(spec().protocols(SUBPROTOCOL).build())
                .uri(gw.wsUri())
                .handle((in, out) -> {
                    Mono<byte[]> pong = in.receiveFrames()
                            .filter(f -> f instanceof PongWebSocketFrame)
                            .next()
                            .map(f -> ByteBufUtil.getBytes(f.content()));
                    Mono<Void> ping = out.sendObject(new PingWebSocketFrame(Unpooled.wrappedBuffer(payload)))
                            .then();
                    return Mono.zip(pong, ping.thenReturn(true))
                            .map(t -> new Seen(
                                    in.selectedSubprotocol(),
                                    in.headers().get(HttpHeaderNames.SEC_WEBSOCKET_PROTOCOL),
                                    t.getT1(),
                                    null))
                            .flatMap(s -> out.sendClose().thenReturn(s));
                })
                .next()
                .block(TestGateway.TIMEOUT);

        assertThat(seen).isNotNull();
        assertThat(seen.pong()).isEqualTo(payload);
    }

    @Test
    @DisplayName("section 1: a Ping after the handshake is answered too, and the session goes on")
    void pingAfterWelcomeAnsweredAndSessionContinues() {
        gw = TestGateway.start();
        byte[] payload = {0, 1, 2, (byte) 0xff};

        Seen seen = HttpClient.newConnection()
                .websocket(spec().protocols(SUBPROTOCOL).build())
                .uri(gw.wsUri())
                .handle((in, out) -> {
                    List<String> texts = new CopyOnWriteArrayList<>();
                    // text frames as String, pongs as their payload; read once, as a connection allows
                    Flux<Object> frames = in.receiveFrames()
                            .map(f -> f instanceof PongWebSocketFrame
                                    ? (Object) ByteBufUtil.getBytes(f.content())
                                    : f instanceof TextWebSocketFrame t ? t.text() : "");
                    return out.sendString(Mono.just(HELLO))
                            .then()
                            .thenMany(frames)
                            .concatMap(o -> {
                                if (o instanceof String text && !text.isEmpty()) {
                                    texts.add(text);
                                    if (texts.size() == 1) {
                                        return out.sendObject(new PingWebSocketFrame(Unpooled.wrappedBuffer(payload)))
                                                .then()
                                                .thenReturn(o);
                                    }
                                }
                                return Mono.just(o);
                            })
                            .filter(o -> o instanceof byte[])
                            .next()
                            .map(pong -> new Seen(null, null, (byte[]) pong, texts.get(0)))
                            .flatMap(r -> out.sendClose().thenReturn(r));
                })
                .next()
                .block(TestGateway.TIMEOUT);

        assertThat(seen).isNotNull();
        assertThat(decode(seen.firstText())).isInstanceOf(ServerFrame.Welcome.class);
        assertThat(seen.pong()).isEqualTo(payload);
    }

    @Test
    @DisplayName("section 1: a client offering the subprotocol switchboard.v1 gets it echoed")
    void offeredSubprotocolIsEchoed() {
        gw = TestGateway.start();
        Seen seen = handshakeAndHello(spec().protocols(SUBPROTOCOL).build());

        assertThat(seen.selectedSubprotocol()).isEqualTo(SUBPROTOCOL);
        assertThat(seen.protocolHeader()).isEqualTo(SUBPROTOCOL);
        assertThat(decode(seen.firstText())).isInstanceOf(ServerFrame.Welcome.class);
    }

    @Test
    @DisplayName("section 1: a client offering no subprotocol is accepted and gets a welcome")
    void noSubprotocolStillWelcomed() {
        gw = TestGateway.start();
        Seen seen = handshakeAndHello(spec().build());

        assertThat(seen.protocolHeader()).isNull();
        ServerFrame welcome = decode(seen.firstText());
        assertThat(welcome).isInstanceOf(ServerFrame.Welcome.class);
        assertThat(((ServerFrame.Welcome) welcome).node()).isEqualTo("gw-test");
    }

    /** Opens a raw WebSocket with {@code spec}, says hello, and returns the handshake and the first text frame. */
    private Seen handshakeAndHello(WebsocketClientSpec spec) {
        Seen seen = HttpClient.newConnection()
                .websocket(spec)
                .uri(gw.wsUri())
                .handle((in, out) -> {
                    Mono<String> first = in.receiveFrames()
                            .filter(f -> f instanceof TextWebSocketFrame)
                            .map(f -> ((TextWebSocketFrame) f).text())
                            .next();
                    return Mono.zip(
                                    first,
                                    out.sendString(Mono.just(HELLO)).then().thenReturn(true))
                            .map(t -> new Seen(
                                    in.selectedSubprotocol(),
                                    in.headers().get(HttpHeaderNames.SEC_WEBSOCKET_PROTOCOL),
                                    null,
                                    t.getT1()))
                            .flatMap(s -> out.sendClose().thenReturn(s));
                })
                .next()
                .block(TestGateway.TIMEOUT);
        assertThat(seen).isNotNull();
        return seen;
    }

    private static ServerFrame decode(String text) {
        try {
            return FrameCodec.decodeServer(text);
        } catch (FrameDecodeException e) {
            throw new AssertionError("not a server frame: " + text, e);
        }
    }
}
