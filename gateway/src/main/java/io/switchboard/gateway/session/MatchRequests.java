package io.switchboard.gateway.session;

import io.switchboard.gateway.match.MatchService;
import io.switchboard.matchmaking.Outcome;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import reactor.core.publisher.Mono;

/**
 * A session's random-connect requests (docs/protocol.md section 6): {@code match.join}, {@code match.signal},
 * {@code match.next}, {@code match.leave} and {@code block}, validated here and forwarded to the
 * {@link MatchService}. Confined to the session's loop.
 */
final class MatchRequests {
    /** Most interests a user may give, and the longest one. */
    static final int MAX_INTERESTS = 16;

    static final int MAX_INTEREST_LENGTH = 64;

    private final Session session;
    private final MatchService matches;
    private final Replies replies;
    private final int maxBlocks;

    MatchRequests(Session session, MatchService matches, Replies replies, int maxBlocks) {
        this.session = session;
        this.matches = matches;
        this.replies = replies;
        this.maxBlocks = maxBlocks;
    }

    /** Answers {@code frame} if it is a random-connect request; null if it is not. */
    Mono<Void> handle(ClientFrame frame) {
        if (frame instanceof ClientFrame.MatchJoin j) {
            return join(j);
        } else if (frame instanceof ClientFrame.MatchSignal m) {
            return signal(m);
        } else if (frame instanceof ClientFrame.MatchNext n) {
            return next(n);
        } else if (frame instanceof ClientFrame.MatchLeave l) {
            return leave(l);
        } else if (frame instanceof ClientFrame.Block b) {
            return block(b);
        }
        return null;
    }

    private Mono<Void> join(ClientFrame.MatchJoin j) {
        for (String interest : j.interests()) {
            if (interest.isEmpty()
                    || interest.length() > MAX_INTEREST_LENGTH
                    || interest.chars().anyMatch(Character::isISOControl)) {
                replies.error(
                        j.id(),
                        ErrorCodes.BAD_REQUEST,
                        "field 'interests': each must be 1 to " + MAX_INTEREST_LENGTH
                                + " characters without control characters");
                return Mono.empty();
            }
        }
        if (j.interests().size() > MAX_INTERESTS) {
            replies.error(
                    j.id(), ErrorCodes.BAD_REQUEST, "field 'interests': at most " + MAX_INTERESTS + " are allowed");
            return Mono.empty();
        }
        if (!session.inboxSubscribed()) {
            return inboxNotReady(j.id(), "match.join");
        }
        return replies.reply(j.id(), "match.join", matches.join(session.userId(), session.id(), j.interests()), o -> {
            if (Outcome.CONFLICT.equals(o.status())) {
                replies.error(j.id(), ErrorCodes.CONFLICT, "already queued or matched; use match.next or match.leave");
            } else {
                replies.ack(j.id(), id -> new ServerFrame.Ack(id, null, null, null, null, null, true));
            }
        });
    }

    private Mono<Void> signal(ClientFrame.MatchSignal m) {
        return replies.reply(m.id(), "match.signal", matches.signal(session.userId(), m.match(), m.data()), relayed -> {
            if (!relayed) {
                replies.error(m.id(), ErrorCodes.NOT_FOUND, "match " + m.match() + " is not your current match");
            } else {
                replies.ack(m.id());
            }
        });
    }

    private Mono<Void> next(ClientFrame.MatchNext n) {
        if (!session.inboxSubscribed()) {
            return inboxNotReady(n.id(), "match.next");
        }
        return replies.reply(
                n.id(),
                "match.next",
                matches.next(session.userId(), session.id()),
                o -> replies.ack(n.id(), id -> new ServerFrame.Ack(id, null, null, null, null, null, true)));
    }

    private Mono<Void> leave(ClientFrame.MatchLeave l) {
        return replies.reply(l.id(), "match.leave", matches.leave(session.userId()), o -> replies.ack(l.id()));
    }

    private Mono<Void> block(ClientFrame.Block b) {
        if (b.user().equals(session.userId())) {
            replies.error(b.id(), ErrorCodes.BAD_REQUEST, "field 'user': a user cannot block itself");
            return Mono.empty();
        }
        String problem = MatchService.blockProblem(b.user());
        if (problem != null) {
            replies.error(b.id(), ErrorCodes.BAD_REQUEST, problem);
            return Mono.empty();
        }
        return replies.reply(b.id(), "block", matches.block(session.userId(), b.user()), o -> {
            if (Outcome.TOO_MANY.equals(o.status())) {
                replies.error(
                        b.id(),
                        ErrorCodes.TOO_MANY,
                        "cannot block " + b.user() + ": at most " + maxBlocks
                                + " blocks per user (SWITCHBOARD_MAX_BLOCKS)");
            } else {
                replies.ack(b.id());
            }
        });
    }

    /**
     * Random-connect events reach a user through its inbox: while it is not subscribed the user is neither
     * queued nor matched, or it could miss its {@code match.found} and leave a partner with a match it never
     * heard of.
     */
    private Mono<Void> inboxNotReady(Long requestId, String what) {
        replies.error(
                requestId,
                ErrorCodes.UNAVAILABLE,
                what + " is unavailable until this connection's inbox can"
                        + " receive (Redis is not reachable), try again",
                Replies.UNAVAILABLE_RETRY_MS);
        return Mono.empty();
    }
}
