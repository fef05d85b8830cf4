package io.switchboard.gateway.session;

import io.switchboard.gateway.channel.HistoryRead;
import io.switchboard.protocol.Channels;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * A session's inbox subscription ({@code user:<id>}) and the {@code welcome} that follows the first one. When
 * the inbox cannot be subscribed (Redis away) the connection is still welcomed, without an inbox position, and
 * the inbox is subscribed as soon as Redis is back (tried every {@link Replies#UNAVAILABLE_RETRY_MS} and when
 * the registry sees Redis come back): local service goes on while a dependency is down. Until then the user
 * does not count as connected through it, and is not matched.
 *
 * <p>A late subscription replays what the client may have missed since it was welcomed: after its
 * {@code inboxSince} (or the position its resumed session had started from) for a resume, everything held for a
 * new guest (whose inbox nobody could know of before this connection), nothing for a new token user (its inbox
 * is older than this connection; what was stored in the instant between Redis coming back and the subscription
 * is not replayed, and none of it was counted as delivered).
 */
final class SessionInbox {
    private static final Logger log = LoggerFactory.getLogger(SessionInbox.class);

    private final Session session;
    private final SessionContext ctx;
    private final Scheduler scheduler;
    private Subscription inbox;
    /** Whether the inbox is subscribed: before, the user does not count as connected through this connection. */
    private volatile boolean subscribed;
    /** Resumed from an inbox position: its inbox subscription replays everything stored after it. */
    private volatile boolean replays;
    /** The position a late inbox subscription started from, its client not told one; null otherwise. */
    private volatile StreamPosition start;

    private boolean attempting;
    private Disposable retry;
    private Handshake.Resume resume = Handshake.Resume.FRESH;
    private StreamPosition recoverFrom;
    private boolean guest;
    /** Written just before the welcome (the server-side channels' {@code subscribed}), and just after it. */
    private Runnable beforeWelcome = () -> {};

    private Runnable afterWelcome = () -> {};

    SessionInbox(Session session, SessionContext ctx, Scheduler scheduler) {
        this.session = session;
        this.ctx = ctx;
        this.scheduler = scheduler;
    }

    boolean subscribed() {
        return subscribed;
    }

    boolean receives() {
        return subscribed || replays;
    }

    StreamPosition start() {
        return start;
    }

    /** The connection opens as {@code resume} says, its inbox replayed after {@code since} (null: not at all). */
    void opening(boolean guest, Handshake.Resume resume, StreamPosition since) {
        this.guest = guest;
        this.resume = resume;
        this.recoverFrom = since;
        this.replays = resume.claim() != null && since != null;
    }

    /** Runs {@code before} just before the {@code welcome} is written and {@code after} just after it. */
    void aroundWelcome(Runnable before, Runnable after) {
        this.beforeWelcome = before;
        this.afterWelcome = after;
    }

    private void welcomed(Runnable write) {
        Runnable before = beforeWelcome;
        Runnable after = afterWelcome;
        beforeWelcome = () -> {};
        afterWelcome = () -> {};
        before.run();
        write.run();
        after.run();
    }

    /** Subscribes the inbox; the first time ({@code welcoming}), the welcome follows. */
    Mono<Void> subscribe(boolean welcoming) {
        attempting = true;
        cancelRetry();
        String userId = session.userId();
        Subscription sub = new Subscription(session, Channels.inboxOf(userId));
        inbox = sub;
        boolean replayAll = !welcoming && recoverFrom == null && resume.claim() == null && guest;
        return from().map(Optional::of)
                .defaultIfEmpty(Optional.empty())
                .flatMap(from -> ctx.channels()
                        .subscribe(sub.channel(), sub, from.orElse(null))
                        .flatMap(read -> replayAll && read.latest() > 0
                                ? ctx.channels().history().read(sub.channel(), new StreamPosition(0, read.epoch()))
                                : Mono.just(read))
                        .flatMap(read -> {
                            if (!welcoming) {
                                StreamPosition asked =
                                        replayAll ? new StreamPosition(0, read.epoch()) : from.orElse(null);
                                start = asked != null && read.recovered()
                                        ? asked
                                        : new StreamPosition(read.latest(), read.epoch());
                            }
                            subscribed = true;
                            return ctx.registry()
                                    .claim(session)
                                    .onErrorResume(e -> Mono.empty())
                                    .thenReturn(read);
                        }))
                .publishOn(scheduler)
                .doOnNext(read -> {
                    attempting = false;
                    if (session.isOpen()) {
                        if (welcoming) {
                            welcomed(() -> sub.ready(welcome(read), read));
                        } else {
                            sub.ready(null, read);
                        }
                        ctx.matches().returned(userId, session.id());
                    }
                })
                .onErrorResume(e -> {
                    attempting = false;
                    sub.cancel();
                    ctx.channels().unsubscribe(sub.channel(), sub);
                    log.debug("Connection {} of user {}: inbox unavailable: {}", session.id(), userId, e.toString());
                    if (!session.isOpen()) {
                        return Mono.empty();
                    }
                    if (welcoming) {
                        welcomed(() -> session.outbound().write(welcome(null)));
                    }
                    retry = scheduler.schedule(
                            () -> {
                                retry = null;
                                session.retryInbox();
                            },
                            Replies.UNAVAILABLE_RETRY_MS,
                            TimeUnit.MILLISECONDS);
                    return Mono.empty();
                })
                .then();
    }

    /** Subscribes again when the session is open, its inbox still not subscribed and no attempt runs. */
    void retry() {
        if (session.isOpen() && !subscribed && !attempting) {
            subscribe(false).subscribe();
        }
    }

    /**
     * Where the inbox subscription starts: the client's {@code inboxSince} on a resume, else, for a resume the
     * registry could not check at hello, the position the resumed session had started from if it had one.
     */
    private Mono<StreamPosition> from() {
        if (recoverFrom != null || resume.claim() == null || resume.checked()) {
            return Mono.justOrEmpty(recoverFrom);
        }
        return ctx.registry()
                .resumable(session.userId(), resume.claim().session())
                .mapNotNull(SessionRegistry.Resumable::inboxStart);
    }

    private ServerFrame.Welcome welcome(HistoryRead inboxRead) {
        StreamPosition position = inboxRead == null ? null : new StreamPosition(inboxRead.latest(), inboxRead.epoch());
        boolean resumed = resume.claim() != null;
        boolean recovered = resumed && recoverFrom != null && inboxRead != null && inboxRead.recovered();
        return new ServerFrame.Welcome(
                session.id(),
                session.userId(),
                guest,
                ctx.resumeTokens().issue(session.userId(), guest, session.id()),
                resumed,
                recovered,
                position,
                ctx.config().pingIntervalMs(),
                ctx.config().pingTimeoutMs(),
                ctx.limits(),
                ctx.config().nodeId());
    }

    private void cancelRetry() {
        if (retry != null) {
            retry.dispose();
            retry = null;
        }
    }

    /** The connection closed: the subscription and any retry go. */
    void close() {
        cancelRetry();
        if (inbox != null) {
            inbox.cancel();
            ctx.channels().unsubscribe(inbox.channel(), inbox);
        }
    }
}
