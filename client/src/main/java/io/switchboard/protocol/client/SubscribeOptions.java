package io.switchboard.protocol.client;

import io.switchboard.protocol.StreamPosition;

/**
 * How {@link ReconnectingClient#subscribe(String, SubscribeOptions)} subscribes a channel. Immutable; the
 * {@code with*} methods return changed copies. {@code presence} and {@code joinLeave} are kept with the channel and
 * sent again on every reconnect; {@code since} is used once (docs/protocol.md sections 5 and 10).
 *
 * @param since start after this position kept from before (a previous run), or null; used only while the client
 *              knows no position of its own for the channel
 * @param presence this user is present in the channel while subscribed (default false)
 * @param joinLeave the channel's {@code join} and {@code leave} reach {@link ReconnectingClient#frames()}, and the
 *                  client keeps the channel's roster (default false)
 */
public record SubscribeOptions(StreamPosition since, boolean presence, boolean joinLeave) {
    /** No position, no presence, no join and leave: a plain subscription. */
    public static final SubscribeOptions DEFAULT = new SubscribeOptions(null, false, false);

    public SubscribeOptions withSince(StreamPosition since) {
        return new SubscribeOptions(since, presence, joinLeave);
    }

    public SubscribeOptions withPresence(boolean presence) {
        return new SubscribeOptions(since, presence, joinLeave);
    }

    public SubscribeOptions withJoinLeave(boolean joinLeave) {
        return new SubscribeOptions(since, presence, joinLeave);
    }
}
