package io.switchboard.gateway.inbox;

import io.switchboard.gateway.channel.ChannelService;
import io.switchboard.gateway.channel.Publication;
import io.switchboard.gateway.session.SessionRegistry;
import io.switchboard.protocol.Channels;
import reactor.core.publisher.Mono;

/**
 * Direct messages: a {@code send} is stored in the recipient's inbox channel ({@code user:<id>}), with its own
 * offsets and epoch, and reaches the recipient wherever it is connected through the same road as channel
 * messages. {@code delivered} says whether the recipient was connected when the message was stored.
 */
public final class InboxService {
    private final ChannelService channels;
    private final SessionRegistry registry;

    public InboxService(ChannelService channels, SessionRegistry registry) {
        this.channels = channels;
        this.registry = registry;
    }

    /** Stores {@code data} (raw JSON) in {@code to}'s inbox; emits whether {@code to} was connected. */
    public Mono<Boolean> send(String from, String to, String data) {
        return channels.publish(Channels.inboxOf(to), Publication.DIRECT, from, data)
                .then(registry.isConnected(to));
    }
}
