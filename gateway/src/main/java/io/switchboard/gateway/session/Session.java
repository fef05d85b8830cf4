package io.switchboard.gateway.session;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.ContinuationWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CorruptedWebSocketFrameException;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketCloseStatus;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import io.switchboard.gateway.auth.AuthException;
import io.switchboard.gateway.auth.Identity;
import io.switchboard.gateway.auth.ResumeTokens;
import io.switchboard.gateway.channel.HistoryRead;
import io.switchboard.gateway.channel.Publication;
import io.switchboard.gateway.config.GatewayConfig;
import io.switchboard.gateway.wire.WireFrames;
import io.switchboard.gateway.match.MatchService;
import io.switchboard.matchmaking.Outcome;
import io.switchboard.protocol.Channels;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.FrameDecodeException;
import io.switchboard.protocol.Limits;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.netty.NettyPipeline;
import reactor.netty.http.websocket.WebsocketInbound;

/**
 * One client connection after the WebSocket upgrade: the {@code hello} handshake, requests answered in order,
 * heartbeats, rate limits, subscriptions and the bounded outbound buffer (PROTOCOL.md sections 1 to 5 and 7).
 *
 * <p>All state is confined to the connection's I/O loop: frames arrive there, replies of asynchronous
 * operations are brought back there, and fan-out delivers there. Requests are processed one after the other,
 * so replies come in request order; at most {@link #MAX_QUEUED_REQUESTS} wait, after which reading pauses.
 */
public final class Session {
    private static final Logger log = LoggerFactory.getLogger(Session.class);
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
    /** A client sending at more than this many times the rate limit is closed with 1008. */
    public static final int ABUSE_FACTOR = 10;
    /** WebSocket close reasons are at most 123 bytes. */
    private static final int MAX_CLOSE_REASON = 120;
    private static final ByteBuf PING = WireFrames.constant(new ServerFrame.Ping());
    /** Suggested wait before retrying a request whose feature or dependency is not available. */
    private static final long UNAVAILABLE_RETRY_MS = 1_000;

    private enum State { AWAITING_HELLO, OPEN, CLOSING, CLOSED }

    private final SessionContext ctx;
    private final GatewayConfig config;
    private final Channel channel;
    private final EventExecutor loop;
    private final int loopIndex;
    private final Scheduler scheduler;
    private final String id;
    private final Runnable flushTask = this::flushNow;
    private final Map<String, Subscription> subscriptions = new HashMap<>();
    private volatile Runnable onClose;

    private volatile String userId;
    private Identity identity;
    private State state = State.AWAITING_HELLO;
    private Subscription inbox;
    /** Whether the inbox is subscribed: before, the user does not count as connected through this connection. */
    private volatile boolean inboxSubscribed;
    /** Resumed from an inbox position: its inbox subscription replays everything stored after it. */
    private volatile boolean replaysInbox;
    /** The position a late inbox subscription started from, its client not told one; null otherwise. */
    private volatile StreamPosition inboxStart;
    private boolean inboxAttempting;
    private ScheduledFuture<?> inboxRetry;
    private boolean resumed;
    /** Resumed on the strength of the signed token alone: the registry could not be asked at hello. */
    private boolean resumeUnchecked;
    /** The session this connection resumed, or null. */
    private String resumedFrom;
    private StreamPosition recoverFrom;
    private long lastSeenNanos;
    private long nextPingNanos;
    private ScheduledFuture<?> timer;
    private final TokenBucket bucket;
    private final TokenBucket abuseBucket;
    /** Bytes of frames read and dropped since the close frame was sent. */
    private long droppedWhileClosing;
    private boolean flushScheduled;
    private boolean writesStopped;
    /** Bytes of recovery replay written since the outbound buffer was last below its low-water mark. */
    private long replayAllowance;
    private CompositeByteBuf fragments;
    private int closeCode;
    /** A close frame without a status code (RFC 6455 section 7.4.1): reported, never sent. */
    private static final int NO_STATUS = 1005;
    /** The code of the peer's close frame, 0 before one came. */
    private volatile int peerCloseCode;
    /** The close code of a violation the WebSocket decoder found (it closes the connection itself), 0 before one. */
    private volatile int violationCode;

    public Session(SessionContext ctx, Channel channel, int loopIndex) {
        this.ctx = ctx;
        this.config = ctx.config();
        this.channel = channel;
        this.loop = channel.eventLoop();
        this.loopIndex = loopIndex;
        this.scheduler = ctx.loops().scheduler(loopIndex);
        this.id = ctx.ids().session();
        // Every frame counts from the first byte, before hello too, control frames included.
        this.bucket = new TokenBucket(config.rate(), config.burst(), ctx.nanoTime());
        this.abuseBucket = new TokenBucket((long) ABUSE_FACTOR * config.rate(), (long) ABUSE_FACTOR * config.burst(),
                ctx.nanoTime());
    }

    /** Serves the connection; completes when it is closed. */
    public Mono<Void> run(WebsocketInbound in) {
        ctx.metrics().connectionOpened();
        lastSeenNanos = ctx.nanoTime().getAsLong();
        channel.closeFuture().addListener(f -> onClosed());
        // The close code is the peer's only when the peer sent a close frame: seen here, before reactor-netty, which
        // reports its own closes (1000 once the handler ends, 1002 after a failed write) through the same status.
        if (channel.pipeline().get(NettyPipeline.ReactiveBridge) != null) {
            channel.pipeline().addBefore(NettyPipeline.ReactiveBridge, "switchboard.peerClose", new PeerClose());
        }
        timer = loop.schedule(this::helloTimeout, config.helloTimeoutMs(), TimeUnit.MILLISECONDS);
        return in.receiveFrames()
                // Without a close frame of the peer's the connection was lost: 1006, resumable.
                .doOnComplete(() -> inboundEnded(null))
                .doOnError(this::inboundEnded)
                .mapNotNull(this::read)
                .concatMap(this::process, MAX_QUEUED_REQUESTS)
                .onErrorResume(e -> {
                    if (!(e instanceof CorruptedWebSocketFrameException)) {
                        log.debug("Connection {} ended with {}", id, e.toString());
                    }
                    return Mono.empty();
                })
                .then();
    }

    /** The inbound ended, by {@code error} or (null) completion: the close code, unless one is known already. */
    private void inboundEnded(Throwable error) {
        if (closeCode == 0) {
            closeCode = error instanceof CorruptedWebSocketFrameException c ? c.closeStatus().code()
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
                    close(CloseCodes.WEBSOCKET_PROTOCOL_ERROR, "invalid close code " + code, true);
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
                close(e.closeStatus().code(), String.valueOf(e.getMessage()), true);
                return;
            }
            c.fireExceptionCaught(cause);
        }
    }

    /** A pong with the ping's payload, as wire bytes the caller owns. */
    private ByteBuf pong(PingWebSocketFrame ping) {
        return WireFrames.pong(channel.alloc(), ping.content());
    }

    public String id() {
        return id;
    }

    /** The user id, or null before {@code hello} was accepted. Readable from any thread. */
    public String userId() {
        return userId;
    }

    public boolean guest() {
        return identity != null && identity.guest();
    }

    /**
     * Whether this connection's inbox is subscribed: only then does its user count as connected through it (a
     * {@code send} says {@code delivered:true}, it may be matched). Readable from any thread.
     */
    public boolean inboxSubscribed() {
        return inboxSubscribed;
    }

    /**
     * Whether a message stored in this user's inbox now reaches this connection: its inbox is subscribed, or it
     * resumed from an inbox position, so that its subscription replays whatever was stored after it. Readable from
     * any thread.
     */
    public boolean receivesInbox() {
        return inboxSubscribed || replaysInbox;
    }

    /**
     * Where the inbox subscription started when it came after the welcome (Redis was away), so that its client
     * was told no position: a resume without {@code inboxSince} replays from it. Null when the welcome gave one.
     */
    public StreamPosition inboxStart() {
        return inboxStart;
    }

    /** Tries to subscribe the inbox now if it is still not (Redis is back); a no-op otherwise. */
    public void retryInbox() {
        onLoop(() -> {
            if (state == State.OPEN && !inboxSubscribed && !inboxAttempting) {
                subscribeInbox(false).subscribe();
            }
        });
    }

    int loopIndex() {
        return loopIndex;
    }

    long outboundLimit() {
        return config.outboundBytes();
    }

    // ---------------------------------------------------------------- inbound

    /** Reads a frame as it arrives: sign of life, frame kind and size, rate. Null when nothing is to be done. */
    private Inbound read(WebSocketFrame frame) {
        lastSeenNanos = ctx.nanoTime().getAsLong();
        if (state == State.CLOSED) {
            return null;
        }
        if (state == State.CLOSING) {
            // Read and dropped while the client has yet to see the close frame (closing with input unread would
            // reset the connection and lose the close frame); a client that goes on sending past the outbound
            // bound's worth of bytes is not waited for.
            droppedWhileClosing += frame.content().readableBytes() + 2;
            if (droppedWhileClosing > config.outboundBytes()) {
                channel.close();
            }
            return null;
        }
        if (!abuseBucket.tryTake()) {
            close(CloseCodes.POLICY_VIOLATION, "sending frames at more than " + ABUSE_FACTOR
                    + " times the rate limit");
            return null;
        }
        String text;
        if (frame instanceof TextWebSocketFrame t) {
            if (!t.isFinalFragment()) {
                releaseFragments();
                fragments = channel.alloc().compositeBuffer();
                fragments.addComponent(true, t.content().retain());
                return null;
            }
            text = t.text();
        } else if (frame instanceof ContinuationWebSocketFrame c) {
            if (fragments == null) {
                close(CloseCodes.BINARY_FRAME, "binary frames are not accepted");
                return null;
            }
            if (fragments.readableBytes() + c.content().readableBytes() > config.maxFrame()) {
                releaseFragments();
                close(CloseCodes.FRAME_TOO_BIG, "message larger than " + config.maxFrame() + " bytes");
                return null;
            }
            fragments.addComponent(true, c.content().retain());
            if (!c.isFinalFragment()) {
                return null;
            }
            text = fragments.toString(StandardCharsets.UTF_8);
            releaseFragments();
        } else if (frame instanceof BinaryWebSocketFrame) {
            close(CloseCodes.BINARY_FRAME, "binary frames are not accepted; send JSON in text frames");
            return null;
        } else if (frame instanceof PingWebSocketFrame ping) {
            // Answered within the rate, through the bounded outbound like any other frame: a client that pings
            // and never reads is closed as a slow consumer, one that pings too fast gets no more pongs.
            if (bucket.tryTake()) {
                writeWire(pong(ping));
            }
            return null;
        } else {
            bucket.tryTake(); // a pong control frame only shows life, and costs like any frame
            return null;
        }
        if (!bucket.tryTake()) {
            return new Inbound(text, true, bucket.millisUntilToken());
        }
        return new Inbound(text, false, 0);
    }

    private Mono<Void> process(Inbound in) {
        if (state == State.CLOSING || state == State.CLOSED) {
            return Mono.empty();
        }
        ClientFrame frame;
        try {
            frame = FrameCodec.decodeClient(in.text());
        } catch (FrameDecodeException e) {
            ctx.metrics().frameIn("invalid");
            if (state == State.AWAITING_HELLO) {
                error(e.id(), ErrorCodes.BAD_REQUEST, "the first frame must be hello: " + e.getMessage());
                close(CloseCodes.PROTOCOL_ERROR, "expected hello");
            } else if (in.limited()) {
                rateLimited(e.id(), in.retryAfter());
            } else {
                error(e.id(), e.code(), e.getMessage());
            }
            return Mono.empty();
        }
        ctx.metrics().frameIn(frame.type());
        try {
            return dispatch(frame, in);
        } catch (RuntimeException e) {
            log.warn("Connection {} of user {}: {} frame failed: {}", id, userId, frame.type(), e.toString());
            error(frame.id(), ErrorCodes.INTERNAL, "the gateway failed to handle this " + frame.type());
            return Mono.empty();
        }
    }

    private Mono<Void> dispatch(ClientFrame frame, Inbound in) {
        if (state == State.AWAITING_HELLO) {
            if (frame instanceof ClientFrame.Hello hello) {
                return hello(hello);
            }
            error(frame.id(), ErrorCodes.BAD_REQUEST, "the first frame must be hello, not " + frame.type());
            close(CloseCodes.PROTOCOL_ERROR, "expected hello");
            return Mono.empty();
        }
        if (frame instanceof ClientFrame.Hello) {
            error(null, ErrorCodes.BAD_REQUEST, "hello was already received on this connection");
            close(CloseCodes.PROTOCOL_ERROR, "second hello");
            return Mono.empty();
        }
        if (frame instanceof ClientFrame.Pong) {
            return Mono.empty();
        }
        if (in.limited()) {
            rateLimited(frame.id(), in.retryAfter());
            return Mono.empty();
        }
        if (frame instanceof ClientFrame.Subscribe s) {
            return subscribe(s);
        }
        if (frame instanceof ClientFrame.Unsubscribe u) {
            unsubscribe(u);
            return Mono.empty();
        }
        if (frame instanceof ClientFrame.Publish p) {
            return publish(p);
        }
        if (frame instanceof ClientFrame.Send s) {
            return send(s);
        }
        if (frame instanceof ClientFrame.MatchJoin j) {
            return matchJoin(j);
        }
        if (frame instanceof ClientFrame.MatchSignal m) {
            return matchSignal(m);
        }
        if (frame instanceof ClientFrame.MatchNext n) {
            if (!inboxSubscribed) {
                inboxNotReady(n.id(), "match.next");
                return Mono.empty();
            }
            return matchReply(n.id(), "match.next", ctx.matches().next(userId, id), true);
        }
        if (frame instanceof ClientFrame.MatchLeave l) {
            return matchReply(l.id(), "match.leave", ctx.matches().leave(userId), false);
        }
        if (frame instanceof ClientFrame.Block b) {
            if (b.user().equals(userId)) {
                error(b.id(), ErrorCodes.BAD_REQUEST, "field 'user': a user cannot block itself");
                return Mono.empty();
            }
            String problem = MatchService.blockProblem(b.user());
            if (problem != null) {
                error(b.id(), ErrorCodes.BAD_REQUEST, problem);
                return Mono.empty();
            }
            return ctx.matches().block(userId, b.user())
                    .publishOn(scheduler)
                    .doOnNext(o -> {
                        if (Outcome.TOO_MANY.equals(o.status())) {
                            error(b.id(), ErrorCodes.TOO_MANY, "cannot block " + b.user() + ": at most "
                                    + config.maxBlocks() + " blocks per user (SWITCHBOARD_MAX_BLOCKS)");
                        } else {
                            ack(b.id());
                        }
                    })
                    .onErrorResume(e -> {
                        unavailable(b.id(), "block", e);
                        return Mono.empty();
                    })
                    .then();
        }
        error(frame.id(), ErrorCodes.UNKNOWN_TYPE, "unknown frame type '" + frame.type() + "'");
        return Mono.empty();
    }

    // ---------------------------------------------------------------- random connect

    /** Most interests a user may give, and the longest one. */
    public static final int MAX_INTERESTS = 16;
    public static final int MAX_INTEREST_LENGTH = 64;

    private Mono<Void> matchJoin(ClientFrame.MatchJoin j) {
        for (String interest : j.interests()) {
            if (interest.isEmpty() || interest.length() > MAX_INTEREST_LENGTH
                    || interest.chars().anyMatch(Character::isISOControl)) {
                error(j.id(), ErrorCodes.BAD_REQUEST, "field 'interests': each must be 1 to " + MAX_INTEREST_LENGTH
                        + " characters without control characters");
                return Mono.empty();
            }
        }
        if (j.interests().size() > MAX_INTERESTS) {
            error(j.id(), ErrorCodes.BAD_REQUEST, "field 'interests': at most " + MAX_INTERESTS + " are allowed");
            return Mono.empty();
        }
        if (!inboxSubscribed) {
            inboxNotReady(j.id(), "match.join");
            return Mono.empty();
        }
        return ctx.matches().join(userId, id, j.interests())
                .publishOn(scheduler)
                .doOnNext(o -> {
                    if (Outcome.CONFLICT.equals(o.status())) {
                        error(j.id(), ErrorCodes.CONFLICT, "already queued or matched; use match.next or match.leave");
                    } else if (j.id() != null) {
                        write(new ServerFrame.Ack(j.id(), null, null, null, null, null, true));
                    }
                })
                .onErrorResume(e -> {
                    unavailable(j.id(), "match.join", e);
                    return Mono.empty();
                })
                .then();
    }

    /**
     * Random-connect events reach a user through its inbox: while it is not subscribed the user is neither
     * queued nor matched, or it could miss its {@code match.found} and leave a partner with a match it never
     * heard of.
     */
    private void inboxNotReady(Long requestId, String what) {
        error(requestId, ErrorCodes.UNAVAILABLE, what + " is unavailable until this connection's inbox can receive"
                + " (Redis is not reachable), try again", UNAVAILABLE_RETRY_MS);
    }

    private Mono<Void> matchSignal(ClientFrame.MatchSignal m) {
        return ctx.matches().signal(userId, m.match(), m.data())
                .publishOn(scheduler)
                .doOnNext(relayed -> {
                    if (!relayed) {
                        error(m.id(), ErrorCodes.NOT_FOUND, "match " + m.match() + " is not your current match");
                    } else {
                        ack(m.id());
                    }
                })
                .onErrorResume(e -> {
                    unavailable(m.id(), "match.signal", e);
                    return Mono.empty();
                })
                .then();
    }

    private Mono<Void> matchReply(Long requestId, String what, Mono<Outcome> outcome, boolean queued) {
        return outcome.publishOn(scheduler)
                .doOnNext(o -> {
                    if (requestId != null) {
                        write(new ServerFrame.Ack(requestId, null, null, null, null, null, queued ? true : null));
                    }
                })
                .onErrorResume(e -> {
                    unavailable(requestId, what, e);
                    return Mono.empty();
                })
                .then();
    }

    // ---------------------------------------------------------------- requests

    private Mono<Void> hello(ClientFrame.Hello hello) {
        cancelTimer();
        if (hello.v() != 1) {
            error(null, ErrorCodes.BAD_REQUEST, "protocol version " + hello.v()
                    + " is not supported; this gateway speaks version 1");
            close(CloseCodes.PROTOCOL_ERROR, "unsupported protocol version");
            return Mono.empty();
        }
        Identity tokenIdentity = null;
        if (hello.token() != null) {
            try {
                tokenIdentity = ctx.authenticator().authenticate(hello.token());
            } catch (AuthException e) {
                error(null, ErrorCodes.UNAUTHORIZED, e.getMessage());
                close(CloseCodes.UNAUTHORIZED, "unauthorized");
                return Mono.empty();
            }
        } else if (!config.guests()) {
            error(null, ErrorCodes.UNAUTHORIZED, "this gateway does not accept guests: hello needs a token");
            close(CloseCodes.UNAUTHORIZED, "unauthorized");
            return Mono.empty();
        }
        // resume: a token this gateway signed, for the same kind of identity, of a session that dropped within
        // the grace (or is still there, half dead); anything else is not an error but a fresh start
        Identity authenticated = tokenIdentity;
        Mono<ResumeTokens.Claim> claimed = hello.resume() == null ? Mono.empty()
                : ctx.resumeTokens().check(hello.resume());
        return claimed
                .filter(claim -> authenticated == null ? claim.guest()
                        : !claim.guest() && claim.user().equals(authenticated.userId()))
                .flatMap(claim -> ctx.registry().resumable(claim.user(), claim.session())
                        .map(r -> r.ok() ? Resume.checked(claim, r.inboxStart()) : Resume.FRESH)
                        // the token is signed: its user can be trusted without the registry; what the registry
                        // would have said is reconciled once it answers
                        .onErrorResume(e -> Mono.just(Resume.unchecked(claim))))
                .defaultIfEmpty(Resume.FRESH)
                .onErrorResume(e -> Mono.just(Resume.refused(e)))
                .publishOn(scheduler)
                .flatMap(r -> {
                    if (state != State.AWAITING_HELLO) {
                        return Mono.empty();
                    }
                    if (r.refusal() != null) {
                        refuseResume(r.refusal());
                        return Mono.empty();
                    }
                    boolean ok = r.claim() != null;
                    Identity who = authenticated != null ? authenticated
                            : Identity.guest(ok ? r.claim().user() : ctx.ids().guest());
                    // A user reconnecting in a loop (a fresh guest is a new user each time, the edge limits those)
                    long wait = who.guest() && !ok ? 0 : ctx.userConnects().tryTake(who.userId());
                    if (wait > 0) {
                        error(null, ErrorCodes.RATE_LIMITED, "user " + who.userId() + " connects more often than "
                                + config.edge().userConnectRate() + " times a second", wait);
                        close(CloseCodes.TRY_AGAIN_LATER, "connecting too often");
                        return Mono.empty();
                    }
                    resumed = ok;
                    resumeUnchecked = ok && !r.checked();
                    resumedFrom = ok ? r.claim().session() : null;
                    if (resumeUnchecked) {
                        log.debug("Connection {} resumes user {} without asking Redis: reconciled when it answers", id,
                                who.userId());
                    }
                    StreamPosition since = !ok ? null : hello.inboxSince() != null ? hello.inboxSince()
                            : r.inboxStart();
                    return open(who, since);
                });
    }

    /** How a {@code hello}'s resume came out: a claim to resume (checked by the registry or not), or a refusal. */
    private record Resume(ResumeTokens.Claim claim, boolean checked, StreamPosition inboxStart, Throwable refusal) {
        static final Resume FRESH = new Resume(null, true, null, null);

        static Resume checked(ResumeTokens.Claim claim, StreamPosition inboxStart) {
            return new Resume(claim, true, inboxStart, null);
        }

        static Resume unchecked(ResumeTokens.Claim claim) {
            return new Resume(claim, false, null, null);
        }

        static Resume refused(Throwable why) {
            return new Resume(null, false, null, why);
        }
    }

    /**
     * The resume token may be valid but cannot be checked now (signed with a key this instance has not learned
     * yet, and Redis does not answer): rather than a fresh identity, which would lose the user, a retryable
     * refusal; the client comes back with the same token.
     */
    private void refuseResume(Throwable why) {
        log.debug("Connection {}: the resume token cannot be checked now: {}", id, why.toString());
        error(null, ErrorCodes.UNAVAILABLE, "the resume token cannot be checked right now, try again",
                UNAVAILABLE_RETRY_MS);
        close(CloseCodes.INTERNAL_ERROR, "resume cannot be checked now, try again");
    }

    /** The connection is now {@code who}'s: registered, heart beating, inbox subscribed, welcomed. */
    private Mono<Void> open(Identity who, StreamPosition inboxSince) {
        identity = who;
        userId = who.userId();
        state = State.OPEN;
        recoverFrom = inboxSince;
        replaysInbox = resumed && inboxSince != null;
        ctx.registry().register(this);
        startHeartbeat();
        return subscribeInbox(true);
    }

    /**
     * Subscribes the inbox; the first time, the welcome follows, once the user counts as connected through this
     * connection ({@link SessionRegistry#claim}). When the inbox cannot be subscribed (Redis away) the connection
     * is still welcomed, without an inbox position, and the inbox is subscribed as soon as Redis is back (tried
     * every {@link #UNAVAILABLE_RETRY_MS} and when the registry sees Redis come back): local service goes on
     * while a dependency is down. Until then the user does not count as connected through it, and is not matched.
     *
     * <p>A late subscription replays what the client may have missed since it was welcomed: after its
     * {@code inboxSince} (or the position its resumed session had started from) for a resume, everything held for
     * a new guest (whose inbox nobody could know of before this connection), nothing for a new token user (its
     * inbox is older than this connection; what was stored in the instant between Redis coming back and the
     * subscription is not replayed, and none of it was counted as delivered).
     */
    private Mono<Void> subscribeInbox(boolean welcoming) {
        inboxAttempting = true;
        cancelInboxRetry();
        Subscription sub = new Subscription(this, Channels.inboxOf(userId));
        inbox = sub;
        boolean replayAll = !welcoming && recoverFrom == null && !resumed && identity.guest();
        return inboxFrom()
                .map(java.util.Optional::of)
                .defaultIfEmpty(java.util.Optional.empty())
                .flatMap(from -> ctx.channels().subscribe(sub.channel(), sub, from.orElse(null))
                        .flatMap(read -> replayAll && read.latest() > 0
                                ? ctx.channels().history().read(sub.channel(), new StreamPosition(0, read.epoch()))
                                : Mono.just(read))
                        .flatMap(read -> {
                            if (!welcoming) {
                                StreamPosition asked = replayAll ? new StreamPosition(0, read.epoch())
                                        : from.orElse(null);
                                inboxStart = asked != null && read.recovered() ? asked
                                        : new StreamPosition(read.latest(), read.epoch());
                            }
                            inboxSubscribed = true;
                            return ctx.registry().claim(this)
                                    .onErrorResume(e -> Mono.empty())
                                    .thenReturn(read);
                        }))
                .publishOn(scheduler)
                .doOnNext(read -> {
                    inboxAttempting = false;
                    if (state == State.OPEN) {
                        sub.ready(welcoming ? welcome(read) : null, read);
                        ctx.matches().returned(userId, id);
                    }
                })
                .onErrorResume(e -> {
                    inboxAttempting = false;
                    sub.cancel();
                    ctx.channels().unsubscribe(sub.channel(), sub);
                    log.debug("Connection {} of user {}: inbox unavailable: {}", id, userId, e.toString());
                    if (state != State.OPEN) {
                        return Mono.empty();
                    }
                    if (welcoming) {
                        write(welcome(null));
                    }
                    inboxRetry = loop.schedule(() -> {
                        inboxRetry = null;
                        retryInbox();
                    }, UNAVAILABLE_RETRY_MS, TimeUnit.MILLISECONDS);
                    return Mono.empty();
                })
                .then();
    }

    /**
     * Where the inbox subscription starts: the client's {@code inboxSince} on a resume, else, for a resume the
     * registry could not check at hello, the position the resumed session had started from if it had one.
     */
    private Mono<StreamPosition> inboxFrom() {
        if (recoverFrom != null || !resumeUnchecked) {
            return Mono.justOrEmpty(recoverFrom);
        }
        return ctx.registry().resumable(userId, resumedFrom).mapNotNull(SessionRegistry.Resumable::inboxStart);
    }

    private void cancelInboxRetry() {
        if (inboxRetry != null) {
            inboxRetry.cancel(false);
            inboxRetry = null;
        }
    }

    private ServerFrame.Welcome welcome(HistoryRead inboxRead) {
        Limits limits = ctx.limits();
        StreamPosition position = inboxRead == null ? null : new StreamPosition(inboxRead.latest(),
                inboxRead.epoch());
        boolean recovered = resumed && recoverFrom != null && inboxRead != null && inboxRead.recovered();
        return new ServerFrame.Welcome(id, userId, identity.guest(), ctx.resumeTokens().issue(userId,
                identity.guest(), id), resumed, recovered, position, config.pingIntervalMs(),
                config.pingTimeoutMs(), limits, config.nodeId());
    }

    private Mono<Void> subscribe(ClientFrame.Subscribe s) {
        String channelName = s.channel();
        if (!identity.maySubscribe(channelName)) {
            error(s.id(), ErrorCodes.FORBIDDEN, "cannot subscribe to " + channelName + ": "
                    + (Channels.isInbox(channelName) ? "user: is reserved for inboxes"
                    : "only public: channels and those the token's subscribe claim grants are allowed"));
            return Mono.empty();
        }
        Subscription existing = subscriptions.get(channelName);
        if (existing != null) {
            if (s.id() != null) {
                Boolean recovered = s.since() == null ? null : s.since().epoch().equals(existing.epoch());
                write(new ServerFrame.Ack(s.id(), channelName, existing.lastOffset(), existing.epoch(), recovered,
                        null, null));
            }
            return Mono.empty();
        }
        if (subscriptions.size() >= config.maxSubscriptions()) {
            error(s.id(), ErrorCodes.TOO_MANY, "cannot subscribe to " + channelName + ": at most "
                    + config.maxSubscriptions() + " subscriptions per connection");
            return Mono.empty();
        }
        Subscription sub = new Subscription(this, channelName);
        subscriptions.put(channelName, sub);
        return ctx.channels().subscribe(channelName, sub, s.since())
                .publishOn(scheduler)
                .doOnNext(read -> sub.ready(s.id() == null ? null : new ServerFrame.Ack(s.id(), channelName,
                        read.latest(), read.epoch(), s.since() == null ? null : read.recovered(), null, null), read))
                .onErrorResume(e -> {
                    subscriptions.remove(channelName, sub);
                    sub.cancel();
                    ctx.channels().unsubscribe(channelName, sub);
                    unavailable(s.id(), "subscribe to " + channelName, e);
                    return Mono.empty();
                })
                .then();
    }

    private void unsubscribe(ClientFrame.Unsubscribe u) {
        Subscription sub = subscriptions.remove(u.channel());
        if (sub != null) {
            sub.cancel();
            ctx.channels().unsubscribe(u.channel(), sub);
        }
        ack(u.id());
    }

    private Mono<Void> publish(ClientFrame.Publish p) {
        String channelName = p.channel();
        if (!identity.mayPublish(channelName)) {
            error(p.id(), ErrorCodes.FORBIDDEN, "cannot publish to " + channelName + ": "
                    + (Channels.isInbox(channelName) ? "user: is reserved for inboxes, use send"
                    : "only public: channels and those the token's publish claim grants are allowed"));
            return Mono.empty();
        }
        return ctx.channels().publish(channelName, Publication.MESSAGE, userId, p.data())
                .publishOn(scheduler)
                .doOnNext(pub -> {
                    if (p.id() != null) {
                        write(new ServerFrame.Ack(p.id(), null, pub.offset(), pub.epoch(), null, null, null));
                    }
                })
                .onErrorResume(e -> {
                    unavailable(p.id(), "publish to " + channelName, e);
                    return Mono.empty();
                })
                .then();
    }

    private Mono<Void> send(ClientFrame.Send s) {
        return ctx.inbox().send(userId, s.to(), s.data())
                .publishOn(scheduler)
                .doOnNext(delivered -> {
                    if (s.id() != null) {
                        write(new ServerFrame.Ack(s.id(), null, null, null, null, delivered, null));
                    }
                })
                .onErrorResume(e -> {
                    unavailable(s.id(), "send to " + s.to(), e);
                    return Mono.empty();
                })
                .then();
    }

    private void ack(Long requestId) {
        if (requestId != null) {
            write(ServerFrame.Ack.of(requestId));
        }
    }

    private void error(Long requestId, String code, String message) {
        error(requestId, code, message, null);
    }

    private void error(Long requestId, String code, String message, Long retryAfter) {
        ctx.metrics().error(code);
        write(new ServerFrame.Error(requestId, code, message, retryAfter));
    }

    private void rateLimited(Long requestId, long retryAfter) {
        error(requestId, ErrorCodes.RATE_LIMITED, "more than " + config.rate() + " frames per second (burst "
                + config.burst() + ")", retryAfter);
    }

    private void unavailable(Long requestId, String what, Throwable cause) {
        log.debug("Connection {} of user {}: {} failed: {}", id, userId, what, cause.toString());
        error(requestId, ErrorCodes.UNAVAILABLE, what + " is unavailable right now, try again",
                UNAVAILABLE_RETRY_MS);
    }

    // ---------------------------------------------------------------- heartbeat and timers

    private void helloTimeout() {
        if (state == State.AWAITING_HELLO) {
            close(CloseCodes.HELLO_TIMEOUT, "no hello within " + config.helloTimeoutMs() + " ms");
        }
    }

    private void startHeartbeat() {
        nextPingNanos = ctx.nanoTime().getAsLong() + TimeUnit.MILLISECONDS.toNanos(config.pingIntervalMs());
        heartbeat();
    }

    /** Sends a ping when one is due and closes a connection silent for {@code ping.interval + ping.timeout}. */
    private void heartbeat() {
        if (state != State.OPEN) {
            return;
        }
        long now = ctx.nanoTime().getAsLong();
        long silentLimit = TimeUnit.MILLISECONDS.toNanos(config.pingIntervalMs() + config.pingTimeoutMs());
        long deadline = lastSeenNanos + silentLimit;
        if (now - deadline >= 0) {
            close(CloseCodes.HEARTBEAT_TIMEOUT, "nothing received for "
                    + (config.pingIntervalMs() + config.pingTimeoutMs()) + " ms");
            return;
        }
        if (now - nextPingNanos >= 0) {
            ctx.metrics().framesOut(ServerFrame.Ping.TYPE, 1);
            writeWire(PING.duplicate());
            nextPingNanos = now + TimeUnit.MILLISECONDS.toNanos(config.pingIntervalMs());
        }
        long wait = Math.max(1, Math.min(nextPingNanos, deadline) - now);
        timer = loop.schedule(this::heartbeat, wait, TimeUnit.NANOSECONDS);
    }

    private void cancelTimer() {
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }

    // ---------------------------------------------------------------- outbound

    /** Encodes and queues one frame; flushed at the end of this loop iteration. */
    void write(ServerFrame frame) {
        if (writesStopped || !channel.isActive()) {
            return;
        }
        ctx.metrics().framesOut(frame.type(), 1);
        writeWire(WireFrames.encode(channel.alloc(), frame));
    }

    /** Queues wire bytes (ownership passes here); closes the connection with 4004 when too much is pending. */
    void writeWire(ByteBuf wire) {
        if (writesStopped || !channel.isActive()) {
            wire.release();
            return;
        }
        channel.write(wire, channel.voidPromise());
        if (channel.isWritable()) {
            replayAllowance = 0;
        } else if (replayAllowance == 0 || pendingOutboundBytes() > config.outboundBytes() + replayAllowance) {
            slowConsumer();
            return;
        }
        scheduleFlush();
    }

    /**
     * Queues wire bytes of a recovery replay (ownership passes here): they may go past the outbound bound, up to
     * {@link #REPLAY_ALLOWANCE_FACTOR} times it, until the client has read them.
     */
    void writeReplayWire(ByteBuf wire) {
        if (writesStopped || !channel.isActive()) {
            wire.release();
            return;
        }
        replayAllowance = Math.min(replayAllowance + wire.readableBytes(),
                (long) REPLAY_ALLOWANCE_FACTOR * config.outboundBytes());
        channel.write(wire, channel.voidPromise());
        if (!channel.isWritable() && pendingOutboundBytes() > config.outboundBytes() + replayAllowance) {
            slowConsumer();
            return;
        }
        scheduleFlush();
    }

    /** Encodes and queues one frame of a recovery replay; see {@link #writeReplayWire(ByteBuf)}. */
    void writeReplay(ServerFrame frame) {
        if (writesStopped || !channel.isActive()) {
            return;
        }
        ctx.metrics().framesOut(frame.type(), 1);
        writeReplayWire(WireFrames.encode(channel.alloc(), frame));
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

    /** The client reads too slowly: stop writing to it and close it with 4004. */
    void slowConsumer() {
        if (state == State.CLOSING || state == State.CLOSED) {
            return;
        }
        writesStopped = true;
        ctx.metrics().slowConsumerClosed();
        log.debug("Connection {} of user {}: more than {} bytes pending, closing with 4004", id, userId,
                config.outboundBytes());
        close(CloseCodes.SLOW_CONSUMER, "slow consumer: more than " + config.outboundBytes() + " bytes pending");
    }

    // ---------------------------------------------------------------- closing

    /** A newer connection of the same user took over: {@code session_replaced}, then close 4002. */
    public void replaced() {
        onLoop(() -> {
            if (state == State.OPEN) {
                error(null, ErrorCodes.SESSION_REPLACED, "a newer connection of user " + userId
                        + " replaced this one");
                close(CloseCodes.SESSION_REPLACED, "session replaced");
            }
        });
    }

    /** Closes with 4002 on the operator's request ({@code POST /api/disconnect}). */
    public void disconnect() {
        onLoop(() -> close(CloseCodes.SESSION_REPLACED, "disconnected by the server"));
    }

    /**
     * Sends a close frame with {@code code}, half-closes, and cuts the connection if the client has not closed
     * it within {@link #CLOSE_GRACE_MS}.
     */
    public void close(int code, String reason) {
        close(code, reason, false);
    }

    /**
     * Sends a close frame with {@code code}; with {@code cut}, closes the connection as soon as it is written
     * instead of waiting for the client's close frame, which the WebSocket decoder would not read after a
     * violation.
     */
    private void close(int code, String reason, boolean cut) {
        if (!loop.inEventLoop()) {
            loop.execute(() -> close(code, reason, cut));
            return;
        }
        if (state == State.CLOSING || state == State.CLOSED) {
            return;
        }
        state = State.CLOSING;
        closeCode = code;
        cancelTimer();
        String shortReason = reason.length() <= MAX_CLOSE_REASON ? reason : reason.substring(0, MAX_CLOSE_REASON);
        // Half-close after the close frame and keep reading until the client answers: closing the socket
        // while the client still sends would reset the connection and lose the close frame on its side.
        channel.writeAndFlush(new CloseWebSocketFrame(code, shortReason)).addListener(f -> {
            if (f.isSuccess() && !cut && channel instanceof DuplexChannel duplex) {
                duplex.shutdownOutput();
            } else {
                channel.close();
            }
        });
        timer = loop.schedule(() -> {
            channel.close();
        }, CLOSE_GRACE_MS, TimeUnit.MILLISECONDS);
    }

    private void onLoop(Runnable task) {
        if (loop.inEventLoop()) {
            task.run();
        } else {
            loop.execute(task);
        }
    }

    /** Runs {@code action} once the connection has closed (at once when it already has). */
    public void onClose(Runnable action) {
        onClose = action;
        if (!channel.isOpen()) {
            action.run();
        }
    }

    private void onClosed() {
        Runnable action = onClose;
        if (action != null) {
            action.run();
        }
        State was = state;
        state = State.CLOSED;
        cancelTimer();
        releaseFragments();
        for (Subscription sub : new ArrayList<>(subscriptions.values())) {
            sub.cancel();
            ctx.channels().unsubscribe(sub.channel(), sub);
        }
        subscriptions.clear();
        cancelInboxRetry();
        if (inbox != null) {
            inbox.cancel();
            ctx.channels().unsubscribe(inbox.channel(), inbox);
        }
        if (was != State.AWAITING_HELLO && userId != null) {
            int code = closeCode == 0 ? lostOrPeerCode() : closeCode;
            ctx.registry().unregister(this, CloseCodes.shouldReconnect(code));
            ctx.matches().dropped(userId, id);
        }
        ctx.metrics().connectionClosed(closeCode == 0 ? lostOrPeerCode() : closeCode);
    }

    private void releaseFragments() {
        if (fragments != null) {
            fragments.release();
            fragments = null;
        }
    }
}
