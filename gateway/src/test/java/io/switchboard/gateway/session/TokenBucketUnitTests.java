package io.switchboard.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The per-connection rate limit, docs/protocol.md section 7: {@code rate} frames per second, bursts of {@code burst}. */
class TokenBucketUnitTests {

    /** A clock that moves only when the test says so. */
    private long now = 1_000_000_000L;

    private void advanceMillis(long millis) {
        now += TimeUnit.MILLISECONDS.toNanos(millis);
    }

    private void advanceNanos(long nanos) {
        now += nanos;
    }

    private int takeAll(TokenBucket bucket) {
        int taken = 0;
        while (bucket.tryTake()) {
            taken++;
        }
        return taken;
    }

    @Test
    @DisplayName("docs/protocol.md section 7: a full bucket allows a burst of exactly burst frames, then refuses")
    void burstThenRefusal() {
        TokenBucket bucket = new TokenBucket(100, 200, () -> now);

        for (int i = 0; i < 200; i++) {
            assertThat(bucket.tryTake()).as("frame %d of the burst", i + 1).isTrue();
        }
        assertThat(bucket.tryTake()).isFalse();
        assertThat(bucket.tryTake()).isFalse();
    }

    @Test
    @DisplayName("docs/protocol.md section 7: the bucket refills at rate tokens per second of the injected clock")
    void refillsAtTheRate() {
        TokenBucket bucket = new TokenBucket(100, 200, () -> now);
        takeAll(bucket);

        advanceMillis(10);
        assertThat(bucket.tryTake()).as("10 ms is one token at 100/s").isTrue();
        assertThat(bucket.tryTake()).isFalse();

        advanceMillis(500);
        assertThat(takeAll(bucket)).isEqualTo(50);
    }

    @Test
    @DisplayName("docs/protocol.md section 7: less than one token's time gives no token")
    void lessThanOnePeriodGivesNoToken() {
        TokenBucket bucket = new TokenBucket(100, 200, () -> now);
        takeAll(bucket);

        advanceMillis(9);

        assertThat(bucket.tryTake()).as("9 ms is less than one token at 100/s").isFalse();
    }

    @Test
    @DisplayName("fractions of a token add up over several refills")
    void fractionsAccumulate() {
        TokenBucket bucket = new TokenBucket(100, 200, () -> now);
        takeAll(bucket);

        advanceMillis(4);
        assertThat(bucket.tryTake()).isFalse();
        advanceMillis(4);
        assertThat(bucket.tryTake()).isFalse();
        advanceMillis(3);
        assertThat(bucket.tryTake())
                .as("4 + 4 + 3 ms is more than one token at 100/s")
                .isTrue();
        assertThat(bucket.tryTake()).isFalse();
    }

    @Test
    @DisplayName("a refused take costs nothing")
    void refusalDoesNotConsume() {
        TokenBucket bucket = new TokenBucket(100, 1, () -> now);
        assertThat(bucket.tryTake()).isTrue();

        for (int i = 0; i < 1000; i++) {
            assertThat(bucket.tryTake()).isFalse();
        }
        advanceMillis(10);
        assertThat(bucket.tryTake()).isTrue();
    }

    @Test
    @DisplayName("docs/protocol.md section 7: an idle bucket never holds more than burst tokens")
    void refillIsCappedAtCapacity() {
        TokenBucket bucket = new TokenBucket(100, 200, () -> now);
        takeAll(bucket);

        advanceMillis(TimeUnit.HOURS.toMillis(1));

        assertThat(takeAll(bucket)).isEqualTo(200);
    }

    @Test
    @DisplayName("time before the bucket was made does not count: a new bucket starts full, not fuller")
    void newBucketStartsAtCapacity() {
        now = Long.MAX_VALUE / 2;
        TokenBucket bucket = new TokenBucket(1000, 3, () -> now);

        assertThat(takeAll(bucket)).isEqualTo(3);
    }

    @Test
    @DisplayName("docs/protocol.md section 7: millisUntilToken is the retryAfter for an empty bucket")
    void millisUntilTokenOfAnEmptyBucket() {
        TokenBucket bucket = new TokenBucket(100, 200, () -> now);
        takeAll(bucket);

        assertThat(bucket.millisUntilToken()).isEqualTo(10);
        advanceMillis(4);
        long wait = bucket.millisUntilToken();
        assertThat(wait).as("part of a token is already there").isLessThan(10);
        advanceMillis(wait);
        assertThat(bucket.tryTake()).isTrue();
    }

    @Test
    @DisplayName("millisUntilToken rounds a part of a millisecond up")
    void millisUntilTokenRoundsPartsOfAMillisecondUp() {
        TokenBucket bucket = new TokenBucket(100, 1, () -> now);
        assertThat(bucket.tryTake()).isTrue();

        advanceNanos(9_500_000);

        assertThat(bucket.millisUntilToken()).as("0.5 ms left").isEqualTo(1);
    }

    @Test
    @DisplayName("millisUntilToken rounds up, so waiting that long always yields a token")
    void millisUntilTokenRoundsUp() {
        TokenBucket bucket = new TokenBucket(3, 1, () -> now);
        assertThat(bucket.tryTake()).isTrue();

        long wait = bucket.millisUntilToken();

        assertThat(wait).isEqualTo(334);
        advanceMillis(wait - 1);
        assertThat(bucket.tryTake()).isFalse();
        advanceMillis(1);
        assertThat(bucket.tryTake()).isTrue();
    }

    @Test
    @DisplayName("waiting millisUntilToken is enough at every rate from 1 to 10000 per second")
    void waitingMillisUntilTokenIsEnoughAtEveryRate() {
        for (int rate = 1; rate <= 10_000; rate++) {
            TokenBucket bucket = new TokenBucket(rate, 1, () -> now);
            assertThat(bucket.tryTake()).isTrue();
            for (int round = 0; round < 3; round++) {
                advanceMillis(bucket.millisUntilToken());
                assertThat(bucket.tryTake())
                        .as("rate %d, round %d", rate, round)
                        .isTrue();
            }
        }
    }

    @Test
    @DisplayName("millisUntilToken is at least 1, also while a token is available")
    void millisUntilTokenIsAtLeastOne() {
        TokenBucket bucket = new TokenBucket(100, 200, () -> now);

        assertThat(bucket.millisUntilToken()).isEqualTo(1);
        assertThat(takeAll(bucket)).as("asking does not take a token").isEqualTo(200);
    }
}
