package io.switchboard.loadtest.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What fails a run (loss, drops, errors, non-resumes; never a speed), the headline figures and result.md. */
class VerdictUnitTests {

    private static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    private static Map<String, Object> step(long offered, double delivered, double share, long lost, double p99) {
        return map(
                "offeredDeliveriesPerSecond",
                offered,
                "deliveriesPerSecond",
                delivered,
                "achievedShare",
                share,
                "lost",
                lost,
                "latencyMs",
                map("p50", 1.0, "p99", p99, "p999", 9.0),
                "serverCpuMicrosPerDelivery",
                2.5,
                "cpuCoresUsed",
                map("client", 0.5));
    }

    @Test
    void slowButCompleteRunsPass() {
        Map<String, Object> scenarios = map(
                "connect", map("switchboard", map("connectionsPerSecond", 3.0, "deadProcess", null)),
                "fanout",
                        map(
                                "switchboard-1",
                                map(
                                        "steps",
                                        List.of(step(1000, 10, 0.01, 0, 900)),
                                        "lost",
                                        0L,
                                        "duplicatesOrOutOfOrder",
                                        0L,
                                        "requestErrors",
                                        0,
                                        "closedDuringRun",
                                        0)),
                "storm", map("lost", 0L, "notResumed", 0, "gaveUp", 0, "allResumedAfterMs", 600_000));
        assertThat(Verdict.problems(scenarios, true)).isEmpty();
        assertThat(Verdict.problems(scenarios, false)).isEmpty();
    }

    @Test
    void lossFailsAQuickRunButNotTheTopStepsOfAFullFanOut() {
        Map<String, Object> fanout = map(
                "fanout",
                map("switchboard-2", map("lost", 12L, "closedDuringRun", 3, "firstClose", "4004 slow consumer")));
        assertThat(Verdict.problems(fanout, true))
                .containsExactly(
                        "fanout switchboard-2: 12 messages lost",
                        "fanout switchboard-2: 3 connections closed during the run (first: 4004 slow consumer)");
        assertThat(Verdict.problems(fanout, false)).isEmpty();
    }

    @Test
    void lossOutsideFanOutAlwaysFails() {
        assertThat(Verdict.problems(map("storm", map("lost", 1L)), false)).containsExactly("storm: 1 messages lost");
    }

    @Test
    void dropsErrorsAndDuplicatesFailEveryRun() {
        Map<String, Object> scenarios = map(
                "idle",
                        map(
                                "socket.io",
                                map("closedDuringHold", 2, "firstClose", "reset", "fewestHeartbeatsAnswered", 0)),
                "fanout",
                        map(
                                "switchboard-1",
                                map(
                                        "duplicatesOrOutOfOrder",
                                        1L,
                                        "requestErrors",
                                        4,
                                        "firstRequestError",
                                        "rate_limited")),
                "storm",
                        map(
                                "duplicates",
                                5L,
                                "gaveUp",
                                1,
                                "channelsNotRecovered",
                                2,
                                "deadProcess",
                                "bench-2 exited with code 137"),
                "match", map("errors", 3L, "errorsByKind", map("timeout", 3L)),
                "gatling", map("simulationsFailed", 1, "failedSimulations", List.of("FanOutSimulation")));
        assertThat(Verdict.problems(scenarios, false))
                .containsExactly(
                        "idle socket.io: 2 connections closed while held (first: reset)",
                        "idle socket.io: a held connection answered no heartbeat",
                        "fanout switchboard-1: 1 deliveries duplicated or out of order",
                        "fanout switchboard-1: 4 requests answered with an error (first: rate_limited)",
                        "storm: bench-2 exited with code 137",
                        "storm: 5 deliveries duplicated",
                        "storm: 1 clients gave up reconnecting",
                        "storm: 2 channels not recovered",
                        "match: 3 errors {timeout=3}",
                        "gatling: 1 Gatling simulation(s) failed: [FanOutSimulation]");
    }

    private static Map<String, Object> hookVariant(Object... kv) {
        Map<String, Object> v = map(
                "steps",
                List.of(step(8000, 8000, 1.0, 0, 3.0)),
                "lost",
                0L,
                "duplicatesOrOutOfOrder",
                0L,
                "publishesUnavailable",
                12L,
                "publishesUnanswered",
                0L,
                "requestErrors",
                0,
                "closedDuringRun",
                0);
        v.putAll(map(kv));
        return v;
    }

    @Test
    void hooksFailOnLossAndOnPublishesTheBackendWasNotAskedAboutButNotOnUnavailable() {
        Map<String, Object> fine = map(
                "hooks",
                map(
                        "publishHook",
                        map(
                                "variants",
                                map(
                                        "noHook",
                                        hookVariant(),
                                        "publishHook",
                                        hookVariant("publishesWithoutHookCall", 0L, "hookCallsUnexplained", 0L))),
                        "events",
                        "not measured yet"));
        assertThat(Verdict.problems(fine, true)).isEmpty();
        assertThat(Verdict.problems(fine, false)).isEmpty();
        Map<String, Object> wrong = map(
                "hooks",
                map(
                        "publishHook",
                        map(
                                "variants",
                                map(
                                        "noHook",
                                        hookVariant("lost", 4L),
                                        "publishHook",
                                        hookVariant(
                                                "publishesWithoutHookCall",
                                                2L,
                                                "hookCallsUnexplained",
                                                1L,
                                                "firstHookMismatch",
                                                "public:fan-3: 5 acked",
                                                "publishesUnanswered",
                                                3L)))));
        // a full run of hooks is not an overload: its loss fails it too
        assertThat(Verdict.problems(wrong, false))
                .containsExactly(
                        "hooks noHook: 4 messages lost",
                        "hooks publishHook: 3 publishes never answered",
                        "hooks publishHook: 2 acknowledged publishes the backend was never asked about (first:"
                                + " public:fan-3: 5 acked)",
                        "hooks publishHook: 1 hook calls beyond the publishes answered (first: public:fan-3: 5 acked)");
        assertThat(Verdict.problems(map("hooks", map("failed", "the hook backend did not listen")), true))
                .isEmpty(); // reported by the runner
    }

    @Test
    void hookEventsFailOnMissingEventsBadSignaturesAndWrongReasonsButNotOnCopies() {
        Map<String, Object> fine = map(
                "hooks",
                map(
                        "publishHook",
                        map("variants", map("noHook", hookVariant())),
                        "events",
                        map(
                                "embedded",
                                map("eventsMissing", 0L, "badSignatures", 0L, "duplicateEvents", 4L),
                                "cluster",
                                map(
                                        "eventsMissing",
                                        0L,
                                        "badSignatures",
                                        0L,
                                        "duplicateEvents",
                                        7L,
                                        "eventsPerSecond",
                                        900.0,
                                        "deliveryLatencyMs",
                                        map("p50", 3L, "p99", 40L)))));
        assertThat(Verdict.problems(fine, true)).isEmpty();
        assertThat(Verdict.problems(fine, false)).isEmpty();
        assertThat(Verdict.summary(fine))
                .containsEntry(
                        "webhook events cluster",
                        "900.0 events/s acknowledged, delivery p50/p99 3/40 ms, 7 duplicates");
        Map<String, Object> wrong = map(
                "hooks",
                map(
                        "publishHook",
                        map("variants", map("noHook", hookVariant())),
                        "events",
                        map(
                                "embedded",
                                map("eventsMissing", 0L, "badSignatures", 2L),
                                "cluster",
                                map("eventsMissing", 3L, "disconnectsNotClosed", 1L, "noEventChecked", 1))));
        assertThat(Verdict.problems(wrong, false))
                .containsExactly(
                        "hooks events embedded: 2 webhook batches whose signature did not verify",
                        "hooks events cluster: 3 webhook events the backend never got",
                        "hooks events cluster: 1 user.disconnected events not 'closed' after normal closes",
                        "hooks events cluster: no connection was welcomed: no event was checked");
    }

    @Test
    void hookCostInTheSummaryAndATableInTheMarkdown() {
        List<Object> comparison = List.of(
                map(
                        "offeredPublishesPerSecond",
                        2000L,
                        "offeredDeliveriesPerSecond",
                        8000L,
                        "noHook",
                        map(
                                "deliveriesPerSecond",
                                8000.0,
                                "p50Ms",
                                1.0,
                                "p99Ms",
                                2.0,
                                "serverCpuMicrosPerPublish",
                                40.0,
                                "hookCallsPerSecond",
                                0.0,
                                "publishesUnavailable",
                                0L,
                                "lost",
                                0L),
                        "publishHook",
                        map(
                                "deliveriesPerSecond",
                                7990.0,
                                "p50Ms",
                                1.5,
                                "p99Ms",
                                3.0,
                                "serverCpuMicrosPerPublish",
                                70.0,
                                "hookCallsPerSecond",
                                2000.0,
                                "backendCores",
                                0.3,
                                "publishesUnavailable",
                                0L,
                                "lost",
                                0L)),
                map("offeredPublishesPerSecond", 5000L, "noHook", map("p99Ms", 4.0)));
        Map<String, Object> scenarios = map("hooks", map("publishHook", map("comparison", comparison)));
        assertThat(Verdict.summary(scenarios))
                .containsEntry(
                        "publish hook",
                        "2000 publishes/s: server µs/publish 40.0 → 70.0, p99 ms 2.0 → 3.0, backend 0.3 cores");
        assertThat(Verdict.summary(map("hooks", map("failed", "x")))).doesNotContainKey("publish hook");
        Map<String, Object> result = map(
                "startedAt",
                "2025-01-02T03:04:05Z",
                "quick",
                false,
                "machine",
                map("cores", 2, "jvm", "OpenJDK 17"),
                "openFileLimit",
                4096,
                "scenarios",
                scenarios,
                "failures",
                List.of(),
                "summary",
                map());
        assertThat(Verdict.markdown(result))
                .contains("| publish hook | offered publishes/s | delivered/s | p50 ms | p99 ms |")
                .contains("| noHook | 2000 | 8000.0 | 1.0 | 2.0 |  | 40.0 | 0.0 |  | 0 | 0 |\n")
                .contains("| publishHook | 2000 | 7990.0 | 1.5 | 3.0 |  | 70.0 | 2000.0 | 0.3 | 0 | 0 |\n")
                .contains("| noHook | 5000 |  |  | 4.0 |");
    }

    @Test
    void notResumedFailsAQuickStormButIsReportedOnlyForAFullOne() {
        Map<String, Object> storm = map("storm", map("notResumed", 7));
        assertThat(Verdict.problems(storm, true)).containsExactly("storm: 7 clients not resumed");
        assertThat(Verdict.problems(storm, false)).isEmpty();
    }

    @Test
    void wrongPresenceCountsAndEventsFailEveryRun() {
        Map<String, Object> presence = map(
                "presence",
                map(
                        "wrongFinalCounts",
                        1L,
                        "eventsOverBound",
                        12L,
                        "eventsMissed",
                        3L,
                        "notResumed",
                        0,
                        "gaveUp",
                        0,
                        "requestErrors",
                        0,
                        "closedDuringRun",
                        0L,
                        "deadProcess",
                        null));
        List<String> expected = List.of(
                "presence: 1 presence counts or lists still wrong 2 s after the users stopped changing them",
                "presence: 12 join/leave frames beyond what the events cap allows",
                "presence: 3 joins or leaves that never reached a joinLeave subscriber");
        assertThat(Verdict.problems(presence, true)).containsExactlyElementsOf(expected);
        assertThat(Verdict.problems(presence, false)).containsExactlyElementsOf(expected);
        assertThat(Verdict.problems(
                        map("presence", map("wrongFinalCounts", 0L, "eventsOverBound", 0L, "eventsMissed", 0L)), true))
                .isEmpty();
    }

    @Test
    void presenceSummaryHasRateLatencyAccuracyAndTheStorm() {
        Map<String, Object> presence = map(
                "churn",
                map(
                        "changesPerSecond",
                        1800.0,
                        "joinSeenOnOtherGateway",
                        map("afterAckMs", map("p50", 1.5, "p99", 40.0)),
                        "countsDuringChurn",
                        map("instance1", map("exactShare", 1.0), "instance2", map("exactShare", 0.99))),
                "storm",
                map(
                        "users",
                        10_000,
                        "eventsMax",
                        2000,
                        "fill",
                        map("framesToUsers", 2_100_000L, "framesWithoutCap", 50_025_000L),
                        "drop",
                        map("observerEvents", List.of(0L, 0L), "allBackAfterMs", 9000L)));
        Map<String, Object> s = Verdict.summary(map("presence", presence));
        assertThat(s)
                .containsEntry("presence changes/s", 1800.0)
                .containsEntry("presence join on other gateway p50/p99 ms", "1.5 / 40.0")
                .containsEntry("presence counts exact within 2 s", "1.0 / 0.99")
                .containsEntry(
                        "presence storm",
                        "10000 users, cap 2000: fill 2100000 frames to users (50025000 uncapped), drop [0, 0] events"
                                + " to observers, back in 9000 ms");
        assertThat(Verdict.summary(map("presence", map("failed", "gateway did not start"))))
                .isEmpty();
    }

    @Test
    void aFailedScenarioIsNotReportedTwice() {
        assertThat(Verdict.problems(map("storm", map("failed", "gateway did not start", "lost", 3L)), true))
                .isEmpty();
    }

    @Test
    void theSustainedStepIsTheFastestWithoutLossAboveTheShare() {
        Map<String, Object> fanout = map(
                "steps",
                List.of(
                        step(100, 100, 1.0, 0, 1),
                        step(200, 199, 0.995, 0, 2),
                        step(400, 380, 0.95, 0, 3),
                        step(800, 700, 0.875, 0, 4),
                        step(1600, 1590, 0.99, 10, 5)));
        assertThat(Verdict.sustained(fanout)).containsEntry("offeredDeliveriesPerSecond", 400L);
        assertThat(Verdict.sustained(map("steps", List.of(step(100, 50, 0.5, 0, 1)))))
                .isNull();
        assertThat(Verdict.sustained(map())).isNull();
    }

    @Test
    void summaryHasTheHeadlineFiguresAndRatios() {
        Map<String, Object> scenarios = map(
                "idle",
                        map(
                                "switchboard",
                                map("held", 1000, "memoryBytesPerConnection", 5000.0),
                                "socket.io",
                                map("failed", "npm")),
                "connect",
                        map(
                                "switchboard",
                                map("connectionsPerSecond", 3000.0, "fresh", map("connectionsPerSecond", 2000.0)),
                                "socket.io",
                                map("connectionsPerSecond", 1200.0, "fresh", map("connectionsPerSecond", 1000.0))),
                "fanout",
                        map(
                                "switchboard-1",
                                map("steps", List.of(step(4000, 3990, 0.998, 0, 7.5))),
                                "socket.io-1",
                                map("steps", List.of(step(4000, 2000, 0.5, 0, 80)))),
                "match", map("matchesPerSecond", 42.5, "timeToMatchMs", map("p50", 1.5, "p99", 9.0)),
                "storm", map("resumed", 200, "clients", 200, "allResumedAfterMs", 1500, "lost", 0L),
                "gatling", map("simulations", 4, "simulationsPassed", 4));
        Map<String, Object> s = Verdict.summary(scenarios);
        assertThat(s)
                .containsEntry("idle switchboard", "1000 held, 5000.0 B/connection")
                .containsEntry("idle socket.io", "failed")
                .containsEntry("connect switchboard", 3000.0)
                .containsEntry("connect ratio", 2.5)
                .containsEntry("connect fresh switchboard", 2000.0)
                .containsEntry("connect fresh ratio", 2.0)
                .containsEntry("fanout switchboard-1", 3990.0)
                .containsEntry("fanout switchboard-1 p99 ms", 7.5)
                .containsEntry("fanout switchboard-1 server µs/delivery", 2.5)
                .containsEntry("fanout socket.io-1", "none sustained")
                .containsEntry("matches/s", 42.5)
                .containsEntry("time to match p50/p99 ms", "1.5 / 9.0")
                .containsEntry("storm", "200 of 200 resumed in 1500 ms, lost 0")
                .containsEntry("gatling", "4 of 4 simulations passed")
                .doesNotContainKey("fanout ratio 1 instance");
    }

    @Test
    void markdownOfAPassingQuickRun() {
        Map<String, Object> scenarios =
                map("fanout", map("switchboard-1", map("steps", List.of(step(4000, 3990, 0.998, 0, 7.5)))));
        Map<String, Object> result = map(
                "startedAt",
                "2025-01-02T03:04:05Z",
                "quick",
                true,
                "machine",
                map("cores", 2, "cpu", "Some CPU", "jvm", "OpenJDK 17"),
                "openFileLimit",
                4096,
                "scenarios",
                scenarios,
                "failures",
                List.of(),
                "summary",
                map("matches/s", 42.5, "storm", "ok"));
        assertThat(Verdict.markdown(result)).isEqualTo("""
                Run 2025-01-02T03:04:05Z (--quick: a check that every scenario works; not figures), 2 cores Some CPU, \
                OpenJDK 17, open-file limit 4096

                | matches/s | storm |
                |---|---|
                | 42.5 | ok |

                | fan-out | offered/s | delivered/s | p50 ms | p99 ms | p99.9 ms | lost | server µs/delivery | cores used |
                |---|---|---|---|---|---|---|---|---|
                | switchboard-1 | 4000 | 3990.0 | 1.0 | 7.5 | 9.0 | 0 | 2.5 | {client=0.5} |

                Nothing lost, nothing failed.
                """);
    }

    @Test
    void markdownOfAFailedFullRun() {
        Map<String, Object> result = map(
                "startedAt",
                "2025-01-02T03:04:05Z",
                "quick",
                false,
                "machine",
                map("cores", 8, "jvm", "OpenJDK 17"),
                "openFileLimit",
                1048576,
                "scenarios",
                map(),
                "failures",
                List.of("storm: 1 messages lost"),
                "summary",
                map());
        assertThat(Verdict.markdown(result)).isEqualTo("""
                Run 2025-01-02T03:04:05Z, 8 cores , OpenJDK 17, open-file limit 1048576

                FAILED: [storm: 1 messages lost]
                """);
    }
}
