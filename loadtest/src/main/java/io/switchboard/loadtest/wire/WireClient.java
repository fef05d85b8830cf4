package io.switchboard.loadtest.wire;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * The benchmark's load generator: plain Netty WebSocket connections (epoll where available) that speak just enough
 * of one {@link Dialect} to measure, and parse a delivery by scanning its bytes for two numbers instead of decoding
 * its JSON. It is the lightest honest client we have: per delivery it does one scan and one histogram record, so
 * the server, not the client, is what the figures describe (the runner reports the client's CPU beside the
 * server's to show it).
 *
 * <p>Every connection's events reach one {@link Listener}, on the connection's event-loop thread.
 */
public final class WireClient implements AutoCloseable {
    /** How long {@link Conn#closeGracefully} waits for the server to close before closing itself. */
    static final java.time.Duration CLOSE_WAIT = java.time.Duration.ofSeconds(5);

    /** Loopback source addresses used in turn, so that one address's ephemeral ports never run out. */
    public static final int CONNECTIONS_PER_SOURCE_ADDRESS = 20_000;

    public static final int HANDSHAKE_TIMEOUT_MS = 30_000;

    /** Which server the connections talk to. */
    public enum Dialect {
        /** The Switchboard protocol: {@code hello}, {@code welcome}, {@code ping}/{@code pong}, JSON frames. */
        SWITCHBOARD("/ws"),
        /** Socket.IO 5 over Engine.IO 4, WebSocket transport only. */
        SOCKET_IO("/socket.io/?EIO=4&transport=websocket");

        private final String path;

        Dialect(String path) {
            this.path = path;
        }

        public String path() {
            return path;
        }
    }

    /** What the scenarios hear from their connections; every method runs on the connection's event loop. */
    public interface Listener {
        /** {@code welcome} (Switchboard) or the namespace's connect reply (Socket.IO). */
        void ready(Conn c, String text);

        /** A channel delivery: its send time ({@link System#nanoTime}) and channel offset (-1 for Socket.IO). */
        void delivered(Conn c, long sentNanos, long offset);

        /** An {@code ack} or {@code error} of a request with an id (Switchboard), or an ack (Socket.IO). */
        void replied(Conn c, long id, boolean error, String text);

        /** The connection failed before it was ready, or closed after. */
        void closed(Conn c, boolean wasReady, String cause);
    }

    private final EventLoopGroup group;
    private final Bootstrap bootstrap;
    private final Listener listener;
    private final Dialect dialect;
    private final String transport;

    private final int sourceBlock;

    /**
     * @param sourceBlock the third byte of this client's loopback source addresses ({@code 127.0.block.x}), 1 to
     *     254: a new block for every client of a run, so that ports a former client left in TIME_WAIT never collide
     */
    public WireClient(Dialect dialect, int threads, int sourceBlock, Listener listener) {
        this.dialect = dialect;
        this.sourceBlock = sourceBlock;
        this.listener = listener;
        boolean epoll = Epoll.isAvailable();
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        this.transport = epoll ? "epoll" : "nio";
        this.group = new MultiThreadIoEventLoopGroup(threads, io);
        this.bootstrap = new Bootstrap()
                .group(group)
                .channel(epoll ? EpollSocketChannel.class : NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, HANDSHAKE_TIMEOUT_MS);
    }

    /** Runs {@code task} on one of the client's event loops after {@code delayMs}. */
    public void schedule(Runnable task, long delayMs) {
        group.next().schedule(task, delayMs, TimeUnit.MILLISECONDS);
    }

    /** Netty's transport in use, for the result. */
    public String transport() {
        return transport;
    }

    /**
     * Opens connection number {@code index} to {@code server} (its {@code host:port}; the dialect adds the path),
     * from loopback source address {@code 127.0.block.(2 + index / CONNECTIONS_PER_SOURCE_ADDRESS)}.
     */
    public Conn open(int index, URI server, Object attachment) {
        Conn conn = new Conn(index, attachment);
        URI ws = URI.create("ws://" + server.getHost() + ":" + server.getPort() + dialect.path());
        WebSocketClientProtocolConfig config = WebSocketClientProtocolConfig.newBuilder()
                .webSocketUri(ws)
                .handshakeTimeoutMillis(HANDSHAKE_TIMEOUT_MS)
                .dropPongFrames(true)
                // No close frame from Netty on Channel.close(): cut() must look like a network loss, and
                // closeGracefully() writes its own.
                .sendCloseFrame(null)
                .absoluteUpgradeUrl(false)
                .maxFramePayloadLength(1 << 20)
                .build();
        Bootstrap b = bootstrap.clone().handler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
                ch.pipeline()
                        .addLast(
                                new HttpClientCodec(),
                                new HttpObjectAggregator(16 * 1024),
                                new WebSocketClientProtocolHandler(config),
                                conn);
            }
        });
        conn.connectStarted = System.nanoTime();
        InetSocketAddress source =
                new InetSocketAddress("127.0." + sourceBlock + "." + (2 + index / CONNECTIONS_PER_SOURCE_ADDRESS), 0);
        b.connect(new InetSocketAddress(server.getHost(), server.getPort()), source)
                .addListener((ChannelFutureListener) f -> {
                    if (!f.isSuccess()) {
                        conn.fail("connect: " + f.cause());
                    }
                });
        return conn;
    }

    @Override
    public void close() {
        Future<?> f = group.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        f.awaitUninterruptibly(10, TimeUnit.SECONDS);
    }

    /** One connection, its state, and its handler in the pipeline. */
    public final class Conn extends ChannelInboundHandlerAdapter {
        public final int index;
        public final Object attachment;
        volatile Channel channel;
        volatile long connectStarted;
        volatile long readyAt;
        private volatile boolean ready;
        private boolean closedReported;
        /** Heartbeat pings answered on this connection. */
        public volatile int pings;

        Conn(int index, Object attachment) {
            this.index = index;
            this.attachment = attachment;
        }

        public boolean isReady() {
            return ready;
        }

        /** Nanoseconds from the socket's connect call to {@code welcome}. */
        public long connectNanos() {
            return readyAt - connectStarted;
        }

        public boolean isOpen() {
            Channel ch = channel;
            return ch != null && ch.isActive();
        }

        public Channel channel() {
            return channel;
        }

        /** Writes one text frame without flushing; {@link #flush()} sends what was written. */
        public void write(String text) {
            Channel ch = channel;
            if (ch != null) {
                ch.write(new TextWebSocketFrame(text), ch.voidPromise());
            }
        }

        public void flush() {
            Channel ch = channel;
            if (ch != null) {
                ch.flush();
            }
        }

        public void send(String text) {
            Channel ch = channel;
            if (ch != null) {
                ch.writeAndFlush(new TextWebSocketFrame(text), ch.voidPromise());
            }
        }

        /**
         * Closes with a close frame (code 1000), as a well-behaved client leaving: the server answers it and closes
         * the connection. Closing the socket at once instead would reset it when frames are still unread, and the
         * reset may drop the close frame before the server reads it (the server then sees a lost connection, 1006,
         * which keeps the user resumable for the grace). Closed here too if the server has not after
         * {@link #CLOSE_WAIT}.
         */
        public void closeGracefully() {
            Channel ch = channel;
            if (ch != null && ch.isActive()) {
                ch.writeAndFlush(new CloseWebSocketFrame(1000, "benchmark over"));
                ch.eventLoop().schedule(() -> ch.close(), CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS);
            }
        }

        /** Drops the TCP connection with a reset and no close frame, as a network loss does. */
        public void cut() {
            Channel ch = channel;
            if (ch != null && ch.isActive()) {
                try {
                    ch.config().setOption(ChannelOption.SO_LINGER, 0);
                } catch (RuntimeException e) {
                    // closed meanwhile: nothing to cut
                }
                ch.close();
            }
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) throws Exception {
            channel = ctx.channel();
            super.channelActive(ctx);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt == WebSocketClientProtocolHandler.ClientHandshakeStateEvent.HANDSHAKE_COMPLETE) {
                if (dialect == Dialect.SWITCHBOARD) {
                    // hello is sent by the listener's first frame: the scenario decides (resume or not).
                    listenerHandshake(this);
                }
                // Socket.IO: the server speaks first (Engine.IO open packet).
            } else if (evt == WebSocketClientProtocolHandler.ClientHandshakeStateEvent.HANDSHAKE_TIMEOUT) {
                fail("WebSocket handshake timed out");
            }
            super.userEventTriggered(ctx, evt);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof TextWebSocketFrame frame)) {
                io.netty.util.ReferenceCountUtil.release(msg);
                return;
            }
            try {
                ByteBuf b = frame.content();
                if (dialect == Dialect.SWITCHBOARD) {
                    readSwitchboard(b);
                } else {
                    readSocketIo(b);
                }
            } finally {
                frame.release();
            }
        }

        private void readSwitchboard(ByteBuf b) {
            // The gateway writes "type" first: {"type":"message", ... "offset":N, ... "data":{"t":NANOS,...}}
            if (startsWith(b, MESSAGE)) {
                listener.delivered(this, number(b, T, 0), number(b, OFFSET, 0));
            } else if (startsWith(b, PING)) {
                pings++;
                send("{\"type\":\"pong\"}");
            } else if (startsWith(b, ACK) || startsWith(b, ERROR)) {
                listener.replied(this, number(b, ID, 0), startsWith(b, ERROR), b.toString(StandardCharsets.UTF_8));
            } else if (startsWith(b, WELCOME)) {
                markReady(b.toString(StandardCharsets.UTF_8));
            } else {
                listener.replied(this, -1, false, b.toString(StandardCharsets.UTF_8));
            }
        }

        private void readSocketIo(ByteBuf b) {
            int r = b.readerIndex();
            byte first = b.getByte(r);
            if (first == '4' && b.readableBytes() > 1) {
                byte second = b.getByte(r + 1);
                if (second == '2') { // event: 42["message","room",{"t":...}]
                    listener.delivered(this, number(b, T, 0), -1);
                } else if (second == '3') { // ack: 43<id>[...]
                    long id = 0;
                    for (int i = r + 2; i < b.writerIndex() && Character.isDigit(b.getByte(i)); i++) {
                        id = id * 10 + (b.getByte(i) - '0');
                    }
                    listener.replied(this, id, false, b.toString(StandardCharsets.UTF_8));
                } else if (second == '0') { // namespace connected: 40{"sid":...}
                    markReady(b.toString(StandardCharsets.UTF_8));
                } else {
                    listener.replied(this, -1, true, b.toString(StandardCharsets.UTF_8));
                }
            } else if (first == '2') { // Engine.IO ping: answer pong
                pings++;
                send("3");
            } else if (first == '0') { // Engine.IO open: connect to the default namespace
                send("40");
            }
        }

        private void markReady(String text) {
            if (!ready) {
                readyAt = System.nanoTime();
                ready = true;
            }
            listener.ready(this, text);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            fail("closed by the server or the network");
            super.channelInactive(ctx);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(cause.toString());
            ctx.close();
        }

        void fail(String cause) {
            synchronized (this) {
                if (closedReported) {
                    return;
                }
                closedReported = true;
            }
            listener.closed(this, ready, cause);
        }
    }

    /** Called once the WebSocket is up, Switchboard dialect: the listener sends {@code hello}. */
    private void listenerHandshake(Conn c) {
        if (listener instanceof HelloSender h) {
            c.send(h.hello(c));
        } else {
            c.send("{\"type\":\"hello\",\"v\":1}");
        }
    }

    /** A {@link Listener} that writes its own {@code hello} (to resume, for instance). */
    public interface HelloSender {
        String hello(Conn c);
    }

    private static final byte[] MESSAGE = ascii("{\"type\":\"message\"");
    private static final byte[] PING = ascii("{\"type\":\"ping\"");
    private static final byte[] ACK = ascii("{\"type\":\"ack\"");
    private static final byte[] ERROR = ascii("{\"type\":\"error\"");
    private static final byte[] WELCOME = ascii("{\"type\":\"welcome\"");
    private static final byte[] T = ascii("\"t\":");
    private static final byte[] OFFSET = ascii("\"offset\":");
    private static final byte[] ID = ascii("\"id\":");

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    static boolean startsWith(ByteBuf b, byte[] prefix) {
        int r = b.readerIndex();
        if (b.readableBytes() < prefix.length) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if (b.getByte(r + i) != prefix[i]) {
                return false;
            }
        }
        return true;
    }

    /** The non-negative integer after the first occurrence of {@code key} in {@code b}, or {@code otherwise}. */
    static long number(ByteBuf b, byte[] key, long otherwise) {
        int end = b.writerIndex() - key.length;
        byte k0 = key[0];
        outer:
        for (int i = b.readerIndex(); i <= end; i++) {
            if (b.getByte(i) != k0) {
                continue;
            }
            for (int j = 1; j < key.length; j++) {
                if (b.getByte(i + j) != key[j]) {
                    continue outer;
                }
            }
            long v = 0;
            boolean any = false;
            for (int p = i + key.length; p < b.writerIndex(); p++) {
                byte c = b.getByte(p);
                if (c < '0' || c > '9') {
                    break;
                }
                v = v * 10 + (c - '0');
                any = true;
            }
            return any ? v : otherwise;
        }
        return otherwise;
    }
}
