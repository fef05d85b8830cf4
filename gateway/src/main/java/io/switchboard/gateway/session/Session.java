package io.switchboard.gateway.session;

import io.switchboard.gateway.auth.Identity;
import io.switchboard.gateway.config.GatewayConfig;
import io.switchboard.gateway.events.WebhookEvent;
import io.switchboard.gateway.hooks.ClientHeaders;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.FrameDecodeException;
import io.switchboard.protocol.StreamPosition;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * One client connection after the WebSocket upgrade: its state (awaiting {@code hello}, open, closing, closed)
 * and the dispatch of its requests (docs/protocol.md sections 1 to 5 and 7). It knows no sockets: the transport feeds
 * it what arrives and it answers through its {@link Outbound}; the handshake, the requests, the heartbeat and
 * the rate limits are the classes around it.
 *
 * <p>All state is confined to the connection's loop, the {@link Scheduler} it is given. Requests are processed
 * one after the other, so replies come in request order.
 */
public final class Session implements SessionHandle {
    private static final Logger log = LoggerFactory.getLogger(Session.class);

    private final SessionContext ctx;
    private final Outbound out;
    private final Scheduler scheduler;
    private final int loopIndex;
    private final String id;
    private final RateLimits limits;
    private final Heartbeat heartbeat;
    private final Replies replies;
    private final SessionInbox inbox;
    private final ChannelRequests channels;
    private final MatchRequests matches;
    private final PresenceRequests presence;
    private final RpcRequests rpc;
    /** The upgrade request's headers for the {@code connect} hook; dropped once {@code hello} is answered. */
    private ClientHeaders headers;

    private volatile Runnable onClose;
    private volatile String userId;
    private Identity identity;
    private SessionState state = SessionState.AWAITING_HELLO;
    private int closeCode;
    /** Why the server closed it for good ({@code replaced}, {@code kicked}), for its webhook event; else null. */
    private String endReason;

    /** {@code scheduler} is the connection's loop (inline when on it; timers), {@code loopIndex} its number. */
    public Session(SessionContext ctx, Outbound out, Scheduler scheduler, int loopIndex) {
        this(ctx, out, scheduler, loopIndex, null);
    }

    /** With the upgrade request's {@code headers} the {@code connect} hook receives (null: none). */
    public Session(SessionContext ctx, Outbound out, Scheduler scheduler, int loopIndex, ClientHeaders headers) {
        GatewayConfig config = ctx.config();
        this.ctx = ctx;
        this.out = out;
        this.scheduler = scheduler;
        this.loopIndex = loopIndex;
        this.id = ctx.ids().session();
        this.limits = new RateLimits(config.rate(), config.burst(), ctx.nanoTime());
        this.heartbeat =
                new Heartbeat(this, out, scheduler, ctx.nanoTime(), config.pingIntervalMs(), config.pingTimeoutMs());
        this.replies = new Replies(this, out, ctx.metrics(), scheduler, config.rate(), config.burst());
        this.inbox = new SessionInbox(this, ctx, scheduler);
        this.headers = headers;
        this.channels = new ChannelRequests(
                this, ctx.channels(), ctx.inbox(), ctx.presence(), replies, config.maxSubscriptions(), ctx.hooks());
        this.rpc = new RpcRequests(this, ctx.hooks(), replies);
        this.presence = new PresenceRequests(ctx.presence(), replies);
        this.matches = new MatchRequests(this, ctx.matches(), replies, config.maxBlocks());
    }

    /** The connection is up: counted, and closed with 4005 unless {@code hello} comes in time. */
    public void start() {
        ctx.metrics().connectionOpened();
        heartbeat.awaitHello(ctx.config().helloTimeoutMs());
    }

    /** A frame (any kind) arrived: a sign of life, counted against the abuse bound; false to drop it. */
    public boolean arrived() {
        heartbeat.seen();
        if (state == SessionState.CLOSING || state == SessionState.CLOSED) {
            return false;
        }
        if (!limits.withinAbuseBound()) {
            close(
                    CloseCodes.POLICY_VIOLATION,
                    "sending frames at more than " + RateLimits.ABUSE_FACTOR + " times the rate limit");
            return false;
        }
        return true;
    }

    /**
     * A ping or pong arrived: it costs like any frame; whether it was within the rate (only then is a ping
     * answered, through the bounded outbound: a client that pings and never reads is closed as a slow consumer).
     */
    public boolean controlArrived() {
        return limits.tryTake();
    }

    /** A whole text message arrived: counted against the rate limit, to be {@link #process processed} in turn. */
    public Inbound textArrived(String text) {
        return limits.tryTake() ? new Inbound(text, false, 0) : new Inbound(text, true, limits.millisUntilToken());
    }

    /** Answers one text message; completes when the reply is written (or the request failed). */
    public Mono<Void> process(Inbound in) {
        if (state == SessionState.CLOSING || state == SessionState.CLOSED) {
            return Mono.empty();
        }
        ClientFrame frame;
        try {
            frame = FrameCodec.decodeClient(in.text());
        } catch (FrameDecodeException e) {
            ctx.metrics().frameIn("invalid");
            if (state == SessionState.AWAITING_HELLO) {
                replies.error(e.id(), ErrorCodes.BAD_REQUEST, "the first frame must be hello: " + e.getMessage());
                close(CloseCodes.PROTOCOL_ERROR, "expected hello");
            } else if (in.limited()) {
                replies.rateLimited(e.id(), in.retryAfter());
            } else {
                replies.error(e.id(), e.code(), e.getMessage());
            }
            return Mono.empty();
        }
        ctx.metrics().frameIn(frame.type());
        try {
            return dispatch(frame, in);
        } catch (RuntimeException e) {
            log.warn("Connection {} of user {}: {} frame failed", id, userId, frame.type(), e);
            replies.error(frame.id(), ErrorCodes.INTERNAL, "the gateway failed to handle this " + frame.type());
            return Mono.empty();
        }
    }

    private Mono<Void> dispatch(ClientFrame frame, Inbound in) {
        if (state == SessionState.AWAITING_HELLO) {
            if (frame instanceof ClientFrame.Hello hello) {
                heartbeat.stop();
                ClientHeaders h = headers;
                headers = null;
                return new Handshake(this, ctx, replies, scheduler, h).hello(hello);
            }
            return protocolError(frame.id(), "the first frame must be hello, not " + frame.type(), "expected hello");
        }
        if (frame instanceof ClientFrame.Hello) {
            return protocolError(null, "hello was already received on this connection", "second hello");
        }
        if (frame instanceof ClientFrame.Pong) {
            return Mono.empty();
        }
        if (in.limited()) {
            replies.rateLimited(frame.id(), in.retryAfter());
            return Mono.empty();
        }
        Mono<Void> answer = channels.handle(identity, frame);
        answer = answer != null ? answer : presence.handle(identity, frame);
        answer = answer != null ? answer : matches.handle(frame);
        answer = answer != null ? answer : rpc.handle(identity, frame);
        if (answer != null) {
            return answer;
        }
        replies.error(frame.id(), ErrorCodes.UNKNOWN_TYPE, "unknown frame type '" + frame.type() + "'");
        return Mono.empty();
    }

    private Mono<Void> protocolError(Long requestId, String message, String reason) {
        replies.error(requestId, ErrorCodes.BAD_REQUEST, message);
        close(CloseCodes.PROTOCOL_ERROR, reason);
        return Mono.empty();
    }

    /**
     * The connection is now {@code who}'s: registered, heart beating, subscribed to {@code serverChannels} (the
     * backend's, docs/backend.md) and its inbox, welcomed. The channels' {@code subscribed} frames come before the
     * {@code welcome}, their messages after it; when they cannot be subscribed (Redis away) the client is told
     * {@code unavailable} and closed with 1011, to come back.
     */
    Mono<Void> open(Identity who, Handshake.Resume resume, StreamPosition inboxSince, List<String> serverChannels) {
        identity = who;
        userId = who.userId();
        state = SessionState.OPEN;
        inbox.opening(who.guest(), resume, inboxSince);
        if (!ctx.events().enabled()) {
            return registered(serverChannels);
        }
        // the user.connected is stored before anything else: before the welcome, before it replaces anyone
        String resumes = resume.claim() == null ? null : resume.claim().session();
        return ctx.events()
                .opened(userId, id, resumes)
                .publishOn(scheduler)
                .then(Mono.defer(() -> state == SessionState.OPEN ? registered(serverChannels) : Mono.empty()));
    }

    /** Registered, heart beating, subscribed to {@code serverChannels} and its inbox, welcomed. */
    private Mono<Void> registered(List<String> serverChannels) {
        ctx.registry().register(this);
        heartbeat.start();
        if (serverChannels.isEmpty()) {
            return inbox.subscribe(true);
        }
        return channels.subscribeServerSide(serverChannels)
                .flatMap(subscribed -> {
                    if (!isOpen()) {
                        return Mono.<Void>empty();
                    }
                    inbox.aroundWelcome(
                            () -> subscribed.forEach(c -> out.write(c.frame())),
                            () -> subscribed.forEach(c -> c.subscription().ready(null, c.read())));
                    return inbox.subscribe(true);
                })
                .onErrorResume(e -> {
                    log.debug(
                            "Connection {} of user {}: the backend's channels cannot be subscribed: {}",
                            id,
                            userId,
                            e.toString());
                    replies.error(
                            null,
                            ErrorCodes.UNAVAILABLE,
                            "the channels the application subscribes this connection to are unavailable right now,"
                                    + " try again",
                            Replies.UNAVAILABLE_RETRY_MS);
                    close(CloseCodes.INTERNAL_ERROR, "channels unavailable, try again");
                    return Mono.empty();
                });
    }

    @Override
    public String id() {
        return id;
    }

    @Override
    public String userId() {
        return userId;
    }

    boolean awaitingHello() {
        return state == SessionState.AWAITING_HELLO;
    }

    boolean isOpen() {
        return state == SessionState.OPEN;
    }

    int loopIndex() {
        return loopIndex;
    }

    /** Counts one frame of {@code type} written to this connection as wire bytes encoded elsewhere. */
    void framesOut(String type) {
        ctx.metrics().framesOut(type, 1);
    }

    /** The connection's loop. */
    Scheduler scheduler() {
        return scheduler;
    }

    /** Runs {@code task} on the connection's loop, in a task of its own. */
    void onLoop(Runnable task) {
        scheduler.schedule(task);
    }

    long outboundLimit() {
        return ctx.config().outboundBytes();
    }

    Outbound outbound() {
        return out;
    }

    @Override
    public boolean inboxSubscribed() {
        return inbox.subscribed();
    }

    @Override
    public boolean receivesInbox() {
        return inbox.receives();
    }

    @Override
    public StreamPosition inboxStart() {
        return inbox.start();
    }

    @Override
    public void retryInbox() {
        scheduler.schedule(inbox::retry);
    }

    /** The client reads too slowly (the outbound is past its bound): write nothing more, close with 4004. */
    public void slowConsumer() {
        if (state == SessionState.CLOSING || state == SessionState.CLOSED) {
            return;
        }
        out.stopWrites();
        ctx.metrics().slowConsumerClosed();
        long bound = ctx.config().outboundBytes();
        log.debug("Connection {} of user {}: more than {} bytes pending, closing with 4004", id, userId, bound);
        close(CloseCodes.SLOW_CONSUMER, "slow consumer: more than " + bound + " bytes pending");
    }

    @Override
    public void replaced() {
        scheduler.schedule(() -> {
            if (state == SessionState.OPEN) {
                endReason = WebhookEvent.REPLACED;
                replies.error(
                        null,
                        ErrorCodes.SESSION_REPLACED,
                        "a newer connection of user " + userId + " replaced this one");
                close(CloseCodes.SESSION_REPLACED, "session replaced");
            }
        });
    }

    @Override
    public void disconnect() {
        scheduler.schedule(() -> {
            if (state == SessionState.OPEN && endReason == null) {
                endReason = WebhookEvent.KICKED;
            }
            close(CloseCodes.SESSION_REPLACED, "disconnected by the server");
        });
    }

    @Override
    public void close(int code, String reason) {
        close(code, reason, false);
    }

    /**
     * Closes with {@code code} through the outbound's close handshake; with {@code cut}, without waiting for the
     * client's close frame (after a violation the WebSocket decoder reads nothing more).
     */
    public void close(int code, String reason, boolean cut) {
        scheduler.schedule(() -> {
            if (state == SessionState.CLOSING || state == SessionState.CLOSED) {
                return;
            }
            state = SessionState.CLOSING;
            closeCode = code;
            heartbeat.stop();
            out.close(code, reason, cut);
        });
    }

    @Override
    public void onClose(Runnable action) {
        onClose = action;
        if (!out.isOpen()) {
            action.run();
        }
    }

    /** The connection closed; with {@code code} (the peer's, a violation's, or 1006) unless this side closed it. */
    public void closed(int lostOrPeerCode) {
        Runnable action = onClose;
        if (action != null) {
            action.run();
        }
        SessionState was = state;
        state = SessionState.CLOSED;
        heartbeat.stop();
        int code = closeCode == 0 ? lostOrPeerCode : closeCode;
        channels.closeAll(CloseCodes.shouldReconnect(code));
        inbox.close();
        if (was != SessionState.AWAITING_HELLO && userId != null) {
            ctx.registry().unregister(this, CloseCodes.shouldReconnect(code));
            ctx.matches().dropped(userId, id);
            // a connection that may be resumed ends its session only if the grace runs out first
            ctx.events()
                    .ended(
                            id,
                            endReason != null
                                    ? endReason
                                    : CloseCodes.shouldReconnect(code) ? null : WebhookEvent.CLOSED);
        }
        ctx.metrics().connectionClosed(code);
    }
}
