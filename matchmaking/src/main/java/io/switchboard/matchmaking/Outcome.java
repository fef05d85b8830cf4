package io.switchboard.matchmaking;

import java.util.List;

/**
 * What one matchmaking operation did: the caller turns it into events for the users concerned.
 *
 * @param status what became of the calling user, see the constants
 * @param ended matches that ended (their partners get {@code match.ended})
 * @param pairings matches made (both users get {@code match.found})
 * @param partner for {@link Matchmaker#dropped}, {@link Matchmaker#returned} and {@link Matchmaker#partnerOf}:
 *                the partner of the calling user's current match, else null
 * @param match the calling user's current match id, when it has one
 */
public record Outcome(String status, List<Ended> ended, List<Pairing> pairings, String partner, String match) {
    /** The user now waits in the queue. */
    public static final String QUEUED = "queued";
    /** The user was matched at once. */
    public static final String MATCHED = "matched";
    /** The user is neither queued nor matched. */
    public static final String IDLE = "idle";
    /** {@code join} while already queued or matched. */
    public static final String CONFLICT = "conflict";
    /** The operation did not apply (no such match, not the current session, ...). */
    public static final String NOTHING = "nothing";
    /** {@code block} refused: the user already blocked {@link MatchmakerSettings#maxBlocks} others. */
    public static final String TOO_MANY = "too_many";

    public Outcome {
        ended = List.copyOf(ended);
        pairings = List.copyOf(pairings);
    }

    public static Outcome of(String status) {
        return new Outcome(status, List.of(), List.of(), null, null);
    }
}
