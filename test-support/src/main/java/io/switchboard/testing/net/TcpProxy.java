package io.switchboard.testing.net;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A loopback TCP proxy the fault tests control: clients connect to it instead of the gateway, and the test cuts
 * their connections (a reset on both sides, as a lost mobile network looks to each end), points new connections
 * at another instance, stalls the server-to-client direction (a reader that stopped reading), or refuses new
 * connections while noting when each attempt came (a server that is gone, for reconnect-storm tests).
 */
public final class TcpProxy implements AutoCloseable {
    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
    private final Set<Link> links = ConcurrentHashMap.newKeySet();
    private final List<Long> refusedAtNanos = new CopyOnWriteArrayList<>();
    private final Channel server;
    private volatile int targetPort;
    private volatile boolean refusing;
    private volatile boolean stalled;

    private TcpProxy(int targetPort) {
        this.targetPort = targetPort;
        this.server = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 4096)
                .childOption(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        accepted(ch);
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0))
                .syncUninterruptibly()
                .channel();
    }

    /** A proxy to the gateway listening on {@code targetPort} of this machine. */
    public static TcpProxy to(int targetPort) {
        return new TcpProxy(targetPort);
    }

    public int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    /** The gateway's WebSocket endpoint, through this proxy. */
    public URI wsUri() {
        return URI.create("ws://127.0.0.1:" + port() + "/ws");
    }

    /** New connections go to {@code port} from now on; open ones stay where they are. */
    public void retarget(int port) {
        targetPort = port;
    }

    /** How many client connections are open through the proxy. */
    public int openLinks() {
        return links.size();
    }

    /** Resets every open connection on both sides, without a close frame or FIN: each end sees a lost network. */
    public void cutAll() {
        for (Link link : List.copyOf(links)) {
            link.reset();
        }
    }

    /**
     * From now on (until {@link #accept()}), every new connection is reset as soon as it is accepted, and the
     * time it came is noted: a server that is gone, without the client's attempts going unseen.
     */
    public void refuse() {
        refusing = true;
    }

    public void accept() {
        refusing = false;
    }

    /** {@link System#nanoTime()} of every connection refused so far, in arrival order. */
    public List<Long> refusedAtNanos() {
        return List.copyOf(refusedAtNanos);
    }

    /** Stops forwarding from the servers to the clients, in every connection: the clients stop reading. */
    public void stall() {
        stalled = true;
        for (Link link : links) {
            link.upstream.eventLoop().execute(() -> link.upstream.config().setAutoRead(false));
        }
    }

    /** Forwards from the servers to the clients again, beginning with what waited. */
    public void unstall() {
        stalled = false;
        for (Link link : links) {
            link.upstream.eventLoop().execute(() -> {
                link.upstream.config().setAutoRead(true);
                link.upstream.read();
            });
        }
    }

    private void accepted(SocketChannel client) {
        if (refusing) {
            refusedAtNanos.add(System.nanoTime());
            client.config().setOption(ChannelOption.SO_LINGER, 0);
            client.close();
            return;
        }
        new Bootstrap()
                .group(client.eventLoop())
                .channel(NioSocketChannel.class)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.SO_RCVBUF, 16 * 1024)
                .handler(new ChannelInboundHandlerAdapter())
                .connect(new InetSocketAddress("127.0.0.1", targetPort))
                .addListener((ChannelFutureListener) f -> {
                    if (!f.isSuccess()) {
                        client.config().setOption(ChannelOption.SO_LINGER, 0);
                        client.close();
                        return;
                    }
                    Link link = new Link(client, f.channel());
                    links.add(link);
                    client.pipeline().addLast(new Relay(link, f.channel(), true));
                    f.channel().pipeline().addLast(new Relay(link, client, false));
                    client.closeFuture().addListener(x -> link.close());
                    f.channel().closeFuture().addListener(x -> link.close());
                    client.config().setAutoRead(true);
                    client.read();
                    if (!stalled) {
                        f.channel().config().setAutoRead(true);
                        f.channel().read();
                    }
                });
    }

    @Override
    public void close() {
        cutAll();
        server.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** One client connection and its connection to the gateway. */
    private final class Link {
        final Channel downstream;
        final Channel upstream;

        Link(Channel downstream, Channel upstream) {
            this.downstream = downstream;
            this.upstream = upstream;
        }

        void reset() {
            links.remove(this);
            for (Channel ch : List.of(downstream, upstream)) {
                ch.eventLoop().execute(() -> {
                    if (ch.isOpen()) {
                        ch.config().setOption(ChannelOption.SO_LINGER, 0);
                        ch.close();
                    }
                });
            }
        }

        /** One side closed: finish writing what it sent to the other side, then close that too. */
        void close() {
            links.remove(this);
            for (Channel ch : List.of(downstream, upstream)) {
                if (ch.isActive()) {
                    ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
                }
            }
        }
    }

    /** Forwards what one side reads to the other, reading only as fast as the other side takes it. */
    private final class Relay extends ChannelInboundHandlerAdapter {
        private final Link link;
        private final Channel peer;
        private final boolean fromClient;

        Relay(Link link, Channel peer, boolean fromClient) {
            this.link = link;
            this.peer = peer;
            this.fromClient = fromClient;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            peer.writeAndFlush(msg).addListener(f -> {
                if (!f.isSuccess()) {
                    link.reset();
                }
            });
            if (!peer.isWritable()) {
                ctx.channel().config().setAutoRead(false);
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            // This side drained: the peer may be read again, unless the peer is a stalled server.
            if (ctx.channel().isWritable() && (!fromClient || !stalled)) {
                peer.config().setAutoRead(true);
                peer.read();
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            link.reset();
        }
    }
}
