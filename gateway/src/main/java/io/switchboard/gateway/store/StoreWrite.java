package io.switchboard.gateway.store;

import java.time.Instant;
import java.util.List;

/**
 * A record on its way to the store. Each is idempotent (an upsert), so a write retried after a timeout that had
 * in fact succeeded does no harm, and the two halves of a match may land in either order.
 */
public sealed interface StoreWrite {

    /** {@code user} blocked {@code other}. */
    record Block(String user, String other, Instant at) implements StoreWrite {}

    /** A match began. */
    record MatchStarted(
            String match, String initiator, String other, List<String> interests, Instant started, String node)
            implements StoreWrite {
        public MatchStarted {
            interests = List.copyOf(interests);
        }
    }

    /** A match ended. */
    record MatchEnded(String match, Instant ended, String reason) implements StoreWrite {}
}
