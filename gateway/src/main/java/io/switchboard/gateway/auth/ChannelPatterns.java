package io.switchboard.gateway.auth;

import io.switchboard.protocol.Channels;
import java.util.List;

/**
 * Channel patterns (a token claim, {@code SWITCHBOARD_HOOK_CHANNELS}): an exact name, or a prefix ending in
 * {@code *}.
 */
public record ChannelPatterns(List<String> patterns) {
    public static final ChannelPatterns NONE = new ChannelPatterns(List.of());

    public ChannelPatterns {
        patterns = List.copyOf(patterns);
    }

    /** Whether {@code pattern} is a channel name, or a prefix of one ending in {@code *} (a lone {@code *}: all). */
    public static boolean valid(String pattern) {
        String name = pattern.endsWith("*") ? pattern.substring(0, pattern.length() - 1) : pattern;
        return name.isEmpty() || Channels.problem(name) == null;
    }

    public boolean matches(String channel) {
        for (String p : patterns) {
            if (p.endsWith("*") ? channel.startsWith(p.substring(0, p.length() - 1)) : channel.equals(p)) {
                return true;
            }
        }
        return false;
    }
}
