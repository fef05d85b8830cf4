package io.switchboard.gateway.inbox;

import io.switchboard.gateway.auth.UserIds;
import io.switchboard.gateway.channel.ChannelService;
import io.switchboard.gateway.channel.Publication;
import io.switchboard.protocol.Channels;
import java.util.function.Function;
import reactor.core.publisher.Mono;

/**
 * Direct messages: a {@code send} is stored in the recipient's inbox channel ({@code user:<id>}), with its own
 * offsets and epoch, and reaches the recipient wherever it is connected through the same road as channel
 * messages. Only users with a live or resumable connection have their messages stored: an inbox is replayed
 * only to a connection that resumes, so a message to anyone else could never be read, and storing it would let
 * a client fill memory (or Redis) with inboxes of ids that do not exist. {@code delivered} says whether the
 * message was stored, that is whether the recipient was connected or resumable.
 *
 * <p>Whether it is connected is asked before the message is stored: a connection counts only once its inbox is
 * subscribed (or while it is resumable), so {@code delivered:true} means the message, stored after, reaches it
 * live or by replay on resume. Asked after, a message stored just before a late inbox subscription could count
 * as delivered and never arrive.
 */
public final class InboxService {
    private final ChannelService channels;
    private final Function<String, Mono<Boolean>> isConnected;

    /**
     * @param isConnected whether a user has a live connection with a subscribed inbox, or a resumable one,
     *                    anywhere (the session registry's answer)
     */
    public InboxService(ChannelService channels, Function<String, Mono<Boolean>> isConnected) {
        this.channels = channels;
        this.isConnected = isConnected;
    }

    /**
     * Stores {@code data} (raw JSON) in {@code to}'s inbox when {@code to} has a live or resumable connection;
     * emits whether it had (and the message was stored). Nothing is stored for anyone else, nor for a string that
     * is not a user id.
     */
    public Mono<Boolean> send(String from, String to, String data) {
        if (!UserIds.isValid(to)) {
            return Mono.just(false);
        }
        return isConnected
                .apply(to)
                .flatMap(connected -> connected
                        ? channels.publish(Channels.inboxOf(to), Publication.DIRECT, from, data)
                                .thenReturn(true)
                        : Mono.just(false));
    }
}
