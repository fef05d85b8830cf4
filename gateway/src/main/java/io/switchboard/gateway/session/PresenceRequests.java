package io.switchboard.gateway.session;

import io.switchboard.gateway.auth.Identity;
import io.switchboard.gateway.presence.PresenceService;
import io.switchboard.protocol.Channels;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import reactor.core.publisher.Mono;

/**
 * A session's presence requests (docs/protocol.md section 10): {@code presence}, {@code presence.count} and
 * {@code match.stats}. Reading a channel's presence needs the right to subscribe to it, not a subscription.
 */
final class PresenceRequests {
    private final PresenceService presence;
    private final Replies replies;

    PresenceRequests(PresenceService presence, Replies replies) {
        this.presence = presence;
        this.replies = replies;
    }

    /** Answers {@code frame} if it is a presence request; null if it is not. */
    Mono<Void> handle(Identity identity, ClientFrame frame) {
        if (frame instanceof ClientFrame.Presence p) {
            if (!allowed(identity, p.id(), p.channel())) {
                return Mono.empty();
            }
            return replies.reply(
                    p.id(),
                    "presence of " + p.channel(),
                    presence.list(p.channel()),
                    roster -> replies.answer(
                            p.id(),
                            id -> new ServerFrame.PresenceAck(
                                    id, p.channel(), roster.count(), roster.users(), roster.truncated())));
        } else if (frame instanceof ClientFrame.PresenceCount p) {
            if (!allowed(identity, p.id(), p.channel())) {
                return Mono.empty();
            }
            return replies.reply(
                    p.id(),
                    "presence count of " + p.channel(),
                    presence.count(p.channel()),
                    count -> replies.answer(
                            p.id(), id -> new ServerFrame.PresenceAck(id, p.channel(), count, null, null)));
        } else if (frame instanceof ClientFrame.MatchStats m) {
            return replies.reply(
                    m.id(),
                    "match.stats",
                    presence.stats(),
                    stats -> replies.answer(
                            m.id(), id -> new ServerFrame.StatsAck(id, stats.online(), stats.waiting())));
        }
        return null;
    }

    private boolean allowed(Identity identity, Long id, String channel) {
        if (identity.maySubscribe(channel)) {
            return true;
        }
        replies.error(
                id,
                ErrorCodes.FORBIDDEN,
                "cannot read the presence of " + channel + ": "
                        + (Channels.isInbox(channel)
                                ? "user: channels have no presence"
                                : "only public: channels and those the token's subscribe claim grants are allowed"));
        return false;
    }
}
