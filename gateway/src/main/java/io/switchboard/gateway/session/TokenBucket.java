package io.switchboard.gateway.session;

import java.util.function.LongSupplier;

/** A token bucket of {@code capacity} tokens refilled at {@code ratePerSecond}; not thread-safe. */
public final class TokenBucket {
    private final double capacity;
    private final double perNano;
    private final LongSupplier nanoTime;
    private double tokens;
    private long refilledAt;

    public TokenBucket(double ratePerSecond, double capacity, LongSupplier nanoTime) {
        this.capacity = capacity;
        this.perNano = ratePerSecond / 1e9;
        this.nanoTime = nanoTime;
        this.tokens = capacity;
        this.refilledAt = nanoTime.getAsLong();
    }

    /** Takes one token; false when the bucket is empty. */
    public boolean tryTake() {
        refill();
        if (tokens >= 1) {
            tokens -= 1;
            return true;
        }
        return false;
    }

    /** Milliseconds until a token is available (at least 1). */
    public long millisUntilToken() {
        refill();
        double missing = Math.max(0, 1 - tokens);
        return Math.max(1, (long) Math.ceil(missing / perNano / 1e6));
    }

    private void refill() {
        long now = nanoTime.getAsLong();
        tokens = Math.min(capacity, tokens + (now - refilledAt) * perNano);
        refilledAt = now;
    }
}
