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
 * @param announceTimeoutMs a pairing or ending whose events are not confirmed ({@link Matchmaker#announced}) this
 *                          long after it was made, or last handed out, is handed out again by
 *                          {@link Matchmaker#unannounced}; well above the time a caller takes to publish events
 */
public record MatchmakerSettings(
        long interestWaitMs,
        int avoidRecent,
        long resumeGraceMs,
        long nodeLeaseMs,
        int scanLimit,
        int maxBlocks,
        long announceTimeoutMs) {
    public static final long DEFAULT_INTEREST_WAIT_MS = 5_000;
    public static final int DEFAULT_AVOID_RECENT = 3;
    public static final long DEFAULT_RESUME_GRACE_MS = 30_000;
    public static final int DEFAULT_SCAN_LIMIT = 1_000;
    public static final int DEFAULT_MAX_BLOCKS = 1_000;
    public static final long DEFAULT_ANNOUNCE_TIMEOUT_MS = 10_000;
    /** How many times one pairing or ending is handed out again before it is given up. */
    public static final int ANNOUNCE_ATTEMPTS = 5;
    /** The most pairings and endings one {@link Matchmaker#unannounced} hands out. */
    public static final int ANNOUNCE_BATCH = 100;

    /** Settings with {@link #DEFAULT_ANNOUNCE_TIMEOUT_MS}. */
    public MatchmakerSettings(
            long interestWaitMs, int avoidRecent, long resumeGraceMs, long nodeLeaseMs, int scanLimit, int maxBlocks) {
        this(
                interestWaitMs,
                avoidRecent,
                resumeGraceMs,
                nodeLeaseMs,
                scanLimit,
                maxBlocks,
                DEFAULT_ANNOUNCE_TIMEOUT_MS);
    }

    /** Settings with {@link #DEFAULT_MAX_BLOCKS} and {@link #DEFAULT_ANNOUNCE_TIMEOUT_MS}. */
    public MatchmakerSettings(
            long interestWaitMs, int avoidRecent, long resumeGraceMs, long nodeLeaseMs, int scanLimit) {
        this(interestWaitMs, avoidRecent, resumeGraceMs, nodeLeaseMs, scanLimit, DEFAULT_MAX_BLOCKS);
    }
}
