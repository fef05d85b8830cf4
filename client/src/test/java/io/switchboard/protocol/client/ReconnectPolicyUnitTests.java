package io.switchboard.protocol.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The full-jitter backoff of docs/protocol.md section 8. */
class ReconnectPolicyUnitTests {
    private static final ReconnectPolicy DEFAULT = ReconnectPolicy.DEFAULT;

    @Test
    @DisplayName("section 8: the defaults are base 500 ms, maxDelay 20 s, 10 attempts, reset after 30 s")
    void defaults() {
        assertThat(DEFAULT)
                .isEqualTo(new ReconnectPolicy(
                        Duration.ofMillis(500), Duration.ofSeconds(20), 10, Duration.ofSeconds(30)));
    }

    @Test
    @DisplayName("section 8: attempt k may wait up to min(maxDelay, base * 2^(k-1))")
    void bounds() {
        assertThat(DEFAULT.delayBound(1)).isEqualTo(Duration.ofMillis(500));
        assertThat(DEFAULT.delayBound(2)).isEqualTo(Duration.ofMillis(1000));
        assertThat(DEFAULT.delayBound(6)).isEqualTo(Duration.ofMillis(16_000));
        assertThat(DEFAULT.delayBound(7)).isEqualTo(Duration.ofSeconds(20));
        assertThat(DEFAULT.delayBound(10)).isEqualTo(Duration.ofSeconds(20));
        assertThat(DEFAULT.delayBound(Integer.MAX_VALUE)).as("no overflow").isEqualTo(Duration.ofSeconds(20));
    }

    @Test
    @DisplayName("section 8: delays are uniform over [0, bound]: each tenth of the range gets its share")
    void delaysAreUniform() {
        RandomGenerator random = new SplittableRandom(42);
        int samples = 100_000;
        int[] tenths = new int[10];
        long max = 0;
        for (int i = 0; i < samples; i++) {
            long ms = DEFAULT.delay(3, random).toMillis();
            max = Math.max(max, ms);
            tenths[(int) Math.min(9, ms * 10 / 2001)]++;
        }
        assertThat(max).isLessThanOrEqualTo(2000);
        for (int count : tenths) {
            assertThat(count).isBetween(samples / 10 * 9 / 10, samples / 10 * 11 / 10);
        }
    }

    @Test
    @DisplayName("section 8: a policy that cannot work is refused with the setting named")
    void validation() {
        assertThatThrownBy(() -> DEFAULT.withBase(Duration.ZERO)).hasMessageContaining("base must be positive");
        assertThatThrownBy(() -> DEFAULT.withMaxDelay(Duration.ofMillis(10))).hasMessageContaining("maxDelay");
        assertThatThrownBy(() -> DEFAULT.withMaxAttempts(0)).hasMessageContaining("maxAttempts");
        assertThatThrownBy(() -> DEFAULT.withResetAfter(Duration.ofSeconds(-1))).hasMessageContaining("resetAfter");
        assertThatThrownBy(() -> DEFAULT.delayBound(0)).hasMessageContaining("attempts count from 1");
    }
}
