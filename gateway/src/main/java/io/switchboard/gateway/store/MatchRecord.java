package io.switchboard.gateway.store;

import java.time.Instant;
import java.util.List;

/**
 * One random-connect match as the history keeps it.
 *
 * @param match the match id
 * @param users both users, the initiator first
 * @param interests the interests they shared
 * @param started when they were matched
 * @param ended when the match ended, or null while it goes on (or its end was not recorded yet)
 * @param reason {@code next}, {@code left} or {@code disconnected}; null while it goes on
 * @param node the instance that made the match
 */
public record MatchRecord(
        String match,
        List<String> users,
        List<String> interests,
        Instant started,
        Instant ended,
        String reason,
        String node) {
    public MatchRecord {
        users = List.copyOf(users);
        interests = List.copyOf(interests);
    }

    /** The other user of the match, seen from {@code user}. */
    public String partnerOf(String user) {
        return users.get(0).equals(user) ? users.get(1) : users.get(0);
    }
}
