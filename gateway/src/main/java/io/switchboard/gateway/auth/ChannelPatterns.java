package io.switchboard.gateway.auth;

import java.util.List;

/** Channel patterns from a token claim: an exact name, or a prefix ending in {@code *}. */
public record ChannelPatterns(List<String> patterns) {
    public static final ChannelPatterns NONE = new ChannelPatterns(List.of());

    public ChannelPatterns {
        patterns = List.copyOf(patterns);
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
