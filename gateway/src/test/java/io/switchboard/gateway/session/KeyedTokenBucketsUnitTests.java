package io.switchboard.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** Connect rates per address and per user: a bucket per key, and a table that never outgrows its bound. */
class KeyedTokenBucketsUnitTests {
    private long now = 1_000_000_000L;

    @Test
    @DisplayName("each key has its own burst, then waits for the rate; the wait is the time to the next token")
    void eachKeyHasItsOwnBucket() {
        KeyedTokenBuckets buckets = new KeyedTokenBuckets(2, 3, 1_000, () -> now);

        for (int i = 0; i < 3; i++) {
            assertThat(buckets.tryTake("a"))
                    .as("connect %d of a's burst", i + 1)
                    .isZero();
        }
        assertThat(buckets.tryTake("a")).isEqualTo(500);
        assertThat(buckets.tryTake("b")).as("another key is not touched").isZero();
        now += TimeUnit.MILLISECONDS.toNanos(500);
        assertThat(buckets.tryTake("a")).isZero();
        assertThat(buckets.tryTake("a")).isEqualTo(500);
    }

    @Test
    @DisplayName("a million keys keep at most maxKeys entries; the least recently used is forgotten first")
    void tableIsBounded() {
        KeyedTokenBuckets buckets = new KeyedTokenBuckets(1, 1, 1_000, () -> now);
        assertThat(buckets.tryTake("kept")).isZero();

        for (int i = 0; i < 1_000_000; i++) {
            buckets.tryTake("k" + i);
            if (i % 100 == 0) {
                assertThat(buckets.tryTake("kept")).as("kept is still limited").isPositive();
            }
        }

        assertThat(buckets.size()).isEqualTo(1_000);
        assertThat(buckets.tryTake("k0")).as("forgotten: a full bucket again").isZero();
    }
}
