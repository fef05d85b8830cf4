package io.switchboard.loadtest.scenario;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The hooks scenario's own logic: whether the backend was asked for every acknowledged publish, the variants side by
 * side, and fan-out's ids that tell a measured publish from a warm-up one.
 */
class HooksUnitTests {

    private static FanOut.Pub pub(int channel, long acked, long unavailable, long failed) {
        FanOut.Pub p = new FanOut.Pub(channel);
        p.acked.add(acked);
        p.unavailable.add(unavailable);
        p.failed.add(failed);
        return p;
    }

    private static Map<String, Object> check(List<FanOut.Pub> pubs, Map<String, Long> calls) {
        return Hooks.hookCheck(pubs, calls, i -> "c" + i);
    }

    @Test
    void everyAckedPublishCalledOnceIsRight() {
        Map<String, Object> r = check(List.of(pub(0, 10, 0, 0), pub(1, 7, 0, 0)), Map.of("c0", 10L, "c1", 7L));
        assertThat(r)
                .containsEntry("hookCalls", 17L)
                .containsEntry("publishesAckedTotal", 17L)
                .containsEntry("publishesWithoutHookCall", 0L)
                .containsEntry("hookCallsUnexplained", 0L)
                .containsEntry("firstHookMismatch", null);
    }

    @Test
    void anAckedPublishWithoutACallIsCountedPerChannel() {
        // c0 has a call too many and c1 one too few: the totals match, the channels do not
        Map<String, Object> r = check(List.of(pub(0, 10, 0, 0), pub(1, 7, 0, 0)), Map.of("c0", 11L, "c1", 6L));
        assertThat(r).containsEntry("publishesWithoutHookCall", 1L).containsEntry("hookCallsUnexplained", 1L);
        assertThat((String) r.get("firstHookMismatch"))
                .isEqualTo("c0: 10 acked, 0 unavailable, 0 failed, 11 hook calls");
    }

    @Test
    void aChannelNeverCalledMissesAllItsAcks() {
        Map<String, Object> r = check(List.of(pub(0, 5, 0, 0), pub(1, 3, 0, 0)), Map.of("c0", 5L));
        assertThat(r).containsEntry("publishesWithoutHookCall", 3L).containsEntry("hookCalls", 5L);
        assertThat((String) r.get("firstHookMismatch")).startsWith("c1: 3 acked");
    }

    @Test
    void unavailableAnswersMayOrMayNotHaveBeenCalled() {
        // a timeout was called, a publish held off by the breaker or the in-flight bound was not: both are right
        assertThat(check(List.of(pub(0, 10, 4, 0)), Map.of("c0", 14L)))
                .containsEntry("publishesWithoutHookCall", 0L)
                .containsEntry("hookCallsUnexplained", 0L);
        assertThat(check(List.of(pub(0, 10, 4, 0)), Map.of("c0", 10L)))
                .containsEntry("publishesWithoutHookCall", 0L)
                .containsEntry("hookCallsUnexplained", 0L)
                .containsEntry("publishesUnavailableTotal", 4L);
        // but more calls than answers is not
        assertThat(check(List.of(pub(0, 10, 4, 1)), Map.of("c0", 16L))).containsEntry("hookCallsUnexplained", 1L);
    }

    @Test
    void nothingAckedIsNothingChecked() {
        assertThat(check(List.of(pub(0, 0, 9, 0)), Map.of("c0", 3L))).containsEntry("noPublishThroughTheHook", 1);
        assertThat(check(List.of(pub(0, 1, 9, 0)), Map.of("c0", 3L))).containsEntry("noPublishThroughTheHook", 0);
    }

    @Test
    void callsForAChannelNobodyPublishedToAreUnexplained() {
        Map<String, Object> r = check(List.of(pub(0, 2, 0, 0)), Map.of("c0", 2L, "other", 3L));
        assertThat(r).containsEntry("hookCalls", 5L).containsEntry("hookCallsUnexplained", 3L);
        assertThat((String) r.get("firstHookMismatch")).startsWith("other: 3 hook calls");
    }

    private static Map<String, Object> step(long offered, double serverPerPublish, double p99, Double backendCores) {
        Map<String, Object> cores = new LinkedHashMap<>();
        cores.put("server bench-1", 0.5);
        if (backendCores != null) {
            cores.put("backend", backendCores);
        }
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("offeredDeliveriesPerSecond", offered);
        s.put("publishesPerSecond", offered / 4.0);
        s.put("deliveriesPerSecond", (double) offered);
        s.put("latencyMs", Map.of("p50", 1.0, "p99", p99, "p999", 9.0));
        s.put("serverCpuMicrosPerDelivery", serverPerPublish / 4);
        s.put("serverCpuMicrosPerPublish", serverPerPublish);
        if (backendCores != null) {
            s.put("hookCallsPerSecond", offered / 4.0);
        }
        s.put("cpuCoresUsed", cores);
        s.put("publishesUnavailable", 0L);
        s.put("lost", 0L);
        return s;
    }

    @Test
    @SuppressWarnings("unchecked")
    void variantsSideBySideStepByStep() {
        Map<String, Map<String, Object>> variants = new LinkedHashMap<>();
        variants.put(Hooks.NO_HOOK, Map.of("steps", List.of(step(8000, 40, 2.0, null), step(20000, 38, 3.0, null))));
        // the hooked run stopped after its first step (the server could not keep up)
        variants.put(Hooks.HOOK, Map.of("steps", List.of(step(8000, 65.5, 2.5, 0.25))));
        List<Map<String, Object>> rows = Hooks.compare(variants, 4);
        assertThat(rows).hasSize(2);
        Map<String, Object> first = rows.get(0);
        assertThat(first)
                .containsEntry("offeredPublishesPerSecond", 2000L)
                .containsEntry("offeredDeliveriesPerSecond", 8000L);
        Map<String, Object> without = (Map<String, Object>) first.get(Hooks.NO_HOOK);
        Map<String, Object> with = (Map<String, Object>) first.get(Hooks.HOOK);
        assertThat(without).containsEntry("serverCpuMicrosPerPublish", 40.0).containsEntry("hookCallsPerSecond", 0.0);
        assertThat(without).containsEntry("backendCores", null).doesNotContainKey("addedServerCpuMicrosPerPublish");
        assertThat(with)
                .containsEntry("hookCallsPerSecond", 2000.0)
                .containsEntry("backendCores", 0.25)
                .containsEntry("addedServerCpuMicrosPerPublish", 25.5)
                .containsEntry("addedP99Ms", 0.5);
        assertThat(rows.get(1)).containsKey(Hooks.NO_HOOK).doesNotContainKey(Hooks.HOOK);
        assertThat(Hooks.line(first))
                .startsWith("2,000 publishes/s offered: noHook 8000.0 deliveries/s")
                .contains("publishHook 8000.0 deliveries/s, p50/p99 1.0/2.5 ms, server 65.5 µs/publish, 2000.0 hook"
                        + " calls/s, backend 0.25 cores");
    }

    @Test
    void aFailedVariantHasNoSteps() {
        Map<String, Map<String, Object>> variants = new LinkedHashMap<>();
        variants.put(Hooks.NO_HOOK, Map.of("failed", "boom"));
        variants.put(Hooks.HOOK, Map.of("steps", List.of(step(8000, 65.5, 2.5, 0.25))));
        List<Map<String, Object>> rows = Hooks.compare(variants, 4);
        assertThat(rows).hasSize(1);
        assertThat(rows.get(0)).doesNotContainKey(Hooks.NO_HOOK);
    }

    @Test
    void publishIdsTellTheWindowFromTheWarmUp() {
        for (long n : new long[] {0, 1, 1_000_000, Long.MAX_VALUE / 4}) {
            assertThat(FanOut.inWindow(FanOut.publishId(n, true))).isTrue();
            assertThat(FanOut.inWindow(FanOut.publishId(n, false))).isFalse();
            assertThat(FanOut.publishId(n, true)).isNotEqualTo(FanOut.publishId(n + 1, false));
        }
        assertThat(FanOut.publishId(5, false)).isNotEqualTo(FanOut.publishId(6, false));
    }
}
