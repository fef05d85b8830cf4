package io.switchboard.gateway.transport;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.ContinuationWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CorruptedWebSocketFrameException;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketCloseStatus;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.util.concurrent.ScheduledFuture;
import io.switchboard.gateway.config.GatewayConfig;
import io.switchboard.gateway.metrics.GatewayMetrics;
import io.switchboard.gateway.session.Inbound;
import io.switchboard.gateway.session.Outbound;
import io.switchboard.gateway.session.Session;
import io.switchboard.gateway.wire.WireFrames;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ServerFrame;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.netty.NettyPipeline;
import reactor.netty.http.websocket.WebsocketInbound;

/**
 * The Netty side of one {@link Session}: feeds it the WebSocket frames read (fragments reassembled, the peer's
 * close code and the decoder's violations noted on the way) and implements its {@link Outbound} on the channel:
 * the outbound bound (4004), the replay allowance, flush batching, and the close handshake with its grace.
 * Confined to the channel's event loop.
 */
public final class WebSocketConnection implements Outbound {
    private static final Logger log = LoggerFactory.getLogger(WebSocketConnection.class);
    /** Frames read ahead while an earlier request is still being answered; then TCP back-pressure applies. */
    public static final int MAX_QUEUED_REQUESTS = 32;
    /** How long a connection may take to send its close frame (a stalled reader never does) before it is cut. */
    public static final long CLOSE_GRACE_MS = 5_000;
    /**
     * A recovery replay may take the pending outbound bytes up to this many times the bound while the client
     * reads it: the history a client asks for after a 4004 can be larger than the bound, and must not close it
     * again. A client that stops reading during a replay is still closed at that larger bound.
     */
    public static final int REPLAY_ALLOWANCE_FACTOR = 8;
    /** WebSocket close reasons are at most 123 bytes. */
    private static final int MAX_CLOSE_REASON = 120;
    /** A close frame without a status code (RFC 6455 section 7.4.1): reported, never sent. */
    private static final int NO_STATUS = 1005;

    private static final ByteBuf PING = WireFrames.constant(new ServerFrame.Ping());

    private final Channel channel;
    private final EventLoop loop;
    private final GatewayMetrics metrics;
    private final int maxFrame;
    private final long outboundBytes;
    private final Runnable flushTask = this::flushNow;
    private Session session;
    private boolean flushScheduled;
    private boolean writesStopped;
    /** Bytes of recovery replay written since the outbound buffer was last below its low-water mark. */
    private long replayAllowance;

    private CompositeByteBuf fragments;
    /** Whether the close frame was sent; from then on what arrives is dropped. */
    private boolean closing;
    /** Bytes of frames read and dropped since the close frame was sent. */
    private long droppedWhileClosing;

    private ScheduledFuture<?> grace;
    /** The code the inbound ended with, 0 before it did. */
    private int endCode;
    /** The code of the peer's close frame, 0 before one came. */
    private volatile int peerCloseCode;
    /** The close code of a violation the WebSocket decoder found (it closes the connection itself), 0 before one. */
    private volatile int violationCode;

    public WebSocketConnection(Channel channel, GatewayConfig config, GatewayMetrics metrics) {
        this.channel = channel;
        this.loop = channel.eventLoop();
        this.metrics = metrics;
        this.maxFrame = config.maxFrame();
        this.outboundBytes = config.outboundBytes();
    }

    /** Serves {@code session} on this connection; completes when it is closed. */
    public Mono<Void> run(Session session, WebsocketInbound in) {
        this.session = session;
        session.start();
        channel.closeFuture().addListener(f -> onClosed());
        // The close code is the peer's only when the peer sent a close frame: seen here, before reactor-netty, which
        // reports its own closes (1000 once the handler ends, 1002 after a failed write) through the same status.
        if (channel.pipeline().get(NettyPipeline.ReactiveBridge) != null) {
            channel.pipeline().addBefore(NettyPipeline.ReactiveBridge, "switchboard.peerClose", new PeerClose());
        }
        return in.receiveFrames()
                // Without a close frame of the peer's the connection was lost: 1006, resumable.
                .doOnComplete(() -> inboundEnded(null))
                .doOnError(this::inboundEnded)
                .mapNotNull(this::read)
                .concatMap(session::process, MAX_QUEUED_REQUESTS)
                .onErrorResume(e -> {
                    if (!(e instanceof CorruptedWebSocketFrameException)) {
                        log.debug("Connection {} ended with {}", session.id(), e.toString());
                    }
                    return Mono.empty();
                })
                .then();
    }

    // ---------------------------------------------------------------- inbound

    /** Reads a frame as it arrives: counted, reassembled, answered (pings). Null when nothing is to be done. */
    private Inbound read(WebSocketFrame frame) {
        if (closing) {
            // Read and dropped while the client has yet to see the close frame (closing with input unread would
            // reset the connection and lose the close frame on its side); a client that goes on sending past the
            // outbound bound's worth of bytes is not waited for.
            droppedWhileClosing += frame.content().readableBytes() + 2;
            if (droppedWhileClosing > outboundBytes) {
                channel.close();
            }
            return null;
        }
        if (!session.arrived()) {
            return null;
        }
        if (frame instanceof TextWebSocketFrame t) {
            if (!t.isFinalFragment()) {
                releaseFragments();
                fragments = channel.alloc().compositeBuffer();
                fragments.addComponent(true, t.content().retain());
                return null;
            }
            return session.textArrived(t.text());
        } else if (frame instanceof ContinuationWebSocketFrame c) {
            if (fragments == null) {
                session.close(CloseCodes.BINARY_FRAME, "binary frames are not accepted");
                return null;
            }
            if (fragments.readableBytes() + c.content().readableBytes() > maxFrame) {
                releaseFragments();
                session.close(CloseCodes.FRAME_TOO_BIG, "message larger than " + maxFrame + " bytes");
                return null;
            }
            fragments.addComponent(true, c.content().retain());
            if (!c.isFinalFragment()) {
                return null;
            }
            String text = fragments.toString(StandardCharsets.UTF_8);
            releaseFragments();
            return session.textArrived(text);
        } else if (frame instanceof BinaryWebSocketFrame) {
            session.close(CloseCodes.BINARY_FRAME, "binary frames are not accepted; send JSON in text frames");
        } else if (frame instanceof PingWebSocketFrame ping) {
            if (session.controlArrived()) {
                writeWire(WireFrames.pong(channel.alloc(), ping.content()));
            }
        } else {
            session.controlArrived();
        }
        return null;
    }

    /** The inbound ended, by {@code error} or (null) completion: its close code, unless one is known already. */
    private void inboundEnded(Throwable error) {
        if (endCode == 0) {
            endCode = error instanceof CorruptedWebSocketFrameException c
                    ? c.closeStatus().code()
                    : lostOrPeerCode();
        }
    }

    /**
     * The code of a violation the WebSocket decoder closed the connection for, else of the peer's close frame, or
     * 1006 when neither: the connection was lost.
     */
    private int lostOrPeerCode() {
        int violation = violationCode;
        if (violation != 0) {
            return violation;
        }
        int peer = peerCloseCode;
        return peer != 0 ? peer : CloseCodes.ABNORMAL;
    }

    /**
     * Notes the code of the peer's close frame as it passes, answers a close frame with an invalid code with 1002
     * (RFC 6455 section 7.4), and notes the code of a violation the WebSocket decoder found (1002, 1007, 1009).
     */
    private final class PeerClose extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext c, Object msg) {
            if (msg instanceof CloseWebSocketFrame f && peerCloseCode == 0) {
                int code = f.statusCode();
                if (code != -1 && !WebSocketCloseStatus.isValidStatusCode(code)) {
                    f.release();
                    peerCloseCode = CloseCodes.WEBSOCKET_PROTOCOL_ERROR;
                    session.close(CloseCodes.WEBSOCKET_PROTOCOL_ERROR, "invalid close code " + code, true);
                    return;
                }
                peerCloseCode = code == -1 ? NO_STATUS : code;
            }
            c.fireChannelRead(msg);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext c, Throwable cause) {
            if (cause instanceof CorruptedWebSocketFrameException e) {
                // The decoder reads nothing more from this connection: close it with the violation's code.
                if (violationCode == 0) {
                    violationCode = e.closeStatus().code();
                }
                session.close(e.closeStatus().code(), String.valueOf(e.getMessage()), true);
                return;
            }
            c.fireExceptionCaught(cause);
        }
    }

    private void onClosed() {
        if (grace != null) {
            grace.cancel(false);
            grace = null;
        }
        releaseFragments();
        session.closed(endCode != 0 ? endCode : lostOrPeerCode());
    }

    private void releaseFragments() {
        if (fragments != null) {
            fragments.release();
            fragments = null;
        }
    }

    // ---------------------------------------------------------------- outbound

    @Override
    public void write(ServerFrame frame) {
        if (writesStopped || !channel.isActive()) {
            return;
        }
        metrics.framesOut(frame.type(), 1);
        writeWire(WireFrames.encode(channel.alloc(), frame));
    }

    /** Queues wire bytes; closes the connection with 4004 (through the session) when too much is pending. */
    @Override
    public void writeWire(ByteBuf wire) {
        if (writesStopped || !channel.isActive()) {
            wire.release();
            return;
        }
        channel.write(wire, channel.voidPromise());
        if (channel.isWritable()) {
            replayAllowance = 0;
        } else if (replayAllowance == 0 || pendingOutboundBytes() > outboundBytes + replayAllowance) {
            session.slowConsumer();
            return;
        }
        scheduleFlush();
    }

    /**
     * Queues wire bytes of a recovery replay: they may go past the outbound bound, up to
     * {@link #REPLAY_ALLOWANCE_FACTOR} times it, until the client has read them.
     */
    @Override
    public void writeReplayWire(ByteBuf wire) {
        if (writesStopped || !channel.isActive()) {
            wire.release();
            return;
        }
        replayAllowance = Math.min(replayAllowance + wire.readableBytes(), REPLAY_ALLOWANCE_FACTOR * outboundBytes);
        channel.write(wire, channel.voidPromise());
        if (!channel.isWritable() && pendingOutboundBytes() > outboundBytes + replayAllowance) {
            session.slowConsumer();
            return;
        }
        scheduleFlush();
    }

    @Override
    public void writeReplay(ServerFrame frame) {
        if (writesStopped || !channel.isActive()) {
            return;
        }
        metrics.framesOut(frame.type(), 1);
        writeReplayWire(WireFrames.encode(channel.alloc(), frame));
    }

    @Override
    public void ping() {
        metrics.framesOut(ServerFrame.Ping.TYPE, 1);
        writeWire(PING.duplicate());
    }

    @Override
    public void stopWrites() {
        writesStopped = true;
    }

    private long pendingOutboundBytes() {
        ChannelOutboundBuffer buffer = channel.unsafe().outboundBuffer();
        return buffer == null ? 0 : buffer.totalPendingWriteBytes();
    }

    private void scheduleFlush() {
        if (!flushScheduled) {
            flushScheduled = true;
            loop.execute(flushTask);
        }
    }

    private void flushNow() {
        flushScheduled = false;
        channel.flush();
    }

    /**
     * Sends a close frame with {@code code} and half-closes, keeping on reading until the client answers (closing
     * the socket while the client still sends would reset the connection and lose the close frame on its side);
     * cuts the connection if the client has not closed it within {@link #CLOSE_GRACE_MS}. With {@code cut},
     * closes as soon as the frame is written: after a violation the WebSocket decoder reads nothing more.
     */
    @Override
    public void close(int code, String reason, boolean cut) {
        closing = true;
        String shortReason = reason.length() <= MAX_CLOSE_REASON ? reason : reason.substring(0, MAX_CLOSE_REASON);
        channel.writeAndFlush(new CloseWebSocketFrame(code, shortReason)).addListener(f -> {
            if (f.isSuccess() && !cut && channel instanceof DuplexChannel duplex) {
                duplex.shutdownOutput();
            } else {
                channel.close();
            }
        });
        grace = loop.schedule(
                () -> {
                    channel.close();
                },
                CLOSE_GRACE_MS,
                TimeUnit.MILLISECONDS);
    }

    @Override
    public boolean isOpen() {
        return channel.isOpen();
    }
}
