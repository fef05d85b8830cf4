package io.switchboard.gateway.session;

import java.util.function.LongSupplier;

/**
 * A connection's two token buckets, counted from its first frame (pings, pongs and frames before {@code hello}
 * too): the rate limit a request over which answers {@code rate_limited}, and {@link #ABUSE_FACTOR} times it,
 * past which the client is closed with 1008.
 */
final class RateLimits {
    /** A client sending at more than this many times the rate limit is closed with 1008. */
    static final int ABUSE_FACTOR = 10;

    private final TokenBucket requests;
    private final TokenBucket abuse;

    RateLimits(long rate, long burst, LongSupplier nanoTime) {
        this.requests = new TokenBucket(rate, burst, nanoTime);
        this.abuse = new TokenBucket((long) ABUSE_FACTOR * rate, (long) ABUSE_FACTOR * burst, nanoTime);
    }

    /** Counts a frame against the abuse bound; false when the client sends past it. */
    boolean withinAbuseBound() {
        return abuse.tryTake();
    }

    /** Counts a frame against the rate limit; false when it is over. */
    boolean tryTake() {
        return requests.tryTake();
    }

    /** The wait to announce in {@code retryAfter}. */
    long millisUntilToken() {
        return requests.millisUntilToken();
    }
}
