package io.switchboard.protocol.client;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.FrameDecodeException;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.netty.http.client.HttpClient;
import reactor.netty.http.client.WebsocketClientSpec;
import reactor.netty.http.websocket.WebsocketOutbound;

/**
 * One connection to a Switchboard gateway: the {@code hello} handshake, requests correlated with their
 * {@code ack} or {@code error} by id, a stream of everything else the server sends, and automatic answers to
 * the server's {@code ping}. A closed client stays closed: {@link ReconnectingClient} builds the
 * reconnecting client of docs/protocol.md section 8 on top of it.
 *
 * <p>{@link #events()} may be subscribed once; frames that arrive before are kept until then.
 */
public final class SwitchboardClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SwitchboardClient.class);
    private static final String SUBPROTOCOL = "switchboard.v1";

    private final SwitchboardClientOptions options;
    private final AtomicLong nextId = new AtomicLong();
    /** Requests waiting for their reply: an {@code ack} (plain, presence or stats) or an {@code error}. */
    private final Map<Long, Sinks.One<ServerFrame>> pending = new ConcurrentHashMap<>();

    private final Sinks.Many<ServerFrame> events = Sinks.many().unicast().onBackpressureBuffer();
    private final Sinks.One<ServerFrame.Welcome> welcomeSink = Sinks.one();
    private final Sinks.One<CloseStatus> closedSink = Sinks.one();
    private final Sinks.One<SwitchboardClient> openSink = Sinks.one();
    private volatile Channel channel;
    private volatile WebsocketOutbound outbound;
    private volatile ServerFrame.Welcome welcome;
    private volatile long lastReceivedNanos = System.nanoTime();
    private volatile CloseStatus localClose;
    private volatile Disposable watchdog;
    private volatile boolean closed;
    private Disposable connection;

    private SwitchboardClient(SwitchboardClientOptions options) {
        this.options = options;
    }

    /** Opens the WebSocket without saying {@code hello}; follow with {@link #hello(ClientFrame.Hello)}. */
    public static Mono<SwitchboardClient> open(SwitchboardClientOptions options) {
        return Mono.defer(() -> {
            SwitchboardClient client = new SwitchboardClient(options);
            client.start();
            return client.openSink
                    .asMono()
                    .timeout(options.connectTimeout())
                    .doOnError(e -> client.disposeConnection());
        });
    }

    /** Opens the WebSocket and completes the handshake; emits the client once {@code welcome} arrived. */
    public static Mono<SwitchboardClient> connect(SwitchboardClientOptions options) {
        return open(options)
                .flatMap(c -> c.hello(new ClientFrame.Hello(1, options.token(), null, null, options.clientName()))
                        .thenReturn(c)
                        .doOnError(e -> c.close()));
    }

    private void start() {
        // No hidden retry: reactor-netty would retry a connection reset before the request went out at once,
        // an attempt outside the jitter rule of docs/protocol.md section 8 (ReconnectingClient owns retrying).
        HttpClient http = HttpClient.newConnection()
                .runOn(ClientLoops.GROUP)
                .disableRetry(true)
                .responseTimeout(options.connectTimeout())
                .headers(h -> options.headers().forEach(h::set));
        connection = http.websocket(WebsocketClientSpec.builder()
                        .protocols(SUBPROTOCOL)
                        .maxFramePayloadLength(options.maxFramePayloadLength())
                        .build())
                .uri(options.uri())
                .handle((in, out) -> {
                    this.outbound = out;
                    in.withConnection(c -> this.channel = c.channel());
                    in.receiveCloseStatus().subscribe(s -> onClosed(new CloseStatus(s.code(), s.reasonText(), false)));
                    openSink.tryEmitValue(this);
                    return in.aggregateFrames(options.maxFramePayloadLength())
                            .receiveFrames()
                            .doOnNext(this::onFrame)
                            .then();
                })
                .subscribe(
                        null,
                        e -> {
                            openSink.tryEmitError(e);
                            onClosed(new CloseStatus(CloseCodes.ABNORMAL, String.valueOf(e.getMessage()), false));
                        },
                        () -> onClosed(new CloseStatus(CloseCodes.ABNORMAL, "connection closed", false)));
    }

    /** Sends {@code hello}; emits the {@code welcome}, or fails with the server's error or the close. */
    public Mono<ServerFrame.Welcome> hello(ClientFrame.Hello hello) {
        return Mono.defer(() -> {
            sendFrame(hello);
            return welcomeSink.asMono().timeout(options.connectTimeout());
        });
    }

    /** The server's {@code welcome}, or null before it arrived. */
    public ServerFrame.Welcome welcome() {
        return welcome;
    }

    /**
     * Every frame from the server that is not a reply to a request of this client, nor its welcome: among them the
     * {@code subscribed} frames of the channels the application's backend subscribed this connection to, which
     * come before the welcome.
     */
    public Flux<ServerFrame> events() {
        return events.asFlux();
    }

    /** Emits how the connection ended, once it has. */
    public Mono<CloseStatus> closed() {
        return closedSink.asMono();
    }

    public Mono<ServerFrame.Ack> subscribe(String channel) {
        return request(id -> new ClientFrame.Subscribe(id, channel, null));
    }

    public Mono<ServerFrame.Ack> subscribe(String channel, StreamPosition since) {
        return request(id -> new ClientFrame.Subscribe(id, channel, since));
    }

    /**
     * Subscribes; with {@code presence} this user is present in the channel while subscribed, with
     * {@code joinLeave} the channel's {@code join} and {@code leave} frames arrive on {@link #events()}.
     */
    public Mono<ServerFrame.Ack> subscribe(String channel, StreamPosition since, boolean presence, boolean joinLeave) {
        return request(id -> new ClientFrame.Subscribe(id, channel, since, presence, joinLeave));
    }

    /** Who is present in {@code channel}: at most 1,000 users, {@code truncated} beyond. */
    public Mono<ServerFrame.PresenceAck> presence(String channel) {
        return reply(id -> new ClientFrame.Presence(id, channel), ServerFrame.PresenceAck.class);
    }

    /** How many users are present in {@code channel}. */
    public Mono<Long> presenceCount(String channel) {
        return reply(id -> new ClientFrame.PresenceCount(id, channel), ServerFrame.PresenceAck.class)
                .map(ServerFrame.PresenceAck::count);
    }

    /** Users online cluster-wide and users waiting in the random-connect queue. */
    public Mono<ServerFrame.StatsAck> matchStats() {
        return reply(ClientFrame.MatchStats::new, ServerFrame.StatsAck.class);
    }

    public Mono<ServerFrame.Ack> unsubscribe(String channel) {
        return request(id -> new ClientFrame.Unsubscribe(id, channel));
    }

    /** Publishes {@code dataJson}, which must be one JSON value as text. */
    public Mono<ServerFrame.Ack> publish(String channel, String dataJson) {
        return request(id -> new ClientFrame.Publish(id, channel, dataJson));
    }

    /** Sends {@code dataJson} to the inbox of {@code userId}. */
    public Mono<ServerFrame.Ack> send(String userId, String dataJson) {
        return request(id -> new ClientFrame.Send(id, userId, dataJson));
    }

    /**
     * Calls {@code method} of the application's backend with {@code dataJson} (one JSON value as text), through
     * the gateway's {@code rpc} hook (docs/backend.md); emits the backend's {@code result} as JSON text, or fails
     * with a {@link SwitchboardException} carrying the backend's error code, {@code unavailable} (with
     * {@code retryAfter}) when the backend is slow or down, or {@code unknown_type} when the gateway proxies no rpc.
     */
    public Mono<String> rpc(String method, String dataJson) {
        return reply(id -> new ClientFrame.Rpc(id, method, dataJson), ServerFrame.RpcAck.class)
                .map(ServerFrame.RpcAck::result);
    }

    /**
     * Sends the frame made for the next request id; emits its {@code ack}, or fails with a
     * {@link SwitchboardException} carrying the {@code error} code (or {@code closed}).
     */
    public Mono<ServerFrame.Ack> request(LongFunction<ClientFrame> frameForId) {
        return reply(frameForId, ServerFrame.Ack.class);
    }

    /**
     * Sends the frame made for the next request id; emits its reply as {@code type}, or fails with a
     * {@link SwitchboardException} carrying the {@code error} code ({@code closed}; {@code unexpected_reply} when
     * the reply is of another kind).
     */
    public <T extends ServerFrame> Mono<T> reply(LongFunction<ClientFrame> frameForId, Class<T> type) {
        return Mono.defer(() -> {
            long id = nextId.incrementAndGet();
            Sinks.One<ServerFrame> reply = Sinks.one();
            pending.put(id, reply);
            if (isClosed()) {
                pending.remove(id);
                return Mono.error(new SwitchboardException("closed", "connection is closed", null));
            }
            sendFrame(frameForId.apply(id));
            return reply.asMono()
                    .flatMap(r -> type.isInstance(r)
                            ? Mono.just(type.cast(r))
                            : Mono.error(new SwitchboardException(
                                    "unexpected_reply", "expected " + type.getSimpleName() + ", got " + r, null)))
                    .doFinally(s -> pending.remove(id));
        });
    }

    /** Sends a frame that expects no reply (or whose reply is read from {@link #events()}). */
    public void sendFrame(ClientFrame frame) {
        sendText(FrameCodec.encode(frame));
    }

    /** Sends raw text as one text frame, valid or not: for tests of the server's validation. */
    public void sendText(String text) {
        Channel ch = channel;
        if (ch != null) {
            ch.writeAndFlush(new TextWebSocketFrame(text));
        }
    }

    /** Sends raw bytes as one text frame, valid UTF-8 or not: for tests (invalid UTF-8 closes with 1007). */
    public void sendTextBytes(byte[] bytes) {
        Channel ch = channel;
        if (ch != null) {
            ch.writeAndFlush(new TextWebSocketFrame(Unpooled.wrappedBuffer(bytes)));
        }
    }

    /** Sends one binary frame: for tests (the protocol closes such a connection with 1003). */
    public void sendBinary(byte[] bytes) {
        Channel ch = channel;
        if (ch != null) {
            ch.writeAndFlush(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(bytes)));
        }
    }

    /** Stops reading from the socket, so the server's writes back up: for slow-consumer tests. */
    public void pauseReading() {
        Channel ch = channel;
        if (ch != null) {
            ch.eventLoop().execute(() -> ch.config().setAutoRead(false));
        }
    }

    /** Drops the TCP connection without a close frame, as a lost network would: for resume and fault tests. */
    public void abort() {
        Channel ch = channel;
        if (ch != null) {
            ch.close();
        }
    }

    /** Reads from the socket again after {@link #pauseReading()}. */
    public void resumeReading() {
        Channel ch = channel;
        if (ch != null) {
            ch.eventLoop().execute(() -> {
                ch.config().setAutoRead(true);
                ch.read();
            });
        }
    }

    public boolean isClosed() {
        return closed;
    }

    private void onFrame(WebSocketFrame frame) {
        lastReceivedNanos = System.nanoTime();
        if (!(frame instanceof TextWebSocketFrame text)) {
            return;
        }
        ServerFrame decoded;
        try {
            decoded = FrameCodec.decodeServer(text.text());
        } catch (FrameDecodeException e) {
            log.warn("Ignoring a frame from {} that this client cannot read: {}", options.uri(), e.getMessage());
            return;
        }
        if (decoded instanceof ServerFrame.Ping && options.autoPong()) {
            sendFrame(new ClientFrame.Pong());
        }
        if (decoded instanceof ServerFrame.Welcome w) {
            welcome = w;
            startWatchdog(w);
            welcomeSink.tryEmitValue(w);
            return;
        }
        Long replyTo = decoded instanceof ServerFrame.Ack a
                ? Long.valueOf(a.id())
                : decoded instanceof ServerFrame.PresenceAck p
                        ? Long.valueOf(p.id())
                        : decoded instanceof ServerFrame.StatsAck st
                                ? Long.valueOf(st.id())
                                : decoded instanceof ServerFrame.RpcAck r ? Long.valueOf(r.id()) : null;
        if (replyTo != null) {
            Sinks.One<ServerFrame> reply = pending.remove(replyTo);
            if (reply != null) {
                reply.tryEmitValue(decoded);
                return;
            }
        } else if (decoded instanceof ServerFrame.Error err) {
            SwitchboardException ex = new SwitchboardException(err.code(), err.message(), err.retryAfter());
            if (err.id() != null) {
                Sinks.One<ServerFrame> reply = pending.remove(err.id());
                if (reply != null) {
                    reply.tryEmitError(ex);
                    return;
                }
            }
            if (welcome == null) {
                welcomeSink.tryEmitError(ex);
            }
        }
        events.tryEmitNext(decoded);
    }

    private void startWatchdog(ServerFrame.Welcome w) {
        if (!options.heartbeatWatchdog() || w.pingInterval() <= 0) {
            return;
        }
        long deadlineNanos = TimeUnit.MILLISECONDS.toNanos(w.pingInterval() + w.pingTimeout());
        Duration period = Duration.ofMillis(Math.max(10, (w.pingInterval() + w.pingTimeout()) / 10));
        watchdog = Flux.interval(period, period).subscribe(t -> {
            if (System.nanoTime() - lastReceivedNanos > deadlineNanos) {
                localClose = new CloseStatus(
                        CloseCodes.HEARTBEAT_TIMEOUT,
                        "nothing received for " + (w.pingInterval() + w.pingTimeout()) + " ms",
                        true);
                onClosed(localClose);
                disposeConnection();
            }
        });
    }

    private void onClosed(CloseStatus status) {
        CloseStatus effective = localClose != null ? localClose : status;
        if (closedSink.tryEmitValue(effective).isSuccess()) {
            closed = true;
            Disposable w = watchdog;
            if (w != null) {
                w.dispose();
            }
            SwitchboardException ex = new SwitchboardException(
                    "closed", "connection closed with " + effective.code() + " " + effective.reason(), null);
            welcomeSink.tryEmitError(ex);
            pending.values().forEach(p -> p.tryEmitError(ex));
            pending.clear();
            events.tryEmitComplete();
        }
    }

    private void disposeConnection() {
        Channel ch = channel;
        if (ch != null) {
            ch.close();
        }
        if (connection != null) {
            connection.dispose();
        }
    }

    /** Closes with {@code code} and {@code reason}; completes when the close frame was written. */
    public Mono<Void> close(int code, String reason) {
        WebsocketOutbound out = outbound;
        if (out == null) {
            disposeConnection();
            return Mono.empty();
        }
        localClose = new CloseStatus(code, reason, true);
        return out.sendClose(code, reason).onErrorResume(e -> Mono.empty()).doFinally(s -> onClosed(localClose));
    }

    /** Closes normally (1000) and waits up to 5 seconds for it. */
    @Override
    public void close() {
        try {
            close(CloseCodes.NORMAL, "bye").block(Duration.ofSeconds(5));
        } catch (RuntimeException e) {
            disposeConnection();
        }
    }
}
