package io.switchboard.gateway.session;

import java.util.function.LongSupplier;

/**
 * A token bucket of {@code capacity} tokens refilled at {@code ratePerSecond}; not thread-safe. Counts in
 * billionths of a token, so that refills add up exactly: at {@code r} tokens per second, each nanosecond adds
 * {@code r} units.
 */
public final class TokenBucket {
    private static final long UNIT = 1_000_000_000L;
    private final long rate;
    private final long capacityUnits;
    private final LongSupplier nanoTime;
    private long units;
    private long refilledAt;

    public TokenBucket(long ratePerSecond, long capacity, LongSupplier nanoTime) {
        if (ratePerSecond < 1 || capacity < 1) {
            throw new IllegalArgumentException("rate and capacity must be at least 1");
        }
        this.rate = ratePerSecond;
        this.capacityUnits = Math.multiplyExact(capacity, UNIT);
        this.nanoTime = nanoTime;
        this.units = capacityUnits;
        this.refilledAt = nanoTime.getAsLong();
    }

    /** Takes one token; false when the bucket is empty. */
    public boolean tryTake() {
        refill();
        if (units >= UNIT) {
            units -= UNIT;
            return true;
        }
        return false;
    }

    /** Milliseconds until a token is available (at least 1). */
    public long millisUntilToken() {
        refill();
        long missing = Math.max(0, UNIT - units);
        long nanos = (missing + rate - 1) / rate;
        return Math.max(1, (nanos + 999_999) / 1_000_000);
    }

    private void refill() {
        long now = nanoTime.getAsLong();
        long elapsed = now - refilledAt;
        if (elapsed <= 0) {
            return;
        }
        refilledAt = now;
        long toFull = (capacityUnits - units + rate - 1) / rate;
        units = elapsed >= toFull ? capacityUnits : units + elapsed * rate;
    }
}
