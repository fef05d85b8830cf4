package io.switchboard.gateway.transport;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.UnpooledHeapByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.ContinuationWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocket13FrameDecoder;
import io.netty.handler.codec.http.websocketx.WebSocket13FrameEncoder;
import io.netty.handler.codec.http.websocketx.WebSocketCloseStatus;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.switchboard.gateway.channel.ChannelHub;
import io.switchboard.gateway.channel.ChannelService;
import io.switchboard.gateway.channel.LocalBroker;
import io.switchboard.gateway.channel.MemoryHistory;
import io.switchboard.gateway.channel.Occupancy;
import io.switchboard.gateway.config.GatewayConfig;
import io.switchboard.gateway.id.Ids;
import io.switchboard.gateway.match.MatchService;
import io.switchboard.gateway.metrics.GatewayMetrics;
import io.switchboard.gateway.session.Session;
import io.switchboard.gateway.session.SessionContext;
import io.switchboard.gateway.support.MemorySessions;
import io.switchboard.gateway.wire.EventLoops;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ServerFrame;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import reactor.netty.ByteBufFlux;
import reactor.netty.Connection;
import reactor.netty.NettyInbound;
import reactor.netty.NettyPipeline;
import reactor.netty.http.websocket.WebsocketInbound;
import reactor.test.scheduler.VirtualTimeScheduler;

/**
 * The Netty side of the {@code Outbound} port, on an {@link EmbeddedChannel} as Netty's own websocketx codec tests
 * are: what goes out is decoded as a client's WebSocket would decode it and checked frame by frame, close frames with
 * their code. The outbound bound and the replay allowance (docs/protocol.md section 7), flush batching, the close
 * handshake and its grace (section 8, "Closing"), and the peer's frames that the connection handles itself (section
 * 1), on the embedded loop's virtual time. Every buffer the connection allocates comes from a tracking allocator:
 * each test ends with {@code finishAndReleaseAll()} and the check that none was left unreleased.
 */
class WebSocketConnectionUnitTests {
    private static final int BOUND = 10_000;
    /**
     * Frames of this size: three stay within {@link #BOUND} (with the bytes Netty counts per pending message), a
     * fourth goes past it.
     */
    private static final int FRAME = 3_000;

    private final GatewayConfig config = GatewayConfig.fromEnvironment(
            Map.of("SWITCHBOARD_OUTBOUND_BYTES", Integer.toString(BOUND), "SWITCHBOARD_MAX_FRAME", "1024"));
    private final TrackingAllocator alloc = new TrackingAllocator();
    private final Peer peer = new Peer();
    private final HalfClosableChannel channel = new HalfClosableChannel();
    /** Decodes what the connection sends, as the client's WebSocket would. */
    private final EmbeddedChannel client = new EmbeddedChannel(new WebSocket13FrameDecoder(false, false, 1 << 20));

    private final VirtualTimeScheduler time = VirtualTimeScheduler.create();
    private final LongSupplier nanoTime = () -> time.now(TimeUnit.NANOSECONDS);
    private final GatewayMetrics metrics = new GatewayMetrics();
    private final EventLoops loops = new EventLoops("connection-test", 1);
    private final Scheduler matchScheduler = Schedulers.newSingle("connection-test-match");
    private final FakeInbound inbound = new FakeInbound();
    private MatchService matches;
    private WebSocketConnection connection;
    private Disposable running;

    @BeforeEach
    void connect() {
        // The loop's clock moves only by advanceTimeBy: on the wall clock a slow machine would let a timer fall due
        // between two steps of a test (the 5 s close grace fired in a "4,999 ms later, still open" check).
        channel.freezeTime();
        channel.config().setAllocator(alloc);
        // As GatewayServer sets them: unwritable past the bound.
        channel.config().setWriteBufferWaterMark(new WriteBufferWaterMark(BOUND / 2, BOUND));
        // The peer is nearest the socket; the encoder turns close frames into bytes, as on a real connection.
        channel.pipeline().addLast(peer, new WebSocket13FrameEncoder(false));
        // Where reactor-netty's bridge would be: the connection puts its close-frame watcher in front of it.
        channel.pipeline().addLast(NettyPipeline.ReactiveBridge, new ChannelOutboundHandlerAdapter());
        channel.pipeline().addLast(new LoopPass());
        connection = new WebSocketConnection(channel, config, metrics);
        running = connection.run(session(), inbound).subscribe();
    }

    @AfterEach
    void finish() {
        running.dispose();
        channel.finishAndReleaseAll();
        client.finishAndReleaseAll();
        if (matches != null) {
            matches.close();
        }
        matchScheduler.dispose();
        loops.close();
        time.dispose();
        metrics.close();
        assertThat(alloc.leaked()).as("buffers never released").isEmpty();
    }

    // ---------------------------------------------------------------- flush batching

    @Test
    void writesOfOneLoopPassGoOutInOneFlushAfterIt() {
        int flushesDuringThePass = inOnePass(() -> {
            connection.write(new ServerFrame.Ping());
            connection.writeWire(text("x".repeat(10)));
            connection.write(ServerFrame.Ack.of(7));
        });

        assertThat(flushesDuringThePass).isZero();
        assertThat(peer.flushes).isEqualTo(1);
        assertThat(sent())
                .containsExactly("text {\"type\":\"ping\"}", "text xxxxxxxxxx", "text {\"type\":\"ack\",\"id\":7}");
    }

    @Test
    void eachLoopPassThatWritesFlushesOnce() {
        inOnePass(connection::ping);
        inOnePass(connection::ping);
        inOnePass(() -> {});

        assertThat(peer.flushes).isEqualTo(2);
        assertThat(sent()).containsExactly("text {\"type\":\"ping\"}", "text {\"type\":\"ping\"}");
    }

    // ---------------------------------------------------------------- outbound bound: 4004

    @Test
    void pendingBytesWithinTheBoundKeepAClientThatIsNotReading() {
        peer.stalled = true;
        for (int i = 0; i < 3; i++) {
            connection.writeWire(text(payload(FRAME)));
            channel.runPendingTasks();
        }
        assertThat(channel.isWritable()).isTrue();

        peer.read();
        assertThat(sent()).hasSize(3).allMatch(f -> f.equals("text " + payload(FRAME)));
        assertThat(channel.isOpen()).isTrue();
        assertThat(channel.isOutputShutdown()).isFalse();
    }

    @Test
    void pendingBytesPastTheBoundCloseTheClientWith4004AndStopWrites() {
        peer.stalled = true;
        for (int i = 0; i < 4; i++) {
            connection.writeWire(text(payload(FRAME)));
            channel.runPendingTasks();
        }
        // Written nothing more once it is a slow consumer: released, never sent.
        connection.write(ServerFrame.Ack.of(1));
        connection.writeWire(text("late"));
        connection.ping();

        peer.read();
        List<String> sent = sent();
        assertThat(sent).hasSize(5);
        assertThat(sent.subList(0, 4)).allMatch(f -> f.equals("text " + payload(FRAME)));
        assertThat(sent.get(4)).isEqualTo("close 4004 slow consumer: more than " + BOUND + " bytes pending");
        assertThat(channel.isOutputShutdown()).isTrue();
        assertThat(counter("switchboard.slow.consumer.closes")).isEqualTo(1);
    }

    // ---------------------------------------------------------------- replay allowance

    @Test
    void aReplayMayGoPastTheBoundWhileTheClientReadsIt() {
        peer.stalled = true;
        for (int i = 0; i < 5; i++) {
            connection.writeReplayWire(text(payload(FRAME)));
        }
        connection.writeReplay(ServerFrame.Ack.of(2));
        // Live frames during the replay are held to the bound plus the allowance too.
        connection.writeWire(text("live"));
        channel.runPendingTasks();
        assertThat(channel.isWritable()).isFalse();

        peer.read();
        List<String> sent = sent();
        assertThat(sent).hasSize(7);
        assertThat(sent.subList(0, 5)).allMatch(f -> f.equals("text " + payload(FRAME)));
        assertThat(sent.subList(5, 7)).containsExactly("text {\"type\":\"ack\",\"id\":2}", "text live");
        assertThat(channel.isOutputShutdown()).isFalse();
    }

    @Test
    void aClientThatStopsReadingDuringAReplayIsClosedAtTheBoundTimesTheAllowanceFactorPlusOne() {
        peer.stalled = true;
        long replayed = 0;
        while (counter("switchboard.slow.consumer.closes") == 0 && replayed < 20L * BOUND) {
            connection.writeReplayWire(text(payload(FRAME)));
            replayed += FRAME;
        }
        // Closed once the pending bytes passed the bound plus the largest allowance, 8 times the bound.
        int largest = WebSocketConnection.REPLAY_ALLOWANCE_FACTOR * BOUND;
        assertThat(replayed).isGreaterThan(largest).isLessThanOrEqualTo(BOUND + largest + FRAME);
        peer.read();
        List<String> sent = sent();
        assertThat(sent.get(sent.size() - 1)).startsWith("close 4004 ");
    }

    @Test
    void theAllowanceEndsOnceTheClientHasReadTheReplay() {
        peer.stalled = true;
        for (int i = 0; i < 5; i++) {
            connection.writeReplayWire(text(payload(FRAME)));
        }
        peer.read();
        assertThat(sent()).hasSize(5);

        // Writable again: the bound is the bound.
        peer.stalled = true;
        for (int i = 0; i < 4; i++) {
            connection.writeWire(text(payload(FRAME)));
            channel.runPendingTasks();
        }
        peer.read();
        List<String> sent = sent();
        assertThat(sent).hasSize(5);
        assertThat(sent.get(4)).startsWith("close 4004 ");
    }

    // ---------------------------------------------------------------- close handshake and grace

    @Test
    void closeSendsTheCloseFrameHalfClosesAndWaitsForTheClient() {
        connection.close(CloseCodes.SESSION_REPLACED, "session replaced", false);

        assertThat(sent()).containsExactly("close 4002 session replaced");
        assertThat(channel.isOutputShutdown()).isTrue();
        assertThat(channel.isOpen()).isTrue();

        channel.advanceTimeBy(WebSocketConnection.CLOSE_GRACE_MS - 1, TimeUnit.MILLISECONDS);
        channel.runScheduledPendingTasks();
        assertThat(channel.isOpen()).isTrue();
    }

    @Test
    void aClientThatNeverAnswersTheCloseFrameIsCutAfterTheGrace() {
        connection.close(CloseCodes.NORMAL, "bye", false);
        channel.advanceTimeBy(WebSocketConnection.CLOSE_GRACE_MS - 1, TimeUnit.MILLISECONDS);
        channel.runScheduledPendingTasks();
        assertThat(channel.isOpen()).isTrue();

        channel.advanceTimeBy(1, TimeUnit.MILLISECONDS);
        channel.runScheduledPendingTasks();
        assertThat(channel.isOpen()).isFalse();
        assertThat(sent()).containsExactly("close 1000 bye");
    }

    @Test
    void aCutClosesAsSoonAsTheCloseFrameIsWritten() {
        connection.close(CloseCodes.INVALID_UTF8, "invalid UTF-8", true);

        assertThat(sent()).containsExactly("close 1007 invalid UTF-8");
        assertThat(channel.isOpen()).isFalse();
        assertThat(channel.isOutputShutdown()).isFalse();
    }

    @Test
    void aCloseReasonIsCutTo120BytesToFitTheCloseFrame() {
        connection.close(CloseCodes.PROTOCOL_ERROR, "r".repeat(200), true);

        assertThat(sent()).containsExactly("close 4000 " + "r".repeat(120));
    }

    @Test
    void framesReadAfterTheCloseFrameAreDroppedUntilTheyPassTheBound() {
        connection.close(CloseCodes.NORMAL, "bye", false);
        assertThat(sent()).containsExactly("close 1000 bye");

        receive(new TextWebSocketFrame(true, 0, content("p".repeat(6_000))));
        receive(new PingWebSocketFrame(alloc.buffer().writeBytes(new byte[] {1, 2})));
        channel.runPendingTasks();
        assertThat(channel.isOpen()).isTrue();
        assertThat(sent()).as("the ping is not answered").isEmpty();

        receive(new TextWebSocketFrame(true, 0, content("p".repeat(6_000))));
        assertThat(channel.isOpen()).isFalse();
    }

    // ---------------------------------------------------------------- the peer's frames

    @Test
    void aPingIsAnsweredWithAPongCarryingItsPayload() {
        receive(new PingWebSocketFrame(alloc.buffer().writeBytes("are you there".getBytes(StandardCharsets.UTF_8))));
        channel.runPendingTasks();

        assertThat(sent()).containsExactly("pong are you there");
    }

    @Test
    void aFragmentedMessageIsReassembledBeforeTheSessionReadsIt() {
        receive(new TextWebSocketFrame(false, 0, content("{\"type\":\"hel")));
        receive(new ContinuationWebSocketFrame(true, 0, content("lo\",\"v\":1}")));
        channel.runPendingTasks();

        assertThat(sent()).singleElement().asString().startsWith("text {\"type\":\"welcome\"");
    }

    @Test
    void aFragmentedMessageLargerThanTheMaxFrameClosesWith1009() {
        receive(new TextWebSocketFrame(false, 0, content("p".repeat(600))));
        receive(new ContinuationWebSocketFrame(false, 0, content("p".repeat(600))));

        assertThat(sent()).containsExactly("close 1009 message larger than 1024 bytes");
    }

    @Test
    void aBinaryFrameClosesWith1003() {
        receive(new BinaryWebSocketFrame(alloc.buffer().writeBytes(new byte[] {1})));

        assertThat(sent()).containsExactly("close 1003 binary frames are not accepted; send JSON in text frames");
    }

    @Test
    void aCloseFrameWithAnInvalidCodeIsAnsweredWith1002AndCut() {
        ByteBuf body = alloc.buffer().writeShort(999);
        channel.writeInbound(new CloseWebSocketFrame(true, 0, body));

        assertThat(sent()).containsExactly("close 1002 invalid close code 999");
        assertThat(channel.isOpen()).isFalse();
        assertThat(counter("switchboard.connections.closed", "code", "1002")).isEqualTo(1);
    }

    @Test
    void theConnectionClosedByTheClientWithoutACloseFrameCountsAs1006() {
        channel.close();

        assertThat(counter("switchboard.connections.closed", "code", "1006")).isEqualTo(1);
        assertThat(connection.isOpen()).isFalse();
    }

    // ---------------------------------------------------------------- helpers

    /**
     * Runs {@code work} as one pass of the channel's loop (an event handled, as a frame read is) and returns the
     * flushes made during it. The embedded loop runs its queued tasks, the connection's flush among them, after each
     * outermost channel operation, as a real loop runs them after the current task.
     */
    private int inOnePass(Runnable work) {
        int before = peer.flushes;
        int[] during = new int[1];
        channel.writeInbound((Runnable) () -> {
            work.run();
            during[0] = peer.flushes - before;
        });
        return during[0];
    }

    /** The frames the client received since the last call: "text PAYLOAD", "pong PAYLOAD", "close CODE REASON". */
    private List<String> sent() {
        for (Object out; (out = channel.readOutbound()) != null; ) {
            client.writeInbound(out);
        }
        List<String> frames = new ArrayList<>();
        for (WebSocketFrame f; (f = client.readInbound()) != null; ) {
            try {
                if (f instanceof TextWebSocketFrame t) {
                    frames.add("text " + t.text());
                } else if (f instanceof PongWebSocketFrame p) {
                    frames.add("pong " + p.content().toString(StandardCharsets.UTF_8));
                } else if (f instanceof CloseWebSocketFrame c) {
                    frames.add("close " + c.statusCode() + " " + c.reasonText());
                } else {
                    frames.add(f.toString());
                }
            } finally {
                f.release();
            }
        }
        return frames;
    }

    /** Feeds a frame as reactor-netty would, and releases it after, as reactor-netty does. */
    private void receive(WebSocketFrame frame) {
        try {
            inbound.frames.tryEmitNext(frame).orThrow();
        } finally {
            frame.release();
        }
    }

    /** A WebSocket text frame as wire bytes, as WireFrames writes them. */
    private ByteBuf text(String payload) {
        byte[] bytes = payload.getBytes(StandardCharsets.UTF_8);
        ByteBuf wire = alloc.buffer(bytes.length + 4).writeByte(0x81);
        if (bytes.length < 126) {
            wire.writeByte(bytes.length);
        } else {
            wire.writeByte(126).writeShort(bytes.length);
        }
        return wire.writeBytes(bytes);
    }

    /** The payload of a frame the client sends. */
    private ByteBuf content(String payload) {
        return alloc.buffer().writeBytes(payload.getBytes(StandardCharsets.UTF_8));
    }

    /** A payload that makes a wire frame of {@code wireBytes} bytes (4 of them the header). */
    private static String payload(int wireBytes) {
        return wireBytes < 130 ? "p".repeat(wireBytes) : "p".repeat(wireBytes - 4);
    }

    private double counter(String name, String... tags) {
        return metrics.registry().get(name).tags(tags).counter().count();
    }

    /** A session as the gateway makes one, its timers on virtual time that the tests never advance. */
    private Session session() {
        Ids ids = new Ids(new SplittableRandom(1));
        ChannelHub hub = new ChannelHub(loops, metrics);
        MemoryHistory history = new MemoryHistory(10, 60_000, nanoTime, ids);
        ChannelService channels = new ChannelService(hub, new LocalBroker(history, hub), history, Occupancy.NONE);
        MemorySessions parts = MemorySessions.create(config, channels, metrics, ids, nanoTime, matchScheduler);
        matches = parts.matches();
        SessionContext ctx = parts.context();
        return new Session(ctx, connection, time, 0);
    }

    /**
     * The socket's side of the channel: counts flushes, and while {@link #stalled} holds them back, as a socket
     * whose client does not read keeps the bytes pending in the channel's outbound buffer.
     */
    private static final class Peer extends ChannelOutboundHandlerAdapter {
        boolean stalled;
        int flushes;
        private ChannelHandlerContext ctx;

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public void flush(ChannelHandlerContext ctx) {
            flushes++;
            if (!stalled) {
                ctx.flush();
            }
        }

        /** The client reads again: what is pending goes out. */
        void read() {
            stalled = false;
            ctx.flush();
        }
    }

    /** Runs the {@link Runnable}s read, inside the channel's read, so that a test's writes share one loop pass. */
    private static final class LoopPass extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Runnable work) {
                work.run();
            } else {
                ctx.fireChannelRead(msg);
            }
        }
    }

    /** An embedded channel that half-closes as a TCP socket does, so that the close handshake takes its path. */
    private static final class HalfClosableChannel extends EmbeddedChannel implements DuplexChannel {
        private boolean outputShutdown;

        @Override
        public boolean isInputShutdown() {
            return !isOpen();
        }

        @Override
        public ChannelFuture shutdownInput() {
            return newFailedFuture(new UnsupportedOperationException("the gateway never shuts the input down"));
        }

        @Override
        public ChannelFuture shutdownInput(ChannelPromise promise) {
            return promise.setFailure(new UnsupportedOperationException("the gateway never shuts the input down"));
        }

        @Override
        public boolean isOutputShutdown() {
            return outputShutdown;
        }

        @Override
        public ChannelFuture shutdownOutput() {
            return shutdownOutput(newPromise());
        }

        @Override
        public ChannelFuture shutdownOutput(ChannelPromise promise) {
            outputShutdown = true;
            return promise.setSuccess();
        }

        @Override
        public boolean isShutdown() {
            return !isOpen();
        }

        @Override
        public ChannelFuture shutdown() {
            return shutdownInput();
        }

        @Override
        public ChannelFuture shutdown(ChannelPromise promise) {
            return shutdownInput(promise);
        }
    }

    /** reactor-netty's inbound, reduced to the frames the connection reads. */
    private static final class FakeInbound implements WebsocketInbound {
        final Sinks.Many<WebSocketFrame> frames = Sinks.many().unicast().onBackpressureBuffer();

        @Override
        public Flux<?> receiveObject() {
            return frames.asFlux();
        }

        @Override
        public String selectedSubprotocol() {
            return null;
        }

        @Override
        public HttpHeaders headers() {
            return EmptyHttpHeaders.INSTANCE;
        }

        @Override
        public Mono<WebSocketCloseStatus> receiveCloseStatus() {
            return Mono.never();
        }

        @Override
        public ByteBufFlux receive() {
            throw new UnsupportedOperationException("the connection reads frames");
        }

        @Override
        public NettyInbound withConnection(Consumer<? super Connection> withConnection) {
            throw new UnsupportedOperationException("the connection has its channel");
        }
    }

    /** Unpooled heap buffers, each remembered, so that a test can check that every one was released. */
    private static final class TrackingAllocator extends AbstractByteBufAllocator {
        private final List<ByteBuf> allocated = new ArrayList<>();

        TrackingAllocator() {
            super(false);
        }

        @Override
        protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
            return track(new UnpooledHeapByteBuf(this, initialCapacity, maxCapacity));
        }

        @Override
        protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
            return newHeapBuffer(initialCapacity, maxCapacity);
        }

        @Override
        public CompositeByteBuf compositeHeapBuffer(int maxNumComponents) {
            return track(new CompositeByteBuf(this, false, maxNumComponents));
        }

        @Override
        public CompositeByteBuf compositeDirectBuffer(int maxNumComponents) {
            return compositeHeapBuffer(maxNumComponents);
        }

        @Override
        public boolean isDirectBufferPooled() {
            return false;
        }

        List<ByteBuf> leaked() {
            return allocated.stream().filter(b -> b.refCnt() != 0).toList();
        }

        private <B extends ByteBuf> B track(B buffer) {
            allocated.add(buffer);
            return buffer;
        }
    }
}
