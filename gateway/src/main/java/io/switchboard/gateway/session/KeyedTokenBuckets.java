package io.switchboard.gateway.session;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * One {@link TokenBucket} per key (a client address, a user id), all with the same rate and burst, for limits on
 * how often something may happen per key, such as connecting. At most {@code maxKeys} are held: beyond that the
 * least recently used key is forgotten and starts again with a full bucket, so that a client with many addresses
 * cannot grow the table without bound. Thread-safe; meant for events per connection, not per frame.
 */
public final class KeyedTokenBuckets {
    private final long ratePerSecond;
    private final long burst;
    private final LongSupplier nanoTime;
    private final LinkedHashMap<String, TokenBucket> buckets;

    public KeyedTokenBuckets(long ratePerSecond, long burst, int maxKeys, LongSupplier nanoTime) {
        if (maxKeys < 1) {
            throw new IllegalArgumentException("maxKeys must be at least 1");
        }
        new TokenBucket(ratePerSecond, burst, nanoTime); // checks the rate and the burst once, here
        this.ratePerSecond = ratePerSecond;
        this.burst = burst;
        this.nanoTime = nanoTime;
        this.buckets = new LinkedHashMap<>(1024, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, TokenBucket> eldest) {
                return size() > maxKeys;
            }
        };
    }

    /** Takes a token of {@code key}: 0 when taken, else the milliseconds until one is available (at least 1). */
    public synchronized long tryTake(String key) {
        TokenBucket b = buckets.computeIfAbsent(key, k -> new TokenBucket(ratePerSecond, burst, nanoTime));
        return b.tryTake() ? 0 : b.millisUntilToken();
    }

    /** How many keys are held now. */
    public synchronized int size() {
        return buckets.size();
    }
}
