package io.switchboard.gateway.session;

import io.switchboard.gateway.auth.AuthException;
import io.switchboard.gateway.auth.Identity;
import io.switchboard.gateway.auth.ResumeTokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.StreamPosition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * The {@code hello} handshake (docs/protocol.md section 2): the protocol version, the token (or a guest), the resume
 * token checked against the registry, and the per-user connect rate; then the session opens, or the client is
 * told why not and closed.
 */
final class Handshake {
    private static final Logger log = LoggerFactory.getLogger(Handshake.class);

    private final Session session;
    private final SessionContext ctx;
    private final Replies replies;
    private final Scheduler scheduler;

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

    Handshake(Session session, SessionContext ctx, Replies replies, Scheduler scheduler) {
        this.session = session;
        this.ctx = ctx;
        this.replies = replies;
        this.scheduler = scheduler;
    }

    Mono<Void> hello(ClientFrame.Hello hello) {
        if (hello.v() != 1) {
            return refuse(
                    ErrorCodes.BAD_REQUEST,
                    "protocol version " + hello.v() + " is not supported; this gateway speaks version 1",
                    CloseCodes.PROTOCOL_ERROR,
                    "unsupported protocol version");
        }
        Identity tokenIdentity = null;
        if (hello.token() != null) {
            try {
                tokenIdentity = ctx.authenticator().authenticate(hello.token());
            } catch (AuthException e) {
                return refuse(ErrorCodes.UNAUTHORIZED, e.getMessage(), CloseCodes.UNAUTHORIZED, "unauthorized");
            }
        } else if (!ctx.config().guests()) {
            return refuse(
                    ErrorCodes.UNAUTHORIZED,
                    "this gateway does not accept guests: hello needs a token",
                    CloseCodes.UNAUTHORIZED,
                    "unauthorized");
        }
        // resume: a token this gateway signed, for the same kind of identity, of a session that dropped within
        // the grace (or is still there, half dead); anything else is not an error but a fresh start
        Identity authenticated = tokenIdentity;
        Mono<ResumeTokens.Claim> claimed =
                hello.resume() == null ? Mono.empty() : ctx.resumeTokens().check(hello.resume());
        return claimed.filter(claim -> authenticated == null
                        ? claim.guest()
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
                    Identity who = authenticated != null
                            ? authenticated
                            : Identity.guest(ok ? r.claim().user() : ctx.ids().guest());
                    // A user reconnecting in a loop (a fresh guest is a new user each time, the edge limits those)
                    long wait = who.guest() && !ok ? 0 : ctx.userConnects().tryTake(who.userId());
                    if (wait > 0) {
                        replies.error(
                                null,
                                ErrorCodes.RATE_LIMITED,
                                "user " + who.userId() + " connects more often" + " than "
                                        + ctx.config().edge().userConnectRate() + " times a second",
                                wait);
                        session.close(CloseCodes.TRY_AGAIN_LATER, "connecting too often");
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
                    return session.open(who, r, since);
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
