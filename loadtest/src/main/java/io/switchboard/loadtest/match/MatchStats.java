package io.switchboard.loadtest.match;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;

/**
 * What the users of one run counted, shared by all of them and written from the client's I/O threads. Matches,
 * joins and latencies count only inside the measurement window; errors count over the whole run.
 */
final class MatchStats {
    /** Latencies are recorded in microseconds up to this, with three significant digits. */
    public static final long HIGHEST_MICROS = TimeUnit.MINUTES.toMicros(5);

    private final LongAdder matches = new LongAdder();
    private final LongAdder joins = new LongAdder();
    private final LongAdder foundBeforeAck = new LongAdder();
    private final LongAdder signals = new LongAdder();
    private final LongAdder signalBeforeFound = new LongAdder();
    private final Histogram timeToMatch = new ConcurrentHistogram(HIGHEST_MICROS, 3);
    private final Histogram joinAck = new ConcurrentHistogram(HIGHEST_MICROS, 3);
    private final Map<String, LongAdder> errors = new ConcurrentHashMap<>();
    private volatile long windowStart = Long.MAX_VALUE;
    private volatile long windowEnd = Long.MAX_VALUE;

    /** Counting starts at {@code startNanos} and ends at {@code endNanos} ({@link System#nanoTime()}). */
    void window(long startNanos, long endNanos) {
        windowStart = startNanos;
        windowEnd = endNanos;
    }

    boolean inWindow(long nanos) {
        return nanos - windowStart >= 0 && nanos - windowEnd < 0;
    }

    /** A {@code match.found} with {@code initiator:true}: each match counts once. */
    void match() {
        matches.increment();
    }

    void join() {
        joins.increment();
    }

    void signal() {
        signals.increment();
    }

    /** {@code match.found} came before the ack of the join it answers; its time to match counts as 0. */
    void foundBeforeAck() {
        foundBeforeAck.increment();
    }

    /**
     * A {@code match.signal} came before the {@code match.found} of its match, in inbox order: the gateway
     * published the partner's answer before the user's own event. Counted over the whole run.
     */
    void signalBeforeFound() {
        signalBeforeFound.increment();
    }

    long signalBeforeFoundCount() {
        return signalBeforeFound.sum();
    }

    void timeToMatch(long nanos) {
        timeToMatch.recordValue(micros(nanos));
    }

    void joinAck(long nanos) {
        joinAck.recordValue(micros(nanos));
    }

    void error(String kind) {
        errors.computeIfAbsent(kind, k -> new LongAdder()).increment();
    }

    long matches() {
        return matches.sum();
    }

    long joins() {
        return joins.sum();
    }

    long signals() {
        return signals.sum();
    }

    long foundBeforeAckCount() {
        return foundBeforeAck.sum();
    }

    long errors() {
        return errors.values().stream().mapToLong(LongAdder::sum).sum();
    }

    /** Errors by kind, sorted by kind. */
    Map<String, Long> errorsByKind() {
        Map<String, Long> byKind = new TreeMap<>();
        errors.forEach((k, v) -> byKind.put(k, v.sum()));
        return byKind;
    }

    Histogram timeToMatchMicros() {
        return timeToMatch.copy();
    }

    Histogram joinAckMicros() {
        return joinAck.copy();
    }

    private static long micros(long nanos) {
        return Math.min(HIGHEST_MICROS, Math.max(0, TimeUnit.NANOSECONDS.toMicros(nanos)));
    }
}
