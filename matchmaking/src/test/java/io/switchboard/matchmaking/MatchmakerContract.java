package io.switchboard.matchmaking;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;

/**
 * The rules of random connect (docs/protocol.md section 6) that every {@link Matchmaker} follows, written once and run
 * against each implementation by a subclass. Time is a fake clock that the tests move: nothing sleeps.
 */
abstract class MatchmakerContract {
    /** interestWait 5 s, avoidRecent 3, resumeGrace 30 s, node lease 10 s, scan limit 1000. */
    static final MatchmakerSettings SETTINGS = new MatchmakerSettings(5_000, 3, 30_000, 10_000, 1_000);

    static final Duration TIMEOUT = Duration.ofSeconds(5);
    static final long START = 1_700_000_000_000L;

    /** The fake clock, in milliseconds, that the matchmaker reads. */
    protected volatile long now = START;

    private final Set<String> liveNodes = new TreeSet<>(Set.of("n1"));
    private final List<AutoCloseable> owned = new ArrayList<>();
    private Matchmaker mm;

    /**
     * A fresh, empty matchmaker reading time from {@code clockMillis}; the contract closes it after the test, before
     * what the subclass handed to {@link #own} for it.
     */
    protected abstract Matchmaker create(MatchmakerSettings settings, LongSupplier clockMillis);

    /**
     * How many records (entries, keys) the current matchmaker holds for users, shared structures apart: zero once
     * every user it saw is forgotten.
     */
    protected abstract long userRecords();

    /** Closes {@code resource} after the test, in the reverse order of creation. */
    protected final <T extends AutoCloseable> T own(T resource) {
        owned.add(resource);
        return resource;
    }

    /** Moves the fake clock forward; a subclass may hook in here. */
    protected void advance(long millis) {
        now += millis;
    }

    @BeforeEach
    void startMatchmaker() {
        newMatchmaker(SETTINGS);
    }

    @AfterEach
    void closeOwned() throws Exception {
        for (int i = owned.size() - 1; i >= 0; i--) {
            owned.get(i).close();
        }
        owned.clear();
    }

    // ---- joining

    @Test
    @DisplayName("section 6: a lone user who joins is queued, with no pairing")
    void loneUserIsQueued() {
        Outcome a = join("u_a");

        assertThat(a.status()).isEqualTo(Outcome.QUEUED);
        assertThat(a.pairings()).isEmpty();
        assertThat(a.ended()).isEmpty();
        assertThat(a.match()).isNull();
        assertThat(queueLength()).isEqualTo(1);
    }

    @Test
    @DisplayName("section 6: a second compatible user is matched at once; the one who waited longer is the initiator")
    void secondUserIsMatchedWithTheWaitingOneWhoInitiates() {
        join("u_a");
        elapse(1_200);

        Outcome b = join("u_b");

        assertThat(b.status()).isEqualTo(Outcome.MATCHED);
        assertThat(b.pairings()).hasSize(1);
        Pairing p = b.pairings().get(0);
        assertThat(p.match()).startsWith("m_").isEqualTo(b.match());
        assertThat(p.initiator()).isEqualTo("u_a");
        assertThat(p.other()).isEqualTo("u_b");
        assertThat(p.shared()).isEmpty();
        assertThat(p.initiatorWaitedMs()).isEqualTo(1_200);
        assertThat(p.otherWaitedMs()).isZero();
        assertThat(queueLength()).isZero();
        assertThat(partnerOf("u_a", p.match()).partner()).isEqualTo("u_b");
        assertThat(partnerOf("u_b", p.match()).partner()).isEqualTo("u_a");
    }

    @Test
    @DisplayName("section 6: a newcomer who joins in the same millisecond as the waiting user does not initiate")
    void waitingUserInitiatesEvenWithinTheSameMillisecond() {
        join("u_a");

        Pairing p = matchOf(join("u_b"));

        assertPairing(p, "u_a", "u_b");
        assertThat(p.initiatorWaitedMs()).isZero();
        assertThat(p.otherWaitedMs()).isZero();
    }

    @Test
    @DisplayName("section 6: every match gets a fresh id")
    void everyMatchGetsAFreshId() {
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < 5; i++) {
            join("u_a" + i);
            ids.add(matchOf(join("u_b" + i)).match());
        }

        assertThat(ids).hasSize(5).allSatisfy(id -> assertThat(id).startsWith("m_"));
    }

    @Test
    @DisplayName("section 6: match.join while already queued is a conflict and changes nothing")
    void joinWhileQueuedIsAConflict() {
        join("u_a");

        Outcome again = join("u_a");
        Outcome otherSession = joinOn("u_a", "s_other", "n1", "music");

        assertThat(again.status()).isEqualTo(Outcome.CONFLICT);
        assertThat(again.pairings()).isEmpty();
        assertThat(otherSession.status()).isEqualTo(Outcome.CONFLICT);
        assertThat(queueLength()).isEqualTo(1);
        // Still waiting without interests, as first joined: a newcomer without interests is taken at once.
        Pairing p = matchOf(join("u_b"));
        assertPartners(p, "u_a", "u_b");
        assertThat(p.shared()).isEmpty();
    }

    @Test
    @DisplayName("section 6: match.join while matched is a conflict and keeps the match")
    void joinWhileMatchedIsAConflict() {
        join("u_a");
        Pairing p = matchOf(join("u_b"));

        Outcome a = join("u_a");
        Outcome b = join("u_b");

        assertThat(a.status()).isEqualTo(Outcome.CONFLICT);
        assertThat(b.status()).isEqualTo(Outcome.CONFLICT);
        assertThat(a.ended()).isEmpty();
        assertThat(b.ended()).isEmpty();
        assertThat(queueLength()).isZero();
        assertThat(partnerOf("u_a", p.match()).partner()).isEqualTo("u_b");
        assertThat(partnerOf("u_b", p.match()).partner()).isEqualTo("u_a");
    }

    // ---- fairness

    @Test
    @DisplayName("section 6: pairing is fair, the longest-waiting compatible user is taken first")
    void longestWaitingCompatibleUserIsTakenFirst() {
        block("u_a", "u_b");
        block("u_b", "u_c");
        block("u_a", "u_c");
        assertThat(join("u_a").status()).isEqualTo(Outcome.QUEUED);
        elapse(1);
        assertThat(join("u_b").status()).isEqualTo(Outcome.QUEUED);
        elapse(1);
        assertThat(join("u_c").status()).isEqualTo(Outcome.QUEUED);
        elapse(1);

        assertPairing(matchOf(join("u_d")), "u_a", "u_d");
        assertPairing(matchOf(join("u_e")), "u_b", "u_e");
        assertPairing(matchOf(join("u_f")), "u_c", "u_f");
        assertThat(queueLength()).isZero();
    }

    @Test
    @DisplayName("section 6: users who joined in the same millisecond are taken in the order they joined")
    void sameMillisecondJoinsAreTakenInJoinOrder() {
        // Names in reverse alphabetical order, so that an order by name cannot pass for the order of joining.
        block("u_z", "u_y");
        block("u_y", "u_x");
        block("u_z", "u_x");
        join("u_z");
        join("u_y");
        join("u_x");

        assertPairing(matchOf(join("u_d")), "u_z", "u_d");
        assertPairing(matchOf(join("u_e")), "u_y", "u_e");
        assertPairing(matchOf(join("u_f")), "u_x", "u_f");
    }

    // ---- never itself, never two partners

    @Test
    @DisplayName("section 6: a user is never matched with itself; a lone user who calls next stays queued")
    void loneUserWhoCallsNextStaysQueued() {
        join("u_a");

        Outcome next = next("u_a");
        elapse(SETTINGS.interestWaitMs() + 1);
        Outcome sweep = sweep();

        assertThat(next.status()).isEqualTo(Outcome.QUEUED);
        assertThat(next.pairings()).isEmpty();
        assertThat(next.ended()).isEmpty();
        assertThat(sweep.pairings()).isEmpty();
        assertThat(queueLength()).isEqualTo(1);
    }

    @Test
    @DisplayName("section 6: match.next with no match just queues the user")
    void nextWhenIdleQueues() {
        Outcome next = next("u_a");

        assertThat(next.status()).isEqualTo(Outcome.QUEUED);
        assertThat(next.ended()).isEmpty();
        assertThat(queueLength()).isEqualTo(1);
        assertPartners(matchOf(join("u_b")), "u_a", "u_b");
    }

    @Test
    @DisplayName("section 6: never two partners at once, a newcomer waits while the others are matched")
    void matchedUsersAreNotMatchedAgain() {
        join("u_a");
        join("u_b");

        Outcome c = join("u_c");
        elapse(SETTINGS.interestWaitMs() + 1);
        Outcome sweep = sweep();

        assertThat(c.status()).isEqualTo(Outcome.QUEUED);
        assertThat(c.pairings()).isEmpty();
        assertThat(sweep.pairings()).isEmpty();
        assertThat(queueLength()).isEqualTo(1);
    }

    // ---- interests

    @Test
    @DisplayName("section 6: users with interests but none in common are not matched at once; a shared one matches")
    void sharedInterestMatchesAndDisjointInterestsWait() {
        assertThat(join("u_a", "music").status()).isEqualTo(Outcome.QUEUED);
        elapse(1);
        Outcome b = join("u_b", "chess");
        elapse(1);
        Outcome c = join("u_c", "music", "film");

        assertThat(b.status()).isEqualTo(Outcome.QUEUED);
        assertThat(b.pairings()).isEmpty();
        assertThat(c.status()).isEqualTo(Outcome.MATCHED);
        Pairing p = matchOf(c);
        assertPairing(p, "u_a", "u_c");
        assertThat(p.shared()).containsExactly("music");
        assertThat(queueLength()).isEqualTo(1);
    }

    @Test
    @DisplayName("section 6: a user with interests prefers a shared interest to a partner without interests")
    void userWithInterestsWaitsForASharedOneBeforeInterestWait() {
        join("u_a", "music");
        elapse(1);

        Outcome d = join("u_d");

        assertThat(d.status()).isEqualTo(Outcome.QUEUED);
        assertThat(d.pairings()).isEmpty();
        assertThat(queueLength()).isEqualTo(2);
    }

    @Test
    @DisplayName("section 6: a newcomer with interests does not take a waiting user without any before interestWait")
    void newcomerWithInterestsWaitsForASharedOne() {
        join("u_a");
        elapse(1);

        Outcome d = join("u_d", "music");

        assertThat(d.status()).isEqualTo(Outcome.QUEUED);
        assertThat(queueLength()).isEqualTo(2);
    }

    @Test
    @DisplayName("section 6: after interestWait a user with interests accepts a partner without any (shared [])")
    void afterInterestWaitAnyPartnerIsAcceptable() {
        join("u_a", "music");
        elapse(1);
        join("u_d");
        elapse(SETTINGS.interestWaitMs());

        Outcome sweep = sweep();

        assertThat(sweep.pairings()).hasSize(1);
        Pairing p = sweep.pairings().get(0);
        assertPairing(p, "u_a", "u_d");
        assertThat(p.match()).startsWith("m_");
        assertThat(p.shared()).isEmpty();
        assertThat(queueLength()).isZero();
        assertThat(partnerOf("u_d", p.match()).partner()).isEqualTo("u_a");
    }

    @Test
    @DisplayName("section 6: a partner sharing an interest is preferred over an older one that shares none")
    void sharingPartnerIsPreferredOverOlderNonSharingOne() {
        join("u_a", "x");
        elapse(1);
        join("u_b", "y");
        elapse(SETTINGS.interestWaitMs() + 1);

        Outcome c = join("u_c", "y");

        Pairing p = matchOf(c);
        assertPairing(p, "u_b", "u_c");
        assertThat(p.shared()).containsExactly("y");
        assertThat(queueLength()).isEqualTo(1);
    }

    @Test
    @DisplayName("section 6: sweep pairs users once interestWait has passed for both, with shared []")
    void sweepPairsUsersWhoseInterestWaitPassed() {
        join("u_a", "a");
        join("u_b", "b");
        elapse(SETTINGS.interestWaitMs() - 1);
        Outcome early = sweep();
        elapse(1);

        Outcome sweep = sweep();

        assertThat(early.pairings()).isEmpty();
        assertThat(sweep.pairings()).hasSize(1);
        Pairing p = sweep.pairings().get(0);
        assertThat(Set.of(p.initiator(), p.other())).containsExactlyInAnyOrder("u_a", "u_b");
        assertThat(p.shared()).isEmpty();
        assertThat(p.initiatorWaitedMs()).isEqualTo(SETTINGS.interestWaitMs());
        assertThat(queueLength()).isZero();
    }

    @Test
    @DisplayName("section 6: sweep does not pair a user whose partner has not waited interestWait yet")
    void sweepWaitsForTheInterestWaitOfBoth() {
        join("u_a", "a");
        elapse(SETTINGS.interestWaitMs());
        join("u_b", "b");
        elapse(1);

        Outcome sweep = sweep();

        assertThat(sweep.pairings()).isEmpty();
        assertThat(queueLength()).isEqualTo(2);
    }

    // ---- next and recent partners

    @Test
    @DisplayName("section 6: match.next ends the match (reason next), queues the sender, the partner is idle")
    void nextEndsTheMatchAndQueuesTheSender() {
        join("u_a");
        Pairing p = matchOf(join("u_b"));

        Outcome next = next("u_b");

        assertThat(next.status()).isEqualTo(Outcome.QUEUED);
        assertThat(next.ended()).containsExactly(new Ended(p.match(), "u_b", "u_a", Ended.NEXT));
        assertThat(next.pairings()).isEmpty();
        assertThat(queueLength()).isEqualTo(1);
        assertNothing(partnerOf("u_a", p.match()));
        assertNothing(partnerOf("u_b", p.match()));
        Outcome a = join("u_a");
        assertThat(a.status()).isEqualTo(Outcome.QUEUED);
        assertThat(queueLength()).isEqualTo(2);
    }

    @Test
    @DisplayName("section 6: match.next matches the sender at once with a compatible waiting user")
    void nextMatchesTheSenderAtOnceWithAWaitingUser() {
        join("u_a");
        Pairing first = matchOf(join("u_b"));
        elapse(1);
        join("u_c");
        elapse(1);

        Outcome next = next("u_b");

        assertThat(next.status()).isEqualTo(Outcome.MATCHED);
        assertThat(next.ended()).containsExactly(new Ended(first.match(), "u_b", "u_a", Ended.NEXT));
        Pairing second = matchOf(next);
        assertPairing(second, "u_c", "u_b");
        assertThat(second.match()).isNotEqualTo(first.match());
        assertThat(queueLength()).isZero();
        assertThat(join("u_a").status()).isEqualTo(Outcome.QUEUED);
    }

    @Test
    @DisplayName("section 6: users who parted by next are not matched again, whoever joins first")
    void partnersLeftByNextAreNotMatchedAgain() {
        join("u_a");
        join("u_b");
        next("u_a");

        Outcome b = join("u_b");
        elapse(SETTINGS.interestWaitMs() + 1);
        Outcome sweep = sweep();

        assertThat(b.status()).isEqualTo(Outcome.QUEUED);
        assertThat(sweep.pairings()).isEmpty();
        assertThat(queueLength()).isEqualTo(2);
    }

    @Test
    @DisplayName("section 6: a match ended by next or leave is recent for both: the one left also avoids the leaver")
    void recentPartnerIsAvoidedByBothSides() {
        join("u_a");
        join("u_b");
        next("u_a");
        assertThat(join("u_b").status()).isEqualTo(Outcome.QUEUED);
        leave("u_b");

        // u_a leaves three more partners; u_b still has u_a among its last partners
        assertPartners(matchOf(join("u_c")), "u_a", "u_c");
        next("u_a");
        assertPartners(matchOf(join("u_d")), "u_a", "u_d");
        assertThat(leave("u_a").ended()).extracting(Ended::partner).containsExactly("u_d");
        join("u_a");
        assertPartners(matchOf(join("u_e")), "u_a", "u_e");
        assertThat(next("u_a").status()).isEqualTo(Outcome.QUEUED);
        assertThat(queueLength()).isEqualTo(1);

        assertThat(join("u_b").status()).isEqualTo(Outcome.QUEUED);
    }

    @Test
    @DisplayName("section 6: avoiding recent partners is bounded, once both had avoidRecent (3) other partners")
    void recentPartnersMeetAgainAfterBothHadAvoidRecentOthers() {
        join("u_a");
        join("u_b");
        next("u_a");
        leave("u_a");
        for (String user : List.of("u_a", "u_b")) {
            for (int i = 0; i < SETTINGS.avoidRecent(); i++) {
                String other = user + "_other" + i;
                join(user);
                assertPartners(matchOf(join(other)), user, other);
                leave(user);
            }
        }
        join("u_a");

        Outcome b = join("u_b");

        assertThat(b.status()).isEqualTo(Outcome.MATCHED);
        assertPartners(matchOf(b), "u_a", "u_b");
    }

    // ---- leave

    @Test
    @DisplayName("section 6: match.leave while matched ends the match (reason left) and leaves both idle")
    void leaveWhileMatchedEndsTheMatch() {
        join("u_a");
        Pairing p = matchOf(join("u_b"));

        Outcome leave = leave("u_a");

        assertThat(leave.status()).isEqualTo(Outcome.IDLE);
        assertThat(leave.ended()).containsExactly(new Ended(p.match(), "u_a", "u_b", Ended.LEFT));
        assertThat(leave.pairings()).isEmpty();
        assertThat(queueLength()).isZero();
        assertNothing(partnerOf("u_a", p.match()));
        assertNothing(partnerOf("u_b", p.match()));
    }

    @Test
    @DisplayName("section 6: match.leave while queued leaves the queue")
    void leaveWhileQueuedLeavesTheQueue() {
        join("u_a");

        Outcome leave = leave("u_a");

        assertThat(leave.status()).isEqualTo(Outcome.IDLE);
        assertThat(leave.ended()).isEmpty();
        assertThat(queueLength()).isZero();
        assertThat(join("u_b").status()).isEqualTo(Outcome.QUEUED);
    }

    @Test
    @DisplayName("section 6: match.leave while idle is idle and ends nothing")
    void leaveWhileIdleIsIdle() {
        Outcome leave = leave("u_a");

        assertThat(leave.status()).isEqualTo(Outcome.IDLE);
        assertThat(leave.ended()).isEmpty();
        assertThat(leave.pairings()).isEmpty();
        assertThat(queueLength()).isZero();
    }

    @Test
    @DisplayName("section 6: users who parted by leave are not matched again")
    void partnersLeftByLeaveAreNotMatchedAgain() {
        join("u_a");
        join("u_b");
        leave("u_a");

        Outcome a = join("u_a");
        Outcome b = join("u_b");
        elapse(SETTINGS.interestWaitMs() + 1);
        Outcome sweep = sweep();

        assertThat(a.status()).isEqualTo(Outcome.QUEUED);
        assertThat(b.status()).isEqualTo(Outcome.QUEUED);
        assertThat(sweep.pairings()).isEmpty();
        assertThat(queueLength()).isEqualTo(2);
    }

    // ---- block

    @Test
    @DisplayName("section 6: a blocked user is not matched with the user who blocked it")
    void blockedUserIsNotMatchedWithBlocker() {
        block("u_a", "u_b");
        join("u_a");

        Outcome b = join("u_b");
        elapse(SETTINGS.interestWaitMs() + 1);
        Outcome sweep = sweep();

        assertThat(b.status()).isEqualTo(Outcome.QUEUED);
        assertThat(sweep.pairings()).isEmpty();
        assertThat(queueLength()).isEqualTo(2);
    }

    @Test
    @DisplayName("section 6: a block works in the other direction too")
    void blockerIsNotMatchedWithTheUserItBlocked() {
        block("u_b", "u_a");
        join("u_a");

        Outcome b = join("u_b");

        assertThat(b.status()).isEqualTo(Outcome.QUEUED);
        assertThat(queueLength()).isEqualTo(2);
        assertPartners(matchOf(join("u_c")), "u_a", "u_c");
    }

    @Test
    @DisplayName("section 6: a block of a waiting user keeps the blocker from being matched with it")
    void blockOfAWaitingUserTakesEffect() {
        join("u_a");
        block("u_b", "u_a");

        Outcome b = join("u_b");

        assertThat(b.status()).isEqualTo(Outcome.QUEUED);
        assertThat(queueLength()).isEqualTo(2);
    }

    @Test
    @DisplayName("section 6: blocking the current partner ends the match (reason left); they are never matched again")
    void blockingTheCurrentPartnerEndsTheMatch() {
        join("u_a");
        Pairing p = matchOf(join("u_b"));

        Outcome block = block("u_a", "u_b");

        assertThat(block.ended()).containsExactly(new Ended(p.match(), "u_a", "u_b", Ended.LEFT));
        assertThat(block.pairings()).isEmpty();
        assertNothing(partnerOf("u_a", p.match()));
        assertNothing(partnerOf("u_b", p.match()));
        assertThat(join("u_b").status()).isEqualTo(Outcome.QUEUED);
        assertThat(join("u_a").status()).isEqualTo(Outcome.QUEUED);
        elapse(SETTINGS.interestWaitMs() + 1);
        assertThat(sweep().pairings()).isEmpty();
    }

    @Test
    @DisplayName("section 6: a block outlasts avoidRecent, it is never lifted")
    void blockOutlastsAvoidRecent() {
        block("u_a", "u_b");
        join("u_a");
        for (String other : List.of("u_c", "u_d", "u_e", "u_f")) {
            assertPartners(matchOf(join(other)), "u_a", other);
            next("u_a");
        }

        Outcome b = join("u_b");

        assertThat(b.status()).isEqualTo(Outcome.QUEUED);
        assertThat(queueLength()).isEqualTo(2);
    }

    // ---- bounds: blocks per user, and everything freed when the user is gone

    private static MatchmakerSettings withMaxBlocks(int maxBlocks) {
        return new MatchmakerSettings(
                SETTINGS.interestWaitMs(),
                SETTINGS.avoidRecent(),
                SETTINGS.resumeGraceMs(),
                SETTINGS.nodeLeaseMs(),
                SETTINGS.scanLimit(),
                maxBlocks);
    }

    @Test
    @DisplayName("section 6: a user may block maxBlocks others; one more answers too_many and takes no effect")
    void blocksBeyondTheLimitAreRefused() {
        newMatchmaker(withMaxBlocks(3));
        returned("u_a", "s_u_a", "n1");

        List<String> statuses = new ArrayList<>();
        for (String other : List.of("u_b1", "u_b2", "u_b3", "u_b4")) {
            statuses.add(block("u_a", other).status());
        }
        Outcome again = block("u_a", "u_b2");

        assertThat(statuses).containsExactly(Outcome.NOTHING, Outcome.NOTHING, Outcome.NOTHING, Outcome.TOO_MANY);
        assertThat(again.status())
                .as("blocking the same user again is not a new block")
                .isEqualTo(Outcome.NOTHING);
        join("u_a");
        assertThat(join("u_b1").status()).isEqualTo(Outcome.QUEUED);
        leave("u_b1");
        assertPartners(matchOf(join("u_b4")), "u_a", "u_b4");
    }

    @Test
    @DisplayName("section 6: the limit of blocks is per user, and a refused block of the current partner ends nothing")
    void limitOfBlocksIsPerUser() {
        newMatchmaker(withMaxBlocks(1));
        block("u_a", "u_x");
        join("u_a");
        Pairing p = matchOf(join("u_b"));

        Outcome refused = block("u_a", "u_b");
        Outcome other = block("u_b", "u_y");

        assertThat(refused.status()).isEqualTo(Outcome.TOO_MANY);
        assertThat(refused.ended()).isEmpty();
        assertThat(partnerOf("u_a", p.match()).partner()).isEqualTo("u_b");
        assertThat(other.status()).isEqualTo(Outcome.NOTHING);
    }

    @Test
    @DisplayName("section 6: blocks loaded from the store take effect in both directions and do not count")
    void restoredBlocksTakeEffectWithoutCounting() {
        newMatchmaker(withMaxBlocks(1));
        call(mm.restoreBlock("u_a", "u_x"));
        call(mm.restoreBlock("u_a", "u_y"));

        Outcome own = block("u_a", "u_b");
        join("u_a");

        assertThat(own.status()).isEqualTo(Outcome.NOTHING);
        assertThat(join("u_x").status()).isEqualTo(Outcome.QUEUED);
        leave("u_x");
        assertThat(join("u_y").status()).isEqualTo(Outcome.QUEUED);
        leave("u_y");
        assertThat(join("u_b").status()).isEqualTo(Outcome.QUEUED);
        leave("u_b");
        assertPartners(matchOf(join("u_c")), "u_a", "u_c");
    }

    @Test
    @DisplayName("a user whose connection dropped and who does not return within resumeGrace is forgotten by the"
            + " next sweep: its blocks (own and loaded), recent partners and interests go, and its limit is free")
    void userWhoIsGoneIsForgotten() {
        newMatchmaker(withMaxBlocks(1));
        returned("u_a", "s_a1", "n1");
        block("u_a", "u_b");
        call(mm.restoreBlock("u_a", "u_c"));
        joinOn("u_a", "s_a1", "n1", "music");
        leave("u_a");
        assertThat(userRecords()).isPositive();

        dropped("u_a", "s_a1");
        elapse(SETTINGS.resumeGraceMs() - 1);
        sweep();
        long beforeGrace = userRecords();
        elapse(2);
        sweep();

        assertThat(beforeGrace).as("kept within the grace").isPositive();
        assertThat(userRecords()).as("nothing left of u_a").isZero();
        returned("u_a", "s_a2", "n1");
        assertThat(block("u_a", "u_d").status()).as("the limit is free again").isEqualTo(Outcome.NOTHING);
        leave("u_d");
        joinOn("u_a", "s_a2", "n1");
        assertPartners(matchOf(join("u_b")), "u_a", "u_b");
    }

    @Test
    @DisplayName("a user who returns within resumeGrace keeps its blocks, and so does one whose older session drops")
    void userWhoReturnsKeepsItsBlocks() {
        returned("u_a", "s_a1", "n1");
        block("u_a", "u_b");
        returned("u_x", "s_x1", "n1");
        returned("u_x", "s_x2", "n1");
        block("u_x", "u_y");

        dropped("u_a", "s_a1");
        dropped("u_x", "s_x1");
        elapse(SETTINGS.resumeGraceMs() - 1);
        returned("u_a", "s_a2", "n1");
        elapse(SETTINGS.resumeGraceMs() + 1);
        sweep();

        joinOn("u_a", "s_a2", "n1");
        assertThat(join("u_b").status()).isEqualTo(Outcome.QUEUED);
        leave("u_a");
        leave("u_b");
        joinOn("u_x", "s_x2", "n1");
        assertThat(join("u_y").status()).isEqualTo(Outcome.QUEUED);
    }

    @Test
    @DisplayName("a gone user still matched is forgotten only once its match has ended")
    void matchedUserIsForgottenAfterItsMatchEnds() {
        block("u_a", "u_c");
        joinOn("u_a", "s_a1", "n1");
        Pairing p = matchOf(join("u_b"));
        dropped("u_a", "s_a1");
        elapse(SETTINGS.resumeGraceMs() + 1);
        sweep();

        Outcome kept = partnerOf("u_b", p.match());
        Outcome expired = expire("u_a", "s_a1");
        sweep();

        assertThat(kept.partner()).isEqualTo("u_a");
        assertThat(expired.ended()).containsExactly(new Ended(p.match(), "u_a", "u_b", Ended.DISCONNECTED));
        leave("u_b");
        returned("u_a", "s_a2", "n1");
        joinOn("u_a", "s_a2", "n1");
        assertPartners(matchOf(join("u_c")), "u_a", "u_c");
    }

    @Test
    @DisplayName("section 6: the users of a dead instance are forgotten after the lease and the grace, unless they"
            + " connect again elsewhere within the grace")
    void usersOfADeadInstanceAreForgotten() {
        keepAlive("n2");
        returned("u_a", "s_a", "n2");
        block("u_a", "u_b");
        returned("u_x", "s_x", "n2");
        block("u_x", "u_y");
        letDie("n2");
        elapse(SETTINGS.nodeLeaseMs() + 1);
        sweep();

        returned("u_x", "s_x2", "n1");
        elapse(SETTINGS.resumeGraceMs() + 1);
        sweep();

        joinOn("u_x", "s_x2", "n1");
        assertThat(join("u_y").status()).as("u_x came back: its block holds").isEqualTo(Outcome.QUEUED);
        leave("u_x");
        leave("u_y");
        returned("u_a", "s_a2", "n1");
        joinOn("u_a", "s_a2", "n1");
        assertPartners(matchOf(join("u_b")), "u_a", "u_b");
    }

    @Test
    @DisplayName("a flood of blocks of random ids stops at the limit and nothing of it is left once the user is gone")
    void floodOfBlocksIsBoundedAndFreed() {
        newMatchmaker(withMaxBlocks(200));
        returned("u_a", "s_a", "n1");
        int refused = 0;
        for (int i = 0; i < 250; i++) {
            if (block("u_a", "u_random" + i).status().equals(Outcome.TOO_MANY)) {
                refused++;
            }
        }
        dropped("u_a", "s_a");
        elapse(SETTINGS.resumeGraceMs() + 1);
        sweep();

        assertThat(refused).isEqualTo(50);
        assertThat(userRecords()).isZero();
    }

    @Test
    @DisplayName("once every user is gone and their matches have ended, the matchmaker holds nothing of any of them")
    void nothingIsLeftOnceEveryoneIsGone() {
        List<String> users = List.of("u_a", "u_b", "u_c", "u_d", "u_e");
        for (String u : users) {
            returned(u, "s_" + u, "n1");
        }
        join("u_a", "music");
        join("u_b", "music");
        join("u_c", "chess");
        next("u_a");
        block("u_d", "u_a");
        join("u_d");
        join("u_e");
        elapse(SETTINGS.interestWaitMs() + 1);
        sweep();
        assertThat(userRecords()).isPositive();

        for (String u : users) {
            dropped(u, "s_" + u);
        }
        elapse(SETTINGS.resumeGraceMs() + 1);
        for (String u : users) {
            expire(u, "s_" + u);
        }
        sweep();

        assertThat(queueLength()).isZero();
        assertThat(userRecords()).isZero();
    }

    // ---- partnerOf

    @Test
    @DisplayName("section 6: the partner is known for the current match only (else not_found)")
    void partnerOfKnowsOnlyTheCurrentMatch() {
        join("u_a");
        Pairing first = matchOf(join("u_b"));

        Outcome ofA = partnerOf("u_a", first.match());
        Outcome ofB = partnerOf("u_b", first.match());

        assertThat(ofA.partner()).isEqualTo("u_b");
        assertThat(ofA.match()).isEqualTo(first.match());
        assertThat(ofB.partner()).isEqualTo("u_a");
        assertNothing(partnerOf("u_a", "m_unknown"));
        assertNothing(partnerOf("u_c", first.match()));
        assertNothing(partnerOf("u_c", "m_unknown"));

        next("u_a");
        Pairing second = matchOf(join("u_c"));

        assertThat(partnerOf("u_a", second.match()).partner()).isEqualTo("u_c");
        assertNothing(partnerOf("u_a", first.match()));
        assertNothing(partnerOf("u_b", first.match()));
        assertNothing(partnerOf("u_b", second.match()));
    }

    // ---- drops, returns and the grace

    @Test
    @DisplayName("section 6: a queued user whose connection drops leaves the queue at once, nobody is matched with it")
    void droppedQueuedUserLeavesTheQueueAtOnce() {
        joinOn("u_a", "s_a1", "n1");

        Outcome dropped = dropped("u_a", "s_a1");

        assertThat(dropped.status()).isEqualTo(Outcome.IDLE);
        assertThat(dropped.ended()).isEmpty();
        assertThat(queueLength()).isZero();
        assertThat(join("u_b").status()).isEqualTo(Outcome.QUEUED);
        elapse(SETTINGS.interestWaitMs() + 1);
        assertThat(sweep().pairings()).isEmpty();
        assertThat(queueLength()).isEqualTo(1);
    }

    @Test
    @DisplayName("section 6: a matched user who drops keeps its match; returning within resumeGrace, the match goes on")
    void droppedMatchedUserWhoReturnsKeepsItsMatch() {
        joinOn("u_a", "s_a1", "n1");
        Pairing p = matchOf(join("u_b"));

        Outcome dropped = dropped("u_a", "s_a1");
        elapse(SETTINGS.resumeGraceMs() - 1);
        Outcome stillThere = partnerOf("u_b", p.match());
        Outcome returned = returned("u_a", "s_a2", "n1");
        elapse(2);
        Outcome expired = expire("u_a", "s_a1");

        assertThat(dropped.partner()).isEqualTo("u_b");
        assertThat(dropped.ended()).isEmpty();
        assertThat(stillThere.partner()).isEqualTo("u_a");
        assertThat(returned.partner()).isEqualTo("u_b");
        assertThat(returned.ended()).isEmpty();
        assertNothing(expired);
        assertThat(expired.ended()).isEmpty();
        assertThat(partnerOf("u_a", p.match()).partner()).isEqualTo("u_b");
        assertThat(partnerOf("u_b", p.match()).partner()).isEqualTo("u_a");
        assertThat(join("u_a").status()).isEqualTo(Outcome.CONFLICT);
    }

    @Test
    @DisplayName("section 6: a matched user who does not return: the match ends (disconnected) after resumeGrace")
    void droppedMatchedUserWhoDoesNotReturnIsDisconnectedAfterGrace() {
        joinOn("u_a", "s_a1", "n1");
        Pairing p = matchOf(join("u_b"));
        dropped("u_a", "s_a1");
        elapse(SETTINGS.resumeGraceMs() / 2);

        Outcome early = expire("u_a", "s_a1");
        Outcome kept = partnerOf("u_b", p.match());
        elapse(SETTINGS.resumeGraceMs() / 2 + 1);
        Outcome expired = expire("u_a", "s_a1");

        assertNothing(early);
        assertThat(early.ended()).isEmpty();
        assertThat(kept.partner()).isEqualTo("u_a");
        assertThat(expired.ended()).containsExactly(new Ended(p.match(), "u_a", "u_b", Ended.DISCONNECTED));
        assertNothing(partnerOf("u_a", p.match()));
        assertNothing(partnerOf("u_b", p.match()));
        assertThat(queueLength()).isZero();
        assertThat(join("u_b").status()).isEqualTo(Outcome.QUEUED);
        assertThat(expire("u_a", "s_a1").ended()).isEmpty();
    }

    @Test
    @DisplayName("section 6: a drop of an older connection of a queued user is ignored")
    void dropOfAnOlderSessionIsIgnoredWhileQueued() {
        joinOn("u_a", "s_a1", "n1");
        returned("u_a", "s_a2", "n1");

        Outcome dropped = dropped("u_a", "s_a1");

        assertNothing(dropped);
        assertThat(queueLength()).isEqualTo(1);
        assertPartners(matchOf(join("u_b")), "u_a", "u_b");
    }

    @Test
    @DisplayName("section 6: a drop of an older connection of a matched user is ignored, its expiry too")
    void dropOfAnOlderSessionIsIgnoredWhileMatched() {
        joinOn("u_a", "s_a1", "n1");
        Pairing p = matchOf(join("u_b"));
        returned("u_a", "s_a2", "n1");

        Outcome dropped = dropped("u_a", "s_a1");
        elapse(SETTINGS.resumeGraceMs() + 1);
        Outcome expired = expire("u_a", "s_a1");

        assertNothing(dropped);
        assertNothing(expired);
        assertThat(expired.ended()).isEmpty();
        assertThat(partnerOf("u_b", p.match()).partner()).isEqualTo("u_a");
    }

    // ---- dead instances

    @Test
    @DisplayName("section 6: queue entries of an instance whose lease ran out are released by sweep")
    void queueEntriesOfADeadInstanceAreReleased() {
        keepAlive("n2");
        block("u_a", "u_b");
        joinOn("u_a", "s_a", "n2");
        joinOn("u_b", "s_b", "n2");
        elapse(SETTINGS.nodeLeaseMs() / 2);
        Outcome alive = sweep();
        long whileAlive = queueLength();

        letDie("n2");
        elapse(SETTINGS.nodeLeaseMs() + 1);
        Outcome sweep = sweep();

        assertThat(alive.pairings()).isEmpty();
        assertThat(whileAlive).isEqualTo(2);
        assertThat(sweep.pairings()).isEmpty();
        assertThat(queueLength()).isZero();
        assertThat(joinOn("u_c", "s_c", "n1").status()).isEqualTo(Outcome.QUEUED);
        elapse(SETTINGS.interestWaitMs() + 1);
        assertThat(sweep().pairings()).isEmpty();
        assertThat(queueLength()).isEqualTo(1);
    }

    @Test
    @DisplayName("section 6: queue entries of an instance that renews its lease stay")
    void queueEntriesOfALiveInstanceStay() {
        keepAlive("n2");
        block("u_a", "u_b");
        joinOn("u_a", "s_a", "n2");
        joinOn("u_b", "s_b", "n1");

        elapse(SETTINGS.nodeLeaseMs() + 1);
        elapse(SETTINGS.nodeLeaseMs() + 1);
        Outcome sweep = sweep();

        assertThat(sweep.pairings()).isEmpty();
        assertThat(queueLength()).isEqualTo(2);
        assertPartners(matchOf(joinOn("u_c", "s_c", "n1")), "u_a", "u_c");
    }

    @Test
    @DisplayName("section 6: a match with a user of a dead instance ends (disconnected) within resumeGrace + lease")
    void matchWithAUserOfADeadInstanceEndsAfterGrace() {
        keepAlive("n2");
        joinOn("u_a", "s_a", "n1");
        Pairing p = matchOf(joinOn("u_b", "s_b", "n2"));
        letDie("n2");

        elapse(SETTINGS.nodeLeaseMs() + 1);
        Outcome first = sweep();
        elapse(SETTINGS.resumeGraceMs() + 1);
        Outcome second = sweep();

        assertThat(first.ended()).isEmpty();
        assertThat(second.ended()).containsExactly(new Ended(p.match(), "u_b", "u_a", Ended.DISCONNECTED));
        assertNothing(partnerOf("u_a", p.match()));
        assertThat(joinOn("u_a", "s_a", "n1").status()).isEqualTo(Outcome.QUEUED);
    }

    @Test
    @DisplayName("section 6: a user of a dead instance who reconnects elsewhere within resumeGrace keeps its match")
    void userOfADeadInstanceWhoReconnectsKeepsItsMatch() {
        keepAlive("n2");
        joinOn("u_a", "s_a", "n1");
        Pairing p = matchOf(joinOn("u_b", "s_b", "n2"));
        letDie("n2");
        elapse(SETTINGS.nodeLeaseMs() + 1);
        Outcome first = sweep();

        Outcome returned = returned("u_b", "s_b2", "n1");
        elapse(SETTINGS.resumeGraceMs() + 1);
        Outcome second = sweep();

        assertThat(first.ended()).isEmpty();
        assertThat(returned.partner()).isEqualTo("u_a");
        assertThat(second.ended()).isEmpty();
        assertThat(partnerOf("u_a", p.match()).partner()).isEqualTo("u_b");
        assertThat(partnerOf("u_b", p.match()).partner()).isEqualTo("u_a");
    }

    // ---- announcements: a pairing or ending whose outcome the caller never got

    @Test
    @DisplayName("section 6: a pairing whose match.found nobody confirmed (the reply of the join that made it was"
            + " lost) is handed out again after announceTimeout, to one caller at a time, until confirmed")
    void unconfirmedPairingIsHandedOutAgain() {
        join("u_a", "music", "chess");
        elapse(1_200);
        Pairing p = matchOf(join("u_b", "chess"));
        elapse(SETTINGS.announceTimeoutMs() - 1);
        Outcome early = unannounced();
        elapse(1);

        Outcome again = unannounced();
        Outcome atOnce = unannounced();
        elapse(SETTINGS.announceTimeoutMs());
        Outcome later = unannounced();
        announced(later);
        elapse(SETTINGS.announceTimeoutMs());

        assertThat(early.pairings()).isEmpty();
        assertThat(again.pairings()).containsExactly(p);
        assertThat(p.shared()).containsExactly("chess");
        assertThat(again.ended()).isEmpty();
        assertThat(atOnce.pairings()).as("handed out to one caller at a time").isEmpty();
        assertThat(later.pairings()).as("handed out again while not confirmed").containsExactly(p);
        assertThat(unannounced().pairings()).as("confirmed").isEmpty();
        assertThat(partnerOf("u_a", p.match()).partner()).isEqualTo("u_b");
    }

    @Test
    @DisplayName("section 6: a pairing whose match.found was confirmed is not handed out again")
    void confirmedPairingIsNotHandedOutAgain() {
        join("u_a");
        announced(join("u_b"));
        elapse(SETTINGS.announceTimeoutMs() + 1);

        Outcome again = unannounced();

        assertThat(again.pairings()).isEmpty();
        assertThat(again.ended()).isEmpty();
    }

    @Test
    @DisplayName("section 6: a pairing made by sweep whose reply was lost is handed out again")
    void unconfirmedPairingOfASweepIsHandedOutAgain() {
        announced(join("u_a", "a"));
        announced(join("u_b", "b"));
        elapse(SETTINGS.interestWaitMs());
        Pairing p = onlyPairing(sweep());
        elapse(SETTINGS.announceTimeoutMs());

        Outcome again = unannounced();

        assertThat(again.pairings()).containsExactly(p);
    }

    @Test
    @DisplayName("section 6: an ending whose match.ended nobody confirmed is handed out again; the pairing of a match"
            + " that has ended is not")
    void unconfirmedEndingIsHandedOutAgainButNotThePairingOfAnEndedMatch() {
        join("u_a");
        Pairing p = matchOf(join("u_b"));
        next("u_b");
        elapse(SETTINGS.announceTimeoutMs());

        Outcome again = unannounced();
        announced(again);
        elapse(SETTINGS.announceTimeoutMs());

        assertThat(again.ended()).containsExactly(new Ended(p.match(), "u_b", "u_a", Ended.NEXT));
        assertThat(again.pairings())
                .as("no match.found for a match that has ended")
                .isEmpty();
        Outcome confirmed = unannounced();
        assertThat(confirmed.ended()).isEmpty();
        assertThat(confirmed.pairings()).isEmpty();
    }

    @Test
    @DisplayName("section 6: the ending of a match whose expiry's reply was lost is handed out again")
    void unconfirmedExpiryIsHandedOutAgain() {
        joinOn("u_a", "s_a", "n1");
        Outcome b = join("u_b");
        announced(b);
        dropped("u_a", "s_a");
        elapse(SETTINGS.resumeGraceMs());
        assertThat(expire("u_a", "s_a").ended()).hasSize(1);
        elapse(SETTINGS.announceTimeoutMs());

        Outcome again = unannounced();

        assertThat(again.ended()).containsExactly(new Ended(b.match(), "u_a", "u_b", Ended.DISCONNECTED));
    }

    @Test
    @DisplayName("a pairing never confirmed is handed out ANNOUNCE_ATTEMPTS times, then given up")
    void unconfirmedPairingIsGivenUpAfterTheAttempts() {
        join("u_a");
        Pairing p = matchOf(join("u_b"));
        List<Pairing> handedOut = new ArrayList<>();

        for (int i = 0; i < MatchmakerSettings.ANNOUNCE_ATTEMPTS + 2; i++) {
            elapse(SETTINGS.announceTimeoutMs());
            handedOut.addAll(unannounced().pairings());
        }

        assertThat(handedOut).hasSize(MatchmakerSettings.ANNOUNCE_ATTEMPTS).containsOnly(p);
    }

    @Test
    @DisplayName("an ending whose partner is gone is not handed out, and nothing is left of it")
    void endingForAGoneUserIsDropped() {
        returned("u_a", "s_u_a", "n1");
        returned("u_b", "s_u_b", "n1");
        join("u_a");
        announced(join("u_b"));
        leave("u_a");
        dropped("u_a", "s_u_a");
        dropped("u_b", "s_u_b");
        elapse(SETTINGS.resumeGraceMs() + 1);
        sweep();

        Outcome again = unannounced();

        assertThat(again.ended()).isEmpty();
        assertThat(userRecords()).isZero();
    }

    // ---- operations that arrive together (the Redis matchmaker sends them in one batch)

    @Test
    @DisplayName("section 6: joins that arrive together are paired as if they came one by one: with the one waiting"
            + " first, then with each other in the order they came, each user once")
    void joinsArrivingTogetherArePairedInTheirOrder() {
        join("u_w");
        elapse(10);

        List<Outcome> o = together(
                mm.join("u_1", "s_u_1", "n1", List.of()),
                mm.join("u_2", "s_u_2", "n1", List.of()),
                mm.join("u_3", "s_u_3", "n1", List.of()),
                mm.join("u_4", "s_u_4", "n1", List.of()),
                mm.join("u_5", "s_u_5", "n1", List.of()));

        assertPairing(matchOf(o.get(0)), "u_w", "u_1");
        assertThat(o.get(1).status()).isEqualTo(Outcome.QUEUED);
        assertPairing(matchOf(o.get(2)), "u_2", "u_3");
        assertThat(o.get(3).status()).isEqualTo(Outcome.QUEUED);
        assertPairing(matchOf(o.get(4)), "u_4", "u_5");
        assertThat(o.stream().map(Outcome::match).filter(m -> m != null).distinct())
                .hasSize(3);
        assertThat(queueLength()).isZero();
    }

    @Test
    @DisplayName("section 6: a drop that arrives together with a join, before it, leaves no ghost to be paired with")
    void dropArrivingTogetherBeforeAJoinLeavesNoGhost() {
        join("u_a");

        List<Outcome> o =
                together(mm.dropped("u_a", "s_u_a"), mm.join("u_b", "s_u_b", "n1", List.of()), mm.leave("u_c"));

        assertThat(o.get(0).status()).isEqualTo(Outcome.IDLE);
        assertThat(o.get(1).status()).isEqualTo(Outcome.QUEUED);
        assertThat(o.get(1).pairings()).isEmpty();
        assertThat(queueLength()).isEqualTo(1);
    }

    @Test
    @DisplayName("section 6: a join and a leave that arrive together apply in the order they came: the join pairs,"
            + " then the leave ends that match and the partner is told")
    void joinThenLeaveArrivingTogetherApplyInOrder() {
        join("u_a");

        List<Outcome> o = together(mm.join("u_b", "s_u_b", "n1", List.of()), mm.leave("u_a"));

        Pairing p = matchOf(o.get(0));
        assertPairing(p, "u_a", "u_b");
        assertThat(o.get(1).status()).isEqualTo(Outcome.IDLE);
        assertThat(o.get(1).ended()).containsExactly(new Ended(p.match(), "u_a", "u_b", Ended.LEFT));
        assertThat(partnerOf("u_b", p.match()).partner()).isNull();
        assertThat(queueLength()).isZero();
    }

    // ---- random operations

    @Test
    @DisplayName("section 6: under random operations, no self match, no two partners, no blocked or recent pair")
    void randomOperationsKeepTheInvariants() {
        new RandomRun(new Random(20_240_613L), 12, 200).run();
    }

    /**
     * Random operations over a few users, checked after every step against a model built only from the outcomes.
     * The model of recent partners is deliberately lenient (a pair left by next or leave is avoided until the user
     * who left has been in {@code avoidRecent} more ended matches), so that it forbids only what every reading of
     * the rule forbids.
     */
    private final class RandomRun {
        private static final List<String> INTEREST_POOL = List.of("music", "chess", "film");

        private final Random random;
        private final List<String> users = new ArrayList<>();
        private final int steps;
        private final Map<String, String> session = new HashMap<>();
        private final Map<String, Integer> sessionCount = new HashMap<>();
        private final Set<String> connected = new HashSet<>();
        private final Map<String, String> droppedSession = new HashMap<>();
        private final Set<String> queued = new LinkedHashSet<>();
        private final Map<String, String> matchOf = new HashMap<>();
        private final Map<String, String> partner = new HashMap<>();
        private final List<String> matchIds = new ArrayList<>();
        private final Map<String, List<String>> interests = new HashMap<>();
        /** Users queued by next: whether next keeps the interests of their last join is not specified. */
        private final Set<String> interestsUnknown = new HashSet<>();

        private final Map<String, Long> droppedAt = new HashMap<>();
        private final Map<String, Long> queuedAt = new HashMap<>();
        /** Blocked pairs and who blocked: a block lasts until every user who made it may have been forgotten. */
        private final Map<Set<String>, Set<String>> blocked = new HashMap<>();
        /** Who left whom, and how many ended matches the leaver had been in at that moment. */
        private final List<Left> left = new ArrayList<>();

        private final Map<String, Integer> endedCount = new HashMap<>();
        private final StringBuilder trace = new StringBuilder();
        private int pairings;
        private int ends;

        private record Left(String by, String other, int endedCountOfBy) {}

        RandomRun(Random random, int userCount, int steps) {
            this.random = random;
            this.steps = steps;
            for (int i = 0; i < userCount; i++) {
                String u = "u_r" + (char) ('a' + i);
                users.add(u);
                session.put(u, u + "_s0");
                sessionCount.put(u, 0);
                connected.add(u);
                endedCount.put(u, 0);
            }
        }

        void run() {
            for (int step = 0; step < steps; step++) {
                step();
                checkInvariants(step);
            }
            // A run that never matches anyone checks nothing.
            assertThat(pairings).as("pairings made in the random run").isGreaterThan(10);
            assertThat(ends).as("matches ended in the random run").isGreaterThan(5);
        }

        private void step() {
            int dice = random.nextInt(100);
            String u = users.get(random.nextInt(users.size()));
            if (dice < 10) {
                long ms = random.nextInt(10) == 0
                        ? SETTINGS.resumeGraceMs() / 2 + random.nextInt(20_000)
                        : random.nextInt(3_000);
                trace("advance " + ms);
                elapse(ms);
                return;
            }
            if (dice < 15) {
                trace("sweep");
                apply(null, sweep());
                forgetGone();
                return;
            }
            if (!connected.contains(u)) {
                String old = droppedSession.get(u);
                if (old != null && random.nextBoolean()) {
                    trace("expire " + u + " " + old);
                    boolean matched = matchOf.containsKey(u);
                    long waited = now - droppedAt.get(u);
                    Outcome o = expire(u, old);
                    if (!o.ended().isEmpty()) {
                        assertThat(waited)
                                .as("expired before resumeGrace; " + trace)
                                .isGreaterThanOrEqualTo(SETTINGS.resumeGraceMs());
                    } else if (matched && waited > SETTINGS.resumeGraceMs()) {
                        assertThat(o.ended())
                                .as("not expired after resumeGrace; " + trace)
                                .isNotEmpty();
                    }
                    apply(u, o);
                    for (Ended e : o.ended()) {
                        assertThat(e.reason()).as(trace.toString()).isEqualTo(Ended.DISCONNECTED);
                        assertThat(e.by()).as(trace.toString()).isEqualTo(u);
                    }
                } else {
                    int n = sessionCount.merge(u, 1, Integer::sum);
                    String s = u + "_s" + n;
                    trace("returned " + u + " " + s);
                    Outcome o = returned(u, s, "n1");
                    assertThat(o.ended()).as(trace.toString()).isEmpty();
                    if (matchOf.containsKey(u)) {
                        assertThat(o.partner()).as(trace.toString()).isEqualTo(partner.get(u));
                    }
                    apply(u, o);
                    session.put(u, s);
                    connected.add(u);
                }
                return;
            }
            if (dice < 50) {
                List<String> in = randomInterests();
                trace("join " + u + " " + in);
                Outcome o = call(mm.join(u, session.get(u), "n1", in));
                boolean busy = queued.contains(u) || matchOf.containsKey(u);
                if (busy) {
                    assertThat(o.status()).as(trace.toString()).isEqualTo(Outcome.CONFLICT);
                    assertThat(o.pairings()).as(trace.toString()).isEmpty();
                    assertThat(o.ended()).as(trace.toString()).isEmpty();
                    return;
                }
                interests.put(u, in);
                interestsUnknown.remove(u);
                queuedAt.put(u, now);
                apply(u, o);
                expectQueuedOrMatched(u, o);
            } else if (dice < 65) {
                if (queued.contains(u)) {
                    return; // whether next keeps or renews a waiting user's place is not specified
                }
                String had = partner.get(u);
                trace("next " + u + (had == null ? "" : " (partner " + had + ")"));
                Outcome o = call(mm.next(u, session.get(u), "n1"));
                for (Ended e : o.ended()) {
                    assertThat(e).as(trace.toString()).isEqualTo(new Ended(e.match(), u, had, Ended.NEXT));
                }
                assertThat(o.ended()).as(trace.toString()).hasSize(had == null ? 0 : 1);
                interestsUnknown.add(u);
                queuedAt.put(u, now);
                apply(u, o);
                expectQueuedOrMatched(u, o);
            } else if (dice < 74) {
                String had = partner.get(u);
                trace("leave " + u);
                Outcome o = leave(u);
                assertThat(o.status()).as(trace.toString()).isEqualTo(Outcome.IDLE);
                assertThat(o.ended()).as(trace.toString()).hasSize(had == null ? 0 : 1);
                for (Ended e : o.ended()) {
                    assertThat(e).as(trace.toString()).isEqualTo(new Ended(e.match(), u, had, Ended.LEFT));
                }
                apply(u, o);
                queued.remove(u);
            } else if (dice < 78) {
                String other = users.get(random.nextInt(users.size()));
                if (other.equals(u)) {
                    return;
                }
                boolean together = other.equals(partner.get(u));
                trace("block " + u + " " + other);
                Outcome o = block(u, other);
                assertThat(o.ended()).as(trace.toString()).hasSize(together ? 1 : 0);
                for (Ended e : o.ended()) {
                    assertThat(e).as(trace.toString()).isEqualTo(new Ended(e.match(), u, other, Ended.LEFT));
                }
                if (o.status().equals(Outcome.NOTHING)) {
                    blocked.computeIfAbsent(Set.of(u, other), k -> new HashSet<>())
                            .add(u);
                }
                apply(u, o);
            } else if (dice < 87) {
                String s = session.get(u);
                boolean wasQueued = queued.contains(u);
                String had = partner.get(u);
                trace("dropped " + u + " " + s);
                Outcome o = dropped(u, s);
                assertThat(o.ended()).as(trace.toString()).isEmpty();
                if (wasQueued) {
                    assertThat(o.status()).as(trace.toString()).isEqualTo(Outcome.IDLE);
                    queued.remove(u);
                } else if (had != null) {
                    assertThat(o.partner()).as(trace.toString()).isEqualTo(had);
                }
                apply(u, o);
                connected.remove(u);
                droppedSession.put(u, s);
                droppedAt.put(u, now);
            } else {
                String m = random.nextBoolean() && matchOf.containsKey(u)
                        ? matchOf.get(u)
                        : matchIds.isEmpty() ? "m_none" : matchIds.get(random.nextInt(matchIds.size()));
                trace("partnerOf " + u + " " + m);
                Outcome o = partnerOf(u, m);
                if (m.equals(matchOf.get(u))) {
                    assertThat(o.partner()).as(trace.toString()).isEqualTo(partner.get(u));
                } else {
                    assertThat(o.status()).as(trace.toString()).isEqualTo(Outcome.NOTHING);
                    assertThat(o.partner()).as(trace.toString()).isNull();
                }
            }
        }

        private void expectQueuedOrMatched(String u, Outcome o) {
            if (o.status().equals(Outcome.MATCHED)) {
                assertThat(matchOf).as(trace.toString()).containsKey(u);
                assertThat(o.match()).as(trace.toString()).isEqualTo(matchOf.get(u));
            } else {
                assertThat(o.status()).as(trace.toString()).isEqualTo(Outcome.QUEUED);
                assertThat(matchOf).as(trace.toString()).doesNotContainKey(u);
                queued.add(u);
            }
        }

        /** Applies the ended matches, then the pairings, checking each against the model. */
        private void apply(String caller, Outcome o) {
            String why = trace.toString();
            for (Ended e : o.ended()) {
                ends++;
                assertThat(matchOf.get(e.by()))
                        .as("ended match is the current one of 'by'; " + why)
                        .isEqualTo(e.match());
                assertThat(partner.get(e.by())).as("ended partner; " + why).isEqualTo(e.partner());
                assertThat(matchOf.get(e.partner()))
                        .as("ended match of the partner; " + why)
                        .isEqualTo(e.match());
                if (e.reason().equals(Ended.NEXT) || e.reason().equals(Ended.LEFT)) {
                    endedCount.merge(e.by(), 1, Integer::sum);
                    endedCount.merge(e.partner(), 1, Integer::sum);
                    left.add(new Left(e.by(), e.partner(), endedCount.get(e.by())));
                } else {
                    assertThat(e.reason()).as(why).isEqualTo(Ended.DISCONNECTED);
                    assertThat(connected)
                            .as("disconnected only a user who dropped; " + why)
                            .doesNotContain(e.by());
                    endedCount.merge(e.by(), 1, Integer::sum);
                    endedCount.merge(e.partner(), 1, Integer::sum);
                }
                for (String side : List.of(e.by(), e.partner())) {
                    matchOf.remove(side);
                    partner.remove(side);
                }
            }
            for (Pairing p : o.pairings()) {
                pairings++;
                String a = p.initiator();
                String b = p.other();
                assertThat(a).as("matched with itself; " + why).isNotEqualTo(b);
                assertThat(p.match()).as(why).startsWith("m_");
                assertThat(matchIds)
                        .as("fresh match id " + p.match() + "; " + why)
                        .doesNotContain(p.match());
                matchIds.add(p.match());
                for (String side : List.of(a, b)) {
                    assertThat(matchOf)
                            .as("never two partners at once: " + side + "; " + why)
                            .doesNotContainKey(side);
                    assertThat(side.equals(caller) || queued.contains(side))
                            .as("matched only a waiting user: " + side + "; " + why)
                            .isTrue();
                    assertThat(connected)
                            .as("never matched with a user who is gone: " + side + "; " + why)
                            .contains(side);
                }
                assertThat(blocked).as("blocked pair matched; " + why).doesNotContainKey(Set.of(a, b));
                assertThat(recentlyLeft(a, b) || recentlyLeft(b, a))
                        .as("recent partners " + a + " and " + b + " matched; " + why)
                        .isFalse();
                Set<String> common = new TreeSet<>(interests.getOrDefault(a, List.of()));
                common.retainAll(interests.getOrDefault(b, List.of()));
                boolean known = !interestsUnknown.contains(a) && !interestsUnknown.contains(b);
                if (known) {
                    assertThat(new TreeSet<>(p.shared()))
                            .as("shared interests; " + why)
                            .isEqualTo(common);
                }
                if (known && common.isEmpty()) {
                    for (String side : List.of(a, b)) {
                        boolean accepts =
                                interests.get(side).isEmpty() || now - queuedAt.get(side) >= SETTINGS.interestWaitMs();
                        assertThat(accepts)
                                .as(side + " accepts a partner without a shared interest; " + why)
                                .isTrue();
                    }
                }
                if (!a.equals(caller) && !b.equals(caller)) {
                    assertThat(queuedAt.get(a))
                            .as("initiator waited longer; " + why)
                            .isLessThanOrEqualTo(queuedAt.get(b));
                } else if (!queuedAt.get(a).equals(queuedAt.get(b))) {
                    // Who initiates between users of the same millisecond has its own test.
                    assertThat(b).as("the waiting user initiates; " + why).isEqualTo(caller);
                }
                for (String side : List.of(a, b)) {
                    queued.remove(side);
                    matchOf.put(side, p.match());
                }
                partner.put(a, b);
                partner.put(b, a);
                trace("  paired " + a + " + " + b + " " + p.match());
            }
            for (Ended e : o.ended()) {
                trace("  ended " + e);
            }
        }

        /**
         * After a sweep, a user whose connection dropped more than resumeGrace ago may have been forgotten, with its
         * blocks and recent partners: the model stops expecting them (it may forget more than the matchmaker did,
         * which only makes it more lenient).
         */
        private void forgetGone() {
            for (String u : users) {
                Long at = droppedAt.get(u);
                if (connected.contains(u) || at == null || now - at < SETTINGS.resumeGraceMs()) {
                    continue;
                }
                blocked.values().forEach(by -> by.remove(u));
                blocked.values().removeIf(Set::isEmpty);
                left.removeIf(l -> l.by().equals(u) || l.other().equals(u));
            }
        }

        private boolean recentlyLeft(String by, String other) {
            for (Left l : left) {
                if (l.by().equals(by)
                        && l.other().equals(other)
                        && endedCount.get(by) - l.endedCountOfBy() < SETTINGS.avoidRecent()) {
                    return true;
                }
            }
            return false;
        }

        private void checkInvariants(int step) {
            String why = "after step " + step + ":\n" + trace;
            assertThat(queueLength()).as("queue length; " + why).isEqualTo(queued.size());
            for (Map.Entry<String, String> e : matchOf.entrySet()) {
                String u = e.getKey();
                assertThat(queued)
                        .as("both queued and matched: " + u + "; " + why)
                        .doesNotContain(u);
                Outcome o = partnerOf(u, e.getValue());
                assertThat(o.partner()).as("partner of " + u + "; " + why).isEqualTo(partner.get(u));
                Outcome back = partnerOf(o.partner(), e.getValue());
                assertThat(back.partner())
                        .as("symmetric match of " + u + "; " + why)
                        .isEqualTo(u);
            }
        }

        private List<String> randomInterests() {
            List<String> in = new ArrayList<>();
            for (String i : INTEREST_POOL) {
                if (random.nextInt(5) == 0) {
                    in.add(i);
                }
            }
            return in;
        }

        private void trace(String line) {
            trace.append(line).append('\n');
        }
    }

    // ---- helpers

    /** Replaces the test's matchmaker with one built with other settings. */
    protected final Matchmaker newMatchmaker(MatchmakerSettings settings) {
        Matchmaker m = own(create(settings, () -> now));
        mm = m;
        renewLiveNodes();
        return m;
    }

    /** The test's current matchmaker. */
    protected final Matchmaker matchmaker() {
        return mm;
    }

    /** Moves the clock, then renews the leases of the instances this test keeps alive. */
    final void elapse(long millis) {
        advance(millis);
        renewLiveNodes();
    }

    final void keepAlive(String node) {
        liveNodes.add(node);
        call(mm.renewLease(node));
    }

    final void letDie(String node) {
        liveNodes.remove(node);
    }

    private void renewLiveNodes() {
        for (String node : liveNodes) {
            call(mm.renewLease(node));
        }
    }

    final Outcome join(String user, String... interests) {
        return joinOn(user, "s_" + user, "n1", interests);
    }

    final Outcome joinOn(String user, String session, String node, String... interests) {
        return call(mm.join(user, session, node, Arrays.asList(interests)));
    }

    final Outcome next(String user) {
        return call(mm.next(user, "s_" + user, "n1"));
    }

    final Outcome leave(String user) {
        return call(mm.leave(user));
    }

    final Outcome block(String user, String other) {
        return call(mm.block(user, other));
    }

    final Outcome partnerOf(String user, String match) {
        return call(mm.partnerOf(user, match));
    }

    final Outcome dropped(String user, String session) {
        return call(mm.dropped(user, session));
    }

    final Outcome returned(String user, String session, String node) {
        return call(mm.returned(user, session, node));
    }

    final Outcome expire(String user, String session) {
        return call(mm.expire(user, session));
    }

    final Outcome sweep() {
        return call(mm.sweep());
    }

    final Outcome unannounced() {
        return call(mm.unannounced());
    }

    final void announced(Outcome o) {
        call(mm.announced(o));
    }

    final long queueLength() {
        Long n = call(mm.queueLength());
        assertThat(n).as("queueLength").isNotNull();
        return n;
    }

    /**
     * Runs {@code operations} at once, in this order, as concurrent callers would (the Redis matchmaker batches
     * them), and returns their outcomes in the same order.
     */
    @SafeVarargs
    static List<Outcome> together(Mono<Outcome>... operations) {
        List<CompletableFuture<Outcome>> started = new ArrayList<>();
        for (Mono<Outcome> op : operations) {
            started.add(op.toFuture());
        }
        List<Outcome> outcomes = new ArrayList<>();
        for (CompletableFuture<Outcome> f : started) {
            outcomes.add(Mono.fromFuture(f).block(TIMEOUT));
        }
        return outcomes;
    }

    static <T> T call(Mono<T> mono) {
        return mono.block(TIMEOUT);
    }

    /** The one pairing of an outcome that matched the caller. */
    static Pairing matchOf(Outcome o) {
        assertThat(o.status()).as("status of %s", o).isEqualTo(Outcome.MATCHED);
        Pairing p = onlyPairing(o);
        assertThat(o.match()).as("match of %s", o).isEqualTo(p.match());
        return p;
    }

    static Pairing onlyPairing(Outcome o) {
        assertThat(o.pairings()).as("pairings of %s", o).hasSize(1);
        Pairing p = o.pairings().get(0);
        assertThat(p.match()).startsWith("m_");
        assertThat(p.initiator()).isNotEqualTo(p.other());
        return p;
    }

    /** The two users of a pairing, whichever initiates (for tests of rules other than who initiates). */
    static void assertPartners(Pairing p, String one, String another) {
        assertThat(Set.of(p.initiator(), p.other())).as("users of %s", p).containsExactlyInAnyOrder(one, another);
    }

    static void assertPairing(Pairing p, String initiator, String other) {
        assertThat(p.initiator()).as("initiator of %s", p).isEqualTo(initiator);
        assertThat(p.other()).as("other of %s", p).isEqualTo(other);
    }

    static void assertNothing(Outcome o) {
        assertThat(o.status()).as("status of %s", o).isEqualTo(Outcome.NOTHING);
        assertThat(o.partner()).as("partner of %s", o).isNull();
    }
}
