package io.switchboard.loadtest.result;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

/** Statistics of every result: percentiles, rates, CPU per delivery and cores, rounding, the JSON. */
class ResultsUnitTests {

    @Test
    void percentilesAreMillisecondsOfMicroseconds() {
        Histogram h = new Histogram(3_600_000_000L, 3);
        for (long us = 1; us <= 1000; us++) {
            h.recordValue(us * 1000); // 1 ms to 1000 ms
        }
        Map<String, Object> p = Results.percentiles(h);
        assertThat(p).containsOnlyKeys("samples", "p50", "p99", "p999", "max", "mean");
        assertThat(p.get("samples")).isEqualTo(1000L);
        assertThat((double) p.get("p50")).isCloseTo(500, offset(0.5));
        assertThat((double) p.get("p99")).isCloseTo(990, offset(1.0));
        assertThat((double) p.get("p999")).isCloseTo(999, offset(1.0));
        assertThat((double) p.get("max")).isCloseTo(1000, offset(1.0));
        assertThat((double) p.get("mean")).isCloseTo(500.5, offset(0.5));
    }

    @Test
    void percentilesOfNothingAreZero() {
        Map<String, Object> p = Results.percentiles(new Histogram(3));
        assertThat(p)
                .containsEntry("samples", 0L)
                .containsEntry("p50", 0.0)
                .containsEntry("max", 0.0)
                .containsEntry("mean", 0.0);
    }

    @Test
    void roundingIsHalfUpAndNeverNaN() {
        assertThat(Results.round(2.345, 2)).isEqualTo(2.35);
        assertThat(Results.round(-2.345, 2)).isEqualTo(-2.35);
        assertThat(Results.round(1234.5, 0)).isEqualTo(1235.0);
        assertThat(Results.round(Double.NaN, 3)).isZero();
        assertThat(Results.round(Double.POSITIVE_INFINITY, 3)).isZero();
        assertThat(Results.ms(1234)).isEqualTo(1.234);
    }

    @Test
    void ratesArePerSecondToAWholeNumber() {
        assertThat(Results.perSecond(15_000, 2.5)).isEqualTo(6000.0);
        assertThat(Results.perSecond(10, 3)).isEqualTo(3.0);
        assertThat(Results.perSecond(10, 0)).isZero();
    }

    @Test
    void cpuPerDeliveryCountsOnlyTheNamedProcesses() {
        Map<String, Duration> before = Map.of(
                "client",
                Duration.ofSeconds(1),
                "redis",
                Duration.ofSeconds(1),
                "server bench-1",
                Duration.ofSeconds(2),
                "server bench-2",
                Duration.ofSeconds(3));
        Map<String, Duration> after = Map.of(
                "client",
                Duration.ofSeconds(9),
                "redis",
                Duration.ofSeconds(5),
                "server bench-1",
                Duration.ofSeconds(3),
                "server bench-2",
                Duration.ofMillis(4500));
        // 2.5 s of server CPU over 1,000,000 deliveries
        assertThat(Results.cpuMicrosPer(before, after, "server", 1_000_000)).isEqualTo(2.5);
        assertThat(Results.cpuMicrosPer(before, after, "server", 3)).isEqualTo(833_333.333);
        assertThat(Results.cpuMicrosPer(before, after, "server", 0)).isNull();
    }

    @Test
    void coresPerProcessAndWhatOthersUsed() {
        Map<String, Duration> before = new LinkedHashMap<>();
        before.put("client", Duration.ofSeconds(10));
        before.put("server a", Duration.ofSeconds(20));
        Map<String, Duration> after = new LinkedHashMap<>();
        after.put("client", Duration.ofSeconds(15));
        after.put("server a", Duration.ofSeconds(30));
        after.put("server b", Duration.ofSeconds(2)); // started between the readings
        // 10 s; the machine (4 cores) was busy 3/4 of its ticks: 3 cores, of which 0.5 + 1 + 0.2 were ours
        Map<String, Object> cores = Results.cores(before, after, new long[] {100, 1000}, new long[] {850, 2000}, 10, 4);
        assertThat(cores)
                .containsExactly(
                        Map.entry("client", 0.5),
                        Map.entry("server a", 1.0),
                        Map.entry("server b", 0.2),
                        Map.entry("otherProcesses", 1.3),
                        Map.entry("machineBusy", 3.0));
        assertThat(Results.cores(before, after, null, null, 10, 4)).containsOnlyKeys("client", "server a", "server b");
    }

    @Test
    void jsonIsIndentedAndEscaped() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", "a \"b\"\\\n\t\u0001");
        m.put("n", 1.5);
        m.put("ok", true);
        m.put("none", null);
        m.put("list", List.of(1, "x"));
        m.put("empty", Map.of());
        m.put("inner", Map.of("k", 2L));
        StringBuilder out = new StringBuilder();
        Results.json(m, out, "");
        assertThat(out.toString())
                .isEqualTo(String.join(
                        "\n",
                        Arrays.asList(
                                "{",
                                "  \"name\": \"a \\\"b\\\"\\\\\\n\\t\\u0001\",",
                                "  \"n\": 1.5,",
                                "  \"ok\": true,",
                                "  \"none\": null,",
                                "  \"list\": [1, \"x\"],",
                                "  \"empty\": {},",
                                "  \"inner\": {",
                                "    \"k\": 2",
                                "  }",
                                "}")));
    }
}
