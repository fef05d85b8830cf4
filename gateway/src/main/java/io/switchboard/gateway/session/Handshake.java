package io.switchboard.gateway.session;

import io.switchboard.gateway.auth.AuthException;
import io.switchboard.gateway.auth.ChannelPatterns;
import io.switchboard.gateway.auth.Identity;
import io.switchboard.gateway.auth.ResumeTokens;
import io.switchboard.gateway.config.HookConfig;
import io.switchboard.gateway.health.spi.DependencyUnavailableException;
import io.switchboard.gateway.hooks.ClientHeaders;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.StreamPosition;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * The {@code hello} handshake (docs/protocol.md section 2): the protocol version, the token (or a guest), the resume
 * token checked against the registry, the per-user connect rate, and the backend's {@code connect} hook when it is
 * on (docs/backend.md; on a resume too); then the session opens, or the client is told why not and closed.
 */
final class Handshake {
    private static final Logger log = LoggerFactory.getLogger(Handshake.class);

    private final Session session;
    private final SessionContext ctx;
    private final Replies replies;
    private final Scheduler scheduler;
    private final ClientHeaders headers;

    /** How a {@code hello}'s resume came out: a claim to resume (checked by the registry or not), or a refusal. */
    record Resume(ResumeTokens.Claim claim, boolean checked, StreamPosition inboxStart, Throwable refusal) {
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

    Handshake(Session session, SessionContext ctx, Replies replies, Scheduler scheduler, ClientHeaders headers) {
        this.session = session;
        this.ctx = ctx;
        this.replies = replies;
        this.scheduler = scheduler;
        this.headers = headers;
    }

    Mono<Void> hello(ClientFrame.Hello hello) {
        if (hello.v() != 1) {
            return refuse(
                    ErrorCodes.BAD_REQUEST,
                    "protocol version " + hello.v() + " is not supported; this gateway speaks version 1",
                    CloseCodes.PROTOCOL_ERROR,
                    "unsupported protocol version");
        }
        boolean connectHook = ctx.hooks().proxies(HookConfig.CONNECT);
        boolean guests = ctx.config().guests();
        Identity tokenIdentity = null;
        if (hello.token() != null) {
            try {
                tokenIdentity = ctx.authenticator().authenticate(hello.token());
            } catch (AuthException e) {
                return refuse(ErrorCodes.UNAUTHORIZED, e.getMessage(), CloseCodes.UNAUTHORIZED, "unauthorized");
            }
        } else if (!guests && !connectHook) {
            return refuse(
                    ErrorCodes.UNAUTHORIZED,
                    "this gateway does not accept guests: hello needs a token",
                    CloseCodes.UNAUTHORIZED,
                    "unauthorized");
        }
        // resume: a token this gateway signed, for the same kind of identity, of a session that dropped within
        // the grace (or is still there, half dead); anything else is not an error but a fresh start. Without a
        // token, a user the connect hook set resumes too: the hook is asked again, and must agree
        Identity authenticated = tokenIdentity;
        Mono<ResumeTokens.Claim> claimed =
                hello.resume() == null ? Mono.empty() : ctx.resumeTokens().check(hello.resume());
        return claimed.filter(claim -> authenticated == null
                        ? claim.guest() ? guests : connectHook
                        : !claim.guest() && claim.user().equals(authenticated.userId()))
                .flatMap(claim -> ctx.registry()
                        .resumable(claim.user(), claim.session())
                        .map(r -> r.ok() ? Resume.checked(claim, r.inboxStart()) : Resume.FRESH)
                        // the token is signed: its user can be trusted without the registry; what the registry
                        // would have said is reconciled once it answers
                        .onErrorResume(e -> Mono.just(Resume.unchecked(claim))))
                .defaultIfEmpty(Resume.FRESH)
                .onErrorResume(e -> Mono.just(Resume.refused(e)))
                .publishOn(scheduler)
                .flatMap(r -> {
                    if (!session.awaitingHello()) {
                        return Mono.empty();
                    }
                    if (r.refusal() != null) {
                        return refuseResume(r.refusal());
                    }
                    boolean ok = r.claim() != null;
                    Identity who;
                    if (authenticated != null) {
                        who = authenticated;
                    } else if (ok) {
                        who = r.claim().guest()
                                ? Identity.guest(r.claim().user())
                                : new Identity(r.claim().user(), false, ChannelPatterns.NONE, ChannelPatterns.NONE);
                    } else {
                        // guests off: the connect hook is the only way in, it must set the user
                        who = guests ? Identity.guest(ctx.ids().guest()) : null;
                    }
                    // A user reconnecting in a loop (a fresh guest is a new user each time, the edge limits those)
                    if (who != null && !(who.guest() && !ok) && connectingTooOften(who.userId())) {
                        return Mono.empty();
                    }
                    if (ok && !r.checked()) {
                        log.debug(
                                "Connection {} resumes user {} without asking Redis: reconciled when it answers",
                                session.id(),
                                who.userId());
                    }
                    StreamPosition since =
                            !ok ? null : hello.inboxSince() != null ? hello.inboxSince() : r.inboxStart();
                    if (!connectHook) {
                        return session.open(who, r, since, List.of());
                    }
                    return askBackend(hello, who, r, since);
                });
    }

    /** Too many connects of {@code user} within a second: told so, and closed with 1013 (true). */
    private boolean connectingTooOften(String user) {
        long wait = ctx.userConnects().tryTake(user);
        if (wait <= 0) {
            return false;
        }
        replies.error(
                null,
                ErrorCodes.RATE_LIMITED,
                "user " + user + " connects more often" + " than "
                        + ctx.config().edge().userConnectRate() + " times a second",
                wait);
        session.close(CloseCodes.TRY_AGAIN_LATER, "connecting too often");
        return true;
    }

    /**
     * The {@code connect} hook (docs/backend.md) decides about {@code who} (null: no token and guests off): it may
     * refuse (the backend's error, close 4001), set the user (not another one than a resume's), add rights, set
     * the {@code info}, and name channels to subscribe before the {@code welcome}. Slow or down: {@code unavailable}
     * and close 1011, which clients retry.
     */
    private Mono<Void> askBackend(ClientFrame.Hello hello, Identity who, Resume r, StreamPosition since) {
        String user = who == null ? null : who.userId();
        return ctx.hooks()
                .connect(user, who == null || who.guest(), session.id(), hello.client(), headers)
                .publishOn(scheduler)
                .flatMap(answer -> {
                    if (!session.awaitingHello()) {
                        return Mono.<Void>empty();
                    }
                    if (answer.refusal() != null) {
                        return refuse(
                                answer.refusal().code(),
                                answer.refusal().message(),
                                CloseCodes.UNAUTHORIZED,
                                "refused by the application");
                    }
                    String newUser = answer.user() == null ? user : answer.user();
                    if (newUser == null) {
                        return refuse(
                                ErrorCodes.UNAUTHORIZED,
                                "this gateway does not accept guests: hello needs a token, or the application's"
                                        + " backend must name the user",
                                CloseCodes.UNAUTHORIZED,
                                "unauthorized");
                    }
                    if (r.claim() != null && !newUser.equals(user)) {
                        log.debug(
                                "Connection {}: the backend names user {} for a resume of user {}: refused",
                                session.id(),
                                newUser,
                                user);
                        return refuse(
                                ErrorCodes.CONFLICT,
                                "the application's backend names another user than the one this connection resumes:"
                                        + " connect again without resume",
                                CloseCodes.UNAUTHORIZED,
                                "resume of another user");
                    }
                    boolean changed = !newUser.equals(user);
                    if (changed && connectingTooOften(newUser)) {
                        return Mono.<Void>empty();
                    }
                    Identity base = who == null
                            ? new Identity(newUser, false, ChannelPatterns.NONE, ChannelPatterns.NONE)
                            : who;
                    List<String> subscribe = new ArrayList<>(base.subscribe().patterns());
                    subscribe.addAll(answer.subscribe());
                    subscribe.addAll(answer.channels());
                    List<String> publish = new ArrayList<>(base.publish().patterns());
                    publish.addAll(answer.publish());
                    Identity decided = new Identity(
                            newUser,
                            !changed && base.guest(),
                            new ChannelPatterns(subscribe),
                            new ChannelPatterns(publish),
                            answer.info() != null ? answer.info() : base.info());
                    return session.open(decided, r, since, answer.channels());
                })
                .onErrorResume(e -> {
                    if (!session.awaitingHello()) {
                        return Mono.empty();
                    }
                    if (!(e instanceof DependencyUnavailableException)) {
                        log.warn("Connection {}: the connect hook failed", session.id(), e);
                    } else {
                        log.debug("Connection {}: the connect hook is unavailable: {}", session.id(), e.toString());
                    }
                    replies.error(
                            null,
                            ErrorCodes.UNAVAILABLE,
                            "the application's backend cannot be asked right now, try again",
                            Replies.UNAVAILABLE_RETRY_MS);
                    session.close(CloseCodes.INTERNAL_ERROR, "backend unavailable, try again");
                    return Mono.empty();
                });
    }

    private Mono<Void> refuse(String errorCode, String message, int closeCode, String reason) {
        replies.error(null, errorCode, message);
        session.close(closeCode, reason);
        return Mono.empty();
    }

    /**
     * The resume token may be valid but cannot be checked now (signed with a key this instance has not learned
     * yet, and Redis does not answer): rather than a fresh identity, which would lose the user, a retryable
     * refusal; the client comes back with the same token.
     */
    private Mono<Void> refuseResume(Throwable why) {
        log.debug("Connection {}: the resume token cannot be checked now: {}", session.id(), why.toString());
        replies.error(
                null,
                ErrorCodes.UNAVAILABLE,
                "the resume token cannot be checked right now, try again",
                Replies.UNAVAILABLE_RETRY_MS);
        session.close(CloseCodes.INTERNAL_ERROR, "resume cannot be checked now, try again");
        return Mono.empty();
    }
}
