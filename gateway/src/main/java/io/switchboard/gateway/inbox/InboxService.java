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
 *
 * <p>Whether it is connected is asked before the message is stored: a connection counts only once its inbox is
 * subscribed (or while it is resumable), so {@code delivered:true} means the message, stored after, reaches it
 * live or by replay on resume. Asked after, a message stored just before a late inbox subscription could count
 * as delivered and never arrive. A recipient that becomes connected in between
 * may get it too, with {@code delivered:false}. Nothing is stored when the question cannot be answered.
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
        return registry.isConnected(to)
                .flatMap(connected -> channels.publish(Channels.inboxOf(to), Publication.DIRECT, from, data)
                        .thenReturn(connected));
    }
}
