package io.switchboard.matchmaking;

/**
 * The pairing rules' settings.
 *
 * @param interestWaitMs after this long in the queue, a user accepts a partner without a shared interest
 *                       ({@code SWITCHBOARD_INTEREST_WAIT_MS})
 * @param avoidRecent how many of the last partners left by next or leave are never matched again
 *                    ({@code SWITCHBOARD_AVOID_RECENT})
 * @param resumeGraceMs how long a dropped user keeps its match ({@code SWITCHBOARD_RESUME_GRACE_MS})
 * @param nodeLeaseMs an instance that did not renew its lease for this long is dead
 * @param scanLimit how many waiting users one pairing attempt looks at, oldest first
 * @param maxBlocks how many users one user may block ({@code block} beyond it: {@link Outcome#TOO_MANY}); blocks
 *                  loaded from the store ({@link Matchmaker#restoreBlock}) do not count
 */
public record MatchmakerSettings(long interestWaitMs, int avoidRecent, long resumeGraceMs, long nodeLeaseMs,
                                 int scanLimit, int maxBlocks) {
    public static final long DEFAULT_INTEREST_WAIT_MS = 5_000;
    public static final int DEFAULT_AVOID_RECENT = 3;
    public static final long DEFAULT_RESUME_GRACE_MS = 30_000;
    public static final int DEFAULT_SCAN_LIMIT = 1_000;
    public static final int DEFAULT_MAX_BLOCKS = 1_000;

    /** Settings with {@link #DEFAULT_MAX_BLOCKS}. */
    public MatchmakerSettings(long interestWaitMs, int avoidRecent, long resumeGraceMs, long nodeLeaseMs,
                              int scanLimit) {
        this(interestWaitMs, avoidRecent, resumeGraceMs, nodeLeaseMs, scanLimit, DEFAULT_MAX_BLOCKS);
    }
}
