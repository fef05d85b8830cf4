package io.switchboard.loadtest.scenario;

import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the load generator knows of a channel's presence count, over time, and how a {@code presence.count} answer is
 * judged against it (the {@code presence} scenario). Two figures change as the users act:
 *
 * <ul>
 *   <li><b>lower</b>: users certainly present, those whose {@code subscribe} (with presence) was acked and who have
 *       not yet sent {@code unsubscribe} nor closed: the count the protocol owes them;
 *   <li><b>upper</b>: users possibly present, which adds those whose subscribe is in flight (the gateway adds them
 *       before it acks) and those whose unsubscribe or close is not yet answered (the gateway removes them after).
 * </ul>
 *
 * Both change by one at a time, so over any interval the values they take are every whole number between their
 * lowest and highest. An answer sent at {@code t0} and received at {@code t1} is <b>exact</b> when it lies between
 * the lowest lower and the highest upper over {@code [t0 - window, t1]}: counts are exact within 2 s of a change
 * (protocol section 10), so a count may miss changes younger than the window, never older ones. Its <b>error</b>
 * is how far outside that range it lies. Each instance's answers are judged apart ({@link Accuracy}).
 *
 * <p>Thread-safe: users change it from their connections' event loops.
 */
final class PresenceTruth {
    /** One change: from {@code at} on, the figures are {@code lower} and {@code upper}. */
    private record Point(long at, int lower, int upper) {}

    private final ArrayDeque<Point> points = new ArrayDeque<>();
    private int lower;
    private int upper;
    private long lastChange;

    PresenceTruth(long now) {
        points.add(new Point(now, 0, 0));
        lastChange = now;
    }

    /** A user's subscribe was sent: possibly present from now. */
    void subscribing(long now) {
        change(now, 0, 1);
    }

    /** A user's subscribe was acked: certainly present from now. */
    void subscribed(long now) {
        change(now, 1, 0);
    }

    /** A subscribe that was sent failed: the user is not present (was it added, the gateway removes it). */
    void subscribeFailed(long now) {
        change(now, 0, -1);
    }

    /** A present user sent unsubscribe or closed: no longer certainly present. */
    void leaving(long now) {
        change(now, -1, 0);
    }

    /** A user's unsubscribe was acked or its connection closed: no longer possibly present. */
    void left(long now) {
        change(now, 0, -1);
    }

    synchronized void change(long now, int dLower, int dUpper) {
        lower += dLower;
        upper += dUpper;
        if (lower < 0 || upper < lower) {
            throw new IllegalStateException(
                    "presence truth out of order: lower " + lower + ", upper " + upper + " (a bug of the scenario)");
        }
        // times only move forward, even across the threads that report them
        long at = Math.max(now, points.peekLast().at());
        points.add(new Point(at, lower, upper));
        lastChange = at;
    }

    synchronized int lower() {
        return lower;
    }

    synchronized int upper() {
        return upper;
    }

    /** When the figures last changed. */
    synchronized long lastChange() {
        return lastChange;
    }

    /** The lowest lower and the highest upper over {@code [from, to]}. */
    synchronized Range range(long from, long to) {
        int min = Integer.MAX_VALUE;
        int max = Integer.MIN_VALUE;
        // the first point stands for all that came before it (it was 0 and 0, or what forget kept)
        Point inEffect = points.peekFirst();
        for (Point p : points) {
            if (p.at() - from <= 0) {
                inEffect = p; // the latest at or before from: in effect at from
                continue;
            }
            if (p.at() - to > 0) {
                break;
            }
            min = Math.min(min, p.lower());
            max = Math.max(max, p.upper());
        }
        min = Math.min(min, inEffect.lower());
        max = Math.max(max, inEffect.upper());
        return new Range(min, max);
    }

    /** Forgets what no answer sent after {@code before} can need (keeps what was in effect then). */
    synchronized void forget(long before) {
        while (points.size() > 1) {
            Iterator<Point> it = points.iterator();
            it.next();
            if (it.next().at() - before > 0) {
                return;
            }
            points.removeFirst(); // superseded at or before `before`
        }
    }

    /** Values a count may rightly have: from {@code min} to {@code max}. */
    record Range(int min, int max) {
        /** How far {@code count} lies outside the range, 0 inside. */
        long error(long count) {
            return count < min ? min - count : count > max ? count - max : 0;
        }
    }

    /**
     * The answers of one instance, judged: how many were exact within the protocol's window, how many exact at
     * once (between the request and its answer), and the largest errors of each.
     */
    static final class Accuracy {
        private final PresenceTruth truth;
        private final long windowNanos;
        private long samples;
        private long exact;
        private long exactAtOnce;
        private long largestError;
        private long largestErrorAtOnce;
        private long allowedSpread;
        private String firstWrong;

        Accuracy(PresenceTruth truth, long windowNanos) {
            this.truth = truth;
            this.windowNanos = windowNanos;
        }

        /** Judges {@code count}, asked at {@code sentAt} and answered at {@code answeredAt}; the error. */
        synchronized long record(long sentAt, long answeredAt, long count) {
            Range within = truth.range(sentAt - windowNanos, answeredAt);
            Range atOnce = truth.range(sentAt, answeredAt);
            long error = within.error(count);
            long errorAtOnce = atOnce.error(count);
            samples++;
            allowedSpread += within.max() - within.min();
            if (error == 0) {
                exact++;
            } else if (firstWrong == null) {
                firstWrong = "count " + count + " where " + within.min() + " to " + within.max() + " was right";
            }
            if (errorAtOnce == 0) {
                exactAtOnce++;
            }
            largestError = Math.max(largestError, error);
            largestErrorAtOnce = Math.max(largestErrorAtOnce, errorAtOnce);
            return error;
        }

        synchronized long samples() {
            return samples;
        }

        synchronized long exact() {
            return exact;
        }

        synchronized long largestError() {
            return largestError;
        }

        synchronized Map<String, Object> result() {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("samples", samples);
            r.put("exactWithin2s", exact);
            r.put("exactShare", samples == 0 ? null : round((double) exact / samples));
            r.put("largestError", largestError);
            r.put("firstWrong", firstWrong);
            // how many counts a sample could rightly answer, on average: the window's leniency under churn
            r.put("meanRightValues", samples == 0 ? null : round(1 + (double) allowedSpread / samples));
            // Stricter than the protocol: no change may be missed, however recent.
            r.put("exactAtOnceShare", samples == 0 ? null : round((double) exactAtOnce / samples));
            r.put("largestErrorAtOnce", largestErrorAtOnce);
            return r;
        }

        private static double round(double v) {
            return Math.round(v * 10_000) / 10_000.0;
        }
    }

    /**
     * Whether every instance came to answer an exact count once the users stopped changing it at {@code quietAt}:
     * the count each must answer is {@code expected}. An answer to a request sent {@code promise} or more after
     * {@code quietAt} must be exact (counts are exact within 2 s of a change); one that is not makes the check
     * {@link #wrong()}, as does an instance that never answered exact.
     */
    static final class Settle {
        private final long quietAt;
        private final long promiseNanos;
        private final long expected;
        private final long[] settledAt;
        private final long[] lastCount;
        private final long[] lateWrong;
        private final long[] wrongAfterExact;

        Settle(int instances, long quietAt, long promiseNanos, long expected) {
            this.quietAt = quietAt;
            this.promiseNanos = promiseNanos;
            this.expected = expected;
            this.settledAt = new long[instances];
            this.lastCount = new long[instances];
            this.lateWrong = new long[instances];
            this.wrongAfterExact = new long[instances];
            java.util.Arrays.fill(settledAt, -1);
            java.util.Arrays.fill(lastCount, -1);
        }

        /** Instance {@code i} answered {@code count} to a request sent at {@code sentAt}, at {@code answeredAt}. */
        synchronized void answer(int i, long sentAt, long answeredAt, long count) {
            lastCount[i] = count;
            if (count == expected) {
                if (settledAt[i] < 0) {
                    settledAt[i] = answeredAt;
                }
                return;
            }
            if (sentAt - quietAt >= promiseNanos) {
                lateWrong[i]++;
            }
            if (settledAt[i] >= 0) {
                wrongAfterExact[i]++;
            }
        }

        /** Whether every instance answered exact. */
        synchronized boolean settled() {
            for (long s : settledAt) {
                if (s < 0) {
                    return false;
                }
            }
            return true;
        }

        /** Whether a count was wrong when it had to be exact, or some instance never answered exact. */
        synchronized boolean wrong() {
            for (int i = 0; i < settledAt.length; i++) {
                if (settledAt[i] < 0 || lateWrong[i] > 0 || wrongAfterExact[i] > 0) {
                    return true;
                }
            }
            return false;
        }

        /** Per instance: ms from {@code quietAt} to its first exact answer (null: never), and its last answer. */
        synchronized Map<String, Object> result() {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("expected", expected);
            long slowest = 0;
            for (int i = 0; i < settledAt.length; i++) {
                Map<String, Object> one = new LinkedHashMap<>();
                one.put("exactAfterMs", settledAt[i] < 0 ? null : Math.max(0, (settledAt[i] - quietAt) / 1_000_000));
                one.put("lastCount", lastCount[i]);
                one.put("wrongWhenDue", lateWrong[i]);
                one.put("wrongAfterExact", wrongAfterExact[i]);
                r.put("instance" + (i + 1), one);
                slowest = settledAt[i] < 0 ? Long.MAX_VALUE : Math.max(slowest, settledAt[i] - quietAt);
            }
            r.put("allExactAfterMs", slowest == Long.MAX_VALUE ? null : Math.max(0, slowest / 1_000_000));
            r.put("wrong", wrong());
            return r;
        }
    }
}
