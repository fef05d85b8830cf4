package io.switchboard.gateway.auth;

import io.switchboard.protocol.Channels;

/** An authenticated connection's user and what it may do beyond the {@code public:} namespace. */
public record Identity(String userId, boolean guest, ChannelPatterns subscribe, ChannelPatterns publish) {

    public static Identity guest(String userId) {
        return new Identity(userId, true, ChannelPatterns.NONE, ChannelPatterns.NONE);
    }

    public boolean maySubscribe(String channel) {
        return !Channels.isInbox(channel) && (channel.startsWith(Channels.PUBLIC_PREFIX) || subscribe.matches(channel));
    }

    public boolean mayPublish(String channel) {
        return !Channels.isInbox(channel) && (channel.startsWith(Channels.PUBLIC_PREFIX) || publish.matches(channel));
    }
}
