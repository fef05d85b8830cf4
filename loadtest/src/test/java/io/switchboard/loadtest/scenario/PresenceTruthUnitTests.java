package io.switchboard.loadtest.scenario;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** The presence scenario's truth: the range a count may rightly have, how answers are judged, the final check. */
class PresenceTruthUnitTests {
    private static final long MS = 1_000_000L;
    private static final long WINDOW = 2000 * MS;

    /** Three users present from 10 ms (subscribe sent at 0..2 ms, acked at 10 ms). */
    private static PresenceTruth threePresent() {
        PresenceTruth t = new PresenceTruth(0);
        for (int i = 0; i < 3; i++) {
            t.subscribing(i * MS);
        }
        for (int i = 0; i < 3; i++) {
            t.subscribed(10 * MS);
        }
        return t;
    }

    @Test
    void lowerCountsTheAckedAndUpperTheInFlightToo() {
        PresenceTruth t = threePresent();
        assertThat(t.lower()).isEqualTo(3);
        assertThat(t.upper()).isEqualTo(3);
        t.subscribing(20 * MS);
        assertThat(t.lower()).isEqualTo(3);
        assertThat(t.upper()).isEqualTo(4);
        t.leaving(30 * MS);
        assertThat(t.lower()).isEqualTo(2);
        assertThat(t.upper()).isEqualTo(4);
        t.left(40 * MS);
        t.subscribeFailed(41 * MS);
        assertThat(t.lower()).isEqualTo(2);
        assertThat(t.upper()).isEqualTo(2);
        assertThat(t.lastChange()).isEqualTo(41 * MS);
    }

    @Test
    void theRangeHoldsWhatWasInEffectAtItsStartAndEveryChangeWithin() {
        PresenceTruth t = threePresent();
        t.leaving(100 * MS);
        t.left(105 * MS);
        t.leaving(200 * MS);
        t.left(201 * MS);
        // before anything: 0
        assertThat(t.range(-5 * MS, -1 * MS)).isEqualTo(new PresenceTruth.Range(0, 0));
        // between changes: only the value in effect
        assertThat(t.range(50 * MS, 60 * MS)).isEqualTo(new PresenceTruth.Range(3, 3));
        // across the first leave: from 2 certainly present to 3 possibly
        assertThat(t.range(50 * MS, 150 * MS)).isEqualTo(new PresenceTruth.Range(2, 3));
        // after the last change
        assertThat(t.range(300 * MS, 400 * MS)).isEqualTo(new PresenceTruth.Range(1, 1));
    }

    @Test
    void aCountMayMissChangesYoungerThanTheWindowButNotOlder() {
        PresenceTruth t = threePresent();
        t.leaving(1000 * MS);
        t.left(1001 * MS);
        PresenceTruth.Accuracy a = new PresenceTruth.Accuracy(t, WINDOW);
        // 3 asked 500 ms after the leave: the leave is younger than 2 s, 3 is still right
        assertThat(a.record(1500 * MS, 1510 * MS, 3)).isZero();
        // 3 asked 2.5 s after the leave: wrong by one
        assertThat(a.record(3500 * MS, 3510 * MS, 3)).isEqualTo(1);
        // 2 is right at any time after the leave; 5 never was
        assertThat(a.record(3600 * MS, 3610 * MS, 2)).isZero();
        assertThat(a.record(3700 * MS, 3710 * MS, 5)).isEqualTo(3);
        Map<String, Object> r = a.result();
        assertThat(r)
                .containsEntry("samples", 4L)
                .containsEntry("exactWithin2s", 2L)
                .containsEntry("exactShare", 0.5)
                .containsEntry("largestError", 3L)
                .containsEntry("firstWrong", "count 3 where 2 to 2 was right")
                .containsEntry("meanRightValues", 1.75); // the first window reaches back before the users: 0 to 3
        // at once (no window): the 1.5 s answer of 3 was wrong too
        assertThat(r).containsEntry("exactAtOnceShare", 0.25).containsEntry("largestErrorAtOnce", 3L);
    }

    @Test
    void aCountTakenWhileASubscribeIsInFlightMayIncludeIt() {
        PresenceTruth t = threePresent();
        t.subscribing(100 * MS);
        t.subscribed(120 * MS);
        PresenceTruth.Accuracy a = new PresenceTruth.Accuracy(t, 0);
        // asked and answered before the ack: the gateway adds the user before it acks
        assertThat(a.record(105 * MS, 110 * MS, 4)).isZero();
        assertThat(a.record(105 * MS, 110 * MS, 3)).isZero();
        assertThat(a.record(105 * MS, 110 * MS, 5)).isEqualTo(1);
    }

    @Test
    void forgettingKeepsWhatWasInEffect() {
        PresenceTruth t = threePresent();
        t.leaving(100 * MS);
        t.left(105 * MS);
        t.forget(150 * MS);
        assertThat(t.range(150 * MS, 160 * MS)).isEqualTo(new PresenceTruth.Range(2, 2));
        t.forget(10_000 * MS);
        assertThat(t.range(10_000 * MS, 10_001 * MS)).isEqualTo(new PresenceTruth.Range(2, 2));
    }

    @Test
    void timesReportedOutOfOrderAcrossThreadsStillMoveForward() {
        PresenceTruth t = new PresenceTruth(0);
        t.subscribing(100 * MS);
        t.subscribed(90 * MS); // another thread read its clock a little earlier
        assertThat(t.lastChange()).isEqualTo(100 * MS);
        assertThat(t.range(95 * MS, 96 * MS)).isEqualTo(new PresenceTruth.Range(0, 0));
    }

    @Test
    void aLeaveWithoutAPresenceIsABugOfTheScenario() {
        PresenceTruth t = new PresenceTruth(0);
        assertThatThrownBy(() -> t.leaving(1)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void settleWaitsForEveryInstanceAndFailsAWrongCountWhenDue() {
        PresenceTruth.Settle s = new PresenceTruth.Settle(2, 0, WINDOW, 5);
        s.answer(0, 10 * MS, 20 * MS, 4); // stale, but not yet due
        assertThat(s.wrong()).isTrue(); // nobody exact yet
        s.answer(0, 100 * MS, 110 * MS, 5);
        assertThat(s.settled()).isFalse();
        s.answer(1, 150 * MS, 160 * MS, 5);
        assertThat(s.settled()).isTrue();
        assertThat(s.wrong()).isFalse();
        assertThat(s.result())
                .containsEntry("allExactAfterMs", 160L)
                .containsEntry("wrong", false)
                .containsEntry("expected", 5L);
    }

    @Test
    void settleFailsACountWrongTwoSecondsOnEvenIfRightLater() {
        PresenceTruth.Settle s = new PresenceTruth.Settle(1, 0, WINDOW, 0);
        s.answer(0, 2100 * MS, 2110 * MS, 200);
        s.answer(0, 2500 * MS, 2510 * MS, 0);
        assertThat(s.settled()).isTrue();
        assertThat(s.wrong()).isTrue();
        assertThat(s.result()).containsEntry("allExactAfterMs", 2510L);
    }

    @Test
    void settleFailsACountThatWentWrongAgain() {
        PresenceTruth.Settle s = new PresenceTruth.Settle(1, 0, WINDOW, 3);
        s.answer(0, 10 * MS, 20 * MS, 3);
        s.answer(0, 30 * MS, 40 * MS, 4);
        assertThat(s.wrong()).isTrue();
    }

    @Test
    void settleNeverExactReportsNoTime() {
        PresenceTruth.Settle s = new PresenceTruth.Settle(2, 0, WINDOW, 0);
        s.answer(0, 3000 * MS, 3010 * MS, 200);
        s.answer(1, 3000 * MS, 3010 * MS, 0);
        assertThat(s.settled()).isFalse();
        assertThat(s.wrong()).isTrue();
        Map<String, Object> r = s.result();
        assertThat(r.get("allExactAfterMs")).isNull();
        assertThat((Map<String, Object>) r.get("instance1"))
                .containsEntry("lastCount", 200L)
                .containsEntry("wrongWhenDue", 1L);
    }
}
