package io.switchboard.protocol.client;

import java.time.Duration;
import java.util.Objects;
import java.util.random.RandomGenerator;

/**
 * When a {@link ReconnectingClient} tries again (docs/protocol.md section 8): attempt {@code k} (1-based; the
 * protocol's attempt {@code n = k - 1}) waits a uniformly random delay in
 * {@code [0, min(maxDelay, base * 2^(k-1))]}, the full-jitter rule that spreads a crowd of clients that lost
 * their connection at the same moment. After {@code maxAttempts} consecutive failures the client gives up; the
 * count starts again once a connection has stayed up {@code resetAfter} past its {@code welcome}.
 */
public record ReconnectPolicy(Duration base, Duration maxDelay, int maxAttempts, Duration resetAfter) {
    public static final ReconnectPolicy DEFAULT =
            new ReconnectPolicy(Duration.ofMillis(500), Duration.ofSeconds(20), 10, Duration.ofSeconds(30));

    public ReconnectPolicy {
        Objects.requireNonNull(base, "base");
        Objects.requireNonNull(maxDelay, "maxDelay");
        Objects.requireNonNull(resetAfter, "resetAfter");
        if (base.isNegative() || base.isZero()) {
            throw new IllegalArgumentException("base must be positive, was " + base);
        }
        if (maxDelay.compareTo(base) < 0) {
            throw new IllegalArgumentException("maxDelay (" + maxDelay + ") must be at least base (" + base + ")");
        }
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts must be at least 1, was " + maxAttempts);
        }
        if (resetAfter.isNegative()) {
            throw new IllegalArgumentException("resetAfter must not be negative, was " + resetAfter);
        }
    }

    public ReconnectPolicy withBase(Duration base) {
        return new ReconnectPolicy(base, maxDelay, maxAttempts, resetAfter);
    }

    public ReconnectPolicy withMaxDelay(Duration maxDelay) {
        return new ReconnectPolicy(base, maxDelay, maxAttempts, resetAfter);
    }

    public ReconnectPolicy withMaxAttempts(int maxAttempts) {
        return new ReconnectPolicy(base, maxDelay, maxAttempts, resetAfter);
    }

    public ReconnectPolicy withResetAfter(Duration resetAfter) {
        return new ReconnectPolicy(base, maxDelay, maxAttempts, resetAfter);
    }

    /** The longest delay attempt {@code attempt} (1-based) may wait: {@code min(maxDelay, base * 2^(attempt-1))}. */
    public Duration delayBound(int attempt) {
        if (attempt < 1) {
            throw new IllegalArgumentException("attempts count from 1, was " + attempt);
        }
        int shift = Math.min(attempt - 1, 62);
        long baseMs = base.toMillis();
        long bound = baseMs > (Long.MAX_VALUE >> shift) ? Long.MAX_VALUE : baseMs << shift;
        return Duration.ofMillis(Math.min(maxDelay.toMillis(), bound));
    }

    /** A delay for attempt {@code attempt} (1-based), uniform in {@code [0, delayBound(attempt)]}. */
    public Duration delay(int attempt, RandomGenerator random) {
        return Duration.ofMillis(random.nextLong(delayBound(attempt).toMillis() + 1));
    }
}
