package io.switchboard.gateway.session;

import io.switchboard.gateway.auth.Identity;
import io.switchboard.gateway.channel.ChannelService;
import io.switchboard.gateway.channel.HistoryRead;
import io.switchboard.gateway.channel.Publication;
import io.switchboard.gateway.config.HookConfig;
import io.switchboard.gateway.hooks.Hooks;
import io.switchboard.gateway.inbox.InboxService;
import io.switchboard.gateway.presence.PresenceService;
import io.switchboard.protocol.Channels;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * A session's channel requests (docs/protocol.md sections 5 and 10): {@code subscribe} (with presence and join and
 * leave), {@code unsubscribe}, {@code publish} and {@code send}, and the subscriptions they hold. A subscribe or
 * publish to a channel the hooks cover asks the backend first (docs/backend.md), after the token's rights and the
 * subscription limit were checked; an idempotent subscribe does not. Confined to the session's loop.
 */
final class ChannelRequests {
    private final Session session;
    private final ChannelService channels;
    private final InboxService inbox;
    private final PresenceService presence;
    private final Replies replies;
    private final int maxSubscriptions;
    private final Hooks hooks;
    private final Map<String, Subscription> subscriptions = new HashMap<>();

    ChannelRequests(
            Session session,
            ChannelService channels,
            InboxService inbox,
            PresenceService presence,
            Replies replies,
            int maxSubscriptions,
            Hooks hooks) {
        this.session = session;
        this.channels = channels;
        this.inbox = inbox;
        this.presence = presence;
        this.replies = replies;
        this.maxSubscriptions = maxSubscriptions;
        this.hooks = hooks;
    }

    /** Answers {@code frame} if it is a channel request; null if it is not. */
    Mono<Void> handle(Identity identity, ClientFrame frame) {
        if (frame instanceof ClientFrame.Subscribe s) {
            return subscribe(identity, s);
        } else if (frame instanceof ClientFrame.Unsubscribe u) {
            return unsubscribe(u);
        } else if (frame instanceof ClientFrame.Publish p) {
            return publish(identity, p);
        } else if (frame instanceof ClientFrame.Send s) {
            return send(identity, s);
        }
        return null;
    }

    private Mono<Void> subscribe(Identity identity, ClientFrame.Subscribe s) {
        String channelName = s.channel();
        if (!identity.maySubscribe(channelName)) {
            replies.error(
                    s.id(),
                    ErrorCodes.FORBIDDEN,
                    "cannot subscribe to " + channelName + ": "
                            + (Channels.isInbox(channelName)
                                    ? "user: is reserved for inboxes"
                                    : "only public: channels and those the token's subscribe claim grants are allowed"));
            return Mono.empty();
        }
        Subscription existing = subscriptions.get(channelName);
        if (existing != null) {
            Boolean recovered = s.since() == null ? null : s.since().epoch().equals(existing.epoch());
            replies.ack(
                    s.id(),
                    id -> new ServerFrame.Ack(
                            id, channelName, existing.lastOffset(), existing.epoch(), recovered, null, null));
            return Mono.empty();
        }
        if (subscriptions.size() >= maxSubscriptions) {
            replies.error(
                    s.id(),
                    ErrorCodes.TOO_MANY,
                    "cannot subscribe to " + channelName + ": at most " + maxSubscriptions
                            + " subscriptions per connection");
            return Mono.empty();
        }
        if (!hooks.asks(HookConfig.SUBSCRIBE, channelName)) {
            return subscribeNow(identity, s);
        }
        return replies.then(
                s.id(),
                "subscribe to " + channelName,
                hooks.subscribe(identity.userId(), session.id(), channelName),
                verdict -> {
                    if (!session.isOpen()) {
                        return Mono.empty();
                    }
                    if (!verdict.allowed()) {
                        replies.refused(s.id(), verdict.refusal());
                        return Mono.empty();
                    }
                    return subscribeNow(identity, s);
                });
    }

    /** Subscribes (the rights, the limit and the backend checked). */
    private Mono<Void> subscribeNow(Identity identity, ClientFrame.Subscribe s) {
        String channelName = s.channel();
        Subscription sub = new Subscription(session, channelName, s.presence(), s.joinLeave());
        subscriptions.put(channelName, sub);
        if (sub.joinLeave()) {
            presence.listen(channelName, sub.presenceEvents());
        }
        Mono<HistoryRead> subscribed = channels.subscribe(channelName, sub, s.since());
        if (sub.presence()) {
            // on the connection's loop: an unsubscribe or a close that came meanwhile has then cancelled it
            subscribed = subscribed
                    .publishOn(session.scheduler())
                    .flatMap(read -> sub.cancelled()
                            ? Mono.just(read)
                            : presence.join(session.id(), identity.userId(), identity.info(), channelName)
                                    .thenReturn(read));
        }
        return replies.reply(
                s.id(),
                "subscribe to " + channelName,
                subscribed,
                read -> sub.ready(
                        s.id() == null
                                ? null
                                : new ServerFrame.Ack(
                                        s.id(),
                                        channelName,
                                        read.latest(),
                                        read.epoch(),
                                        s.since() == null ? null : read.recovered(),
                                        null,
                                        null),
                        read),
                () -> {
                    if (subscriptions.remove(channelName, sub)) {
                        end(sub);
                    }
                });
    }

    /** A channel the server subscribes before the {@code welcome}, and what its history said then. */
    record ServerSide(Subscription subscription, HistoryRead read) {
        ServerFrame.Subscribed frame() {
            return new ServerFrame.Subscribed(subscription.channel(), read.latest(), read.epoch());
        }
    }

    /**
     * Subscribes the channels the backend's {@code connect} answer named (docs/backend.md), in their order; emits,
     * on the connection's loop, each subscription with its read, not ready yet: the caller writes the
     * {@code subscribed} frames, the {@code welcome}, then makes them ready, so that no message of theirs comes
     * before the {@code welcome}.
     */
    Mono<List<ServerSide>> subscribeServerSide(List<String> names) {
        List<Mono<ServerSide>> each = new ArrayList<>(names.size());
        for (String name : names) {
            if (subscriptions.containsKey(name)) {
                continue;
            }
            Subscription sub = new Subscription(session, name);
            subscriptions.put(name, sub);
            each.add(channels.subscribe(name, sub, null).map(read -> new ServerSide(sub, read)));
        }
        return Flux.mergeSequential(each).collectList().publishOn(session.scheduler());
    }

    private Mono<Void> unsubscribe(ClientFrame.Unsubscribe u) {
        Subscription sub = subscriptions.remove(u.channel());
        if (sub == null) {
            replies.ack(u.id());
            return Mono.empty();
        }
        // the ack waits until what the unsubscribe makes known (the channel vacated) is stored
        return replies.reply(
                u.id(), "unsubscribe from " + u.channel(), end(sub).thenReturn(true), v -> replies.ack(u.id()));
    }

    /**
     * {@code sub} goes: no more messages, no more joins and leaves, and its user leaves the channel; completes once
     * what that makes known to the backend is stored.
     */
    private Mono<Void> end(Subscription sub) {
        sub.cancel();
        Mono<Void> left = channels.unsubscribed(sub.channel(), sub);
        if (sub.joinLeave()) {
            presence.unlisten(sub.channel(), sub.presenceEvents());
        }
        if (sub.presence()) {
            presence.leave(session.id(), sub.channel());
        }
        return left;
    }

    private Mono<Void> publish(Identity identity, ClientFrame.Publish p) {
        String channelName = p.channel();
        if (!identity.mayPublish(channelName)) {
            replies.error(
                    p.id(),
                    ErrorCodes.FORBIDDEN,
                    "cannot publish to " + channelName + ": "
                            + (Channels.isInbox(channelName)
                                    ? "user: is reserved for inboxes, use send"
                                    : "only public: channels and those the token's publish claim grants are allowed"));
            return Mono.empty();
        }
        if (!hooks.asks(HookConfig.PUBLISH, channelName)) {
            return publishNow(identity, p, p.data());
        }
        return replies.then(
                p.id(),
                "publish to " + channelName,
                hooks.publish(identity.userId(), session.id(), channelName, p.data()),
                verdict -> {
                    if (!session.isOpen()) {
                        return Mono.empty();
                    }
                    if (!verdict.allowed()) {
                        replies.refused(p.id(), verdict.refusal());
                        return Mono.empty();
                    }
                    return publishNow(identity, p, verdict.data() != null ? verdict.data() : p.data());
                });
    }

    /** Publishes {@code data} (the client's, or the backend's replacement). */
    private Mono<Void> publishNow(Identity identity, ClientFrame.Publish p, String data) {
        String channelName = p.channel();
        return replies.reply(
                p.id(),
                "publish to " + channelName,
                channels.publish(channelName, Publication.MESSAGE, identity.userId(), data),
                pub -> replies.ack(
                        p.id(), id -> new ServerFrame.Ack(id, null, pub.offset(), pub.epoch(), null, null, null)));
    }

    private Mono<Void> send(Identity identity, ClientFrame.Send s) {
        return replies.reply(
                s.id(),
                "send to " + s.to(),
                inbox.send(identity.userId(), s.to(), s.data()),
                delivered ->
                        replies.ack(s.id(), id -> new ServerFrame.Ack(id, null, null, null, null, delivered, null)));
    }

    /**
     * The connection closed: every subscription goes. With {@code resumable}, the user stays present in its
     * channels for the resume grace (it leaves them unless it comes back).
     */
    void closeAll(boolean resumable) {
        for (Subscription sub : new ArrayList<>(subscriptions.values())) {
            sub.cancel();
            channels.unsubscribe(sub.channel(), sub);
            if (sub.joinLeave()) {
                presence.unlisten(sub.channel(), sub.presenceEvents());
            }
        }
        subscriptions.clear();
        presence.closed(session.id(), resumable);
    }
}
