package io.switchboard.gateway.auth;

import io.switchboard.protocol.Channels;

/**
 * An authenticated connection's user, what it may do beyond the {@code public:} namespace, and its public
 * {@code info} for presence (raw JSON: the token's claim {@code info}, {@code {}} for guests).
 */
public record Identity(String userId, boolean guest, ChannelPatterns subscribe, ChannelPatterns publish, String info) {
    /** The info of a user whose token has none, and of guests. */
    public static final String NO_INFO = "{}";

    public Identity(String userId, boolean guest, ChannelPatterns subscribe, ChannelPatterns publish) {
        this(userId, guest, subscribe, publish, NO_INFO);
    }

    public static Identity guest(String userId) {
        return new Identity(userId, true, ChannelPatterns.NONE, ChannelPatterns.NONE, NO_INFO);
    }

    public boolean maySubscribe(String channel) {
        return !Channels.isInbox(channel) && (channel.startsWith(Channels.PUBLIC_PREFIX) || subscribe.matches(channel));
    }

    public boolean mayPublish(String channel) {
        return !Channels.isInbox(channel) && (channel.startsWith(Channels.PUBLIC_PREFIX) || publish.matches(channel));
    }
}
