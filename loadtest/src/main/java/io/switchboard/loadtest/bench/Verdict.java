package io.switchboard.loadtest.bench;

import io.switchboard.loadtest.result.Results;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What a run's result means: what went wrong (never a speed), the headline figures, and the Markdown. */
final class Verdict {
    /** A fan-out step counts as sustained when this share of what it offered arrived within its window. */
    static final double SUSTAINED = 0.95;

    private Verdict() {}

    /**
     * Every loss, dead process, dropped connection or failed request in the scenarios' results. A full run's fan-out
     * steps above what the server sustains may lose messages (its slow consumers are closed with 4004, and this
     * load generator does not resume them): that is the figure, reported, not a failure; a quick run's are small
     * enough that any loss is one.
     */
    static List<String> problems(Map<String, Object> scenarios, boolean quick) {
        List<String> p = new ArrayList<>();
        for (Map.Entry<String, Object> s : scenarios.entrySet()) {
            for (Map.Entry<String, Map<String, Object>> e :
                    parts(s.getKey(), s.getValue()).entrySet()) {
                Map<String, Object> r = e.getValue();
                String name = e.getKey();
                if (r.containsKey("failed")) {
                    continue; // already reported by the runner
                }
                if (r.get("deadProcess") != null) {
                    p.add(name + ": " + r.get("deadProcess"));
                }
                if (quick || !name.startsWith("fanout")) {
                    positive(p, name, r, "lost", "messages lost");
                    positive(
                            p,
                            name,
                            r,
                            "closedDuringRun",
                            "connections closed during the run (first: " + r.get("firstClose") + ")");
                }
                positive(p, name, r, "duplicatesOrOutOfOrder", "deliveries duplicated or out of order");
                positive(p, name, r, "duplicates", "deliveries duplicated");
                positive(
                        p,
                        name,
                        r,
                        "closedDuringHold",
                        "connections closed while held (first: " + r.get("firstClose") + ")");
                positive(
                        p,
                        name,
                        r,
                        "requestErrors",
                        "requests answered with an error (first: " + r.get("firstRequestError") + ")");
                positive(p, name, r, "gaveUp", "clients gave up reconnecting");
                if (!overload(name, quick)) {
                    // A full storm overloads Redis on purpose: a resume it could not check in time becomes a fresh
                    // identity (the gateway's choice while a dependency is slow); reported, not failed.
                    positive(p, name, r, "notResumed", "clients not resumed");
                }
                positive(p, name, r, "channelsNotRecovered", "channels not recovered");
                positive(
                        p,
                        name,
                        r,
                        "wrongFinalCounts",
                        "presence counts or lists still wrong 2 s after the users stopped changing them");
                positive(p, name, r, "eventsOverBound", "join/leave frames beyond what the events cap allows");
                positive(p, name, r, "eventsMissed", "joins or leaves that never reached a joinLeave subscriber");
                positive(p, name, r, "publishesUnanswered", "publishes never answered");
                if (r.get("noPublishThroughTheHook") instanceof Number n && n.intValue() > 0) {
                    p.add(name + ": no publish was acknowledged through the hook: nothing was checked");
                }
                positive(
                        p,
                        name,
                        r,
                        "publishesWithoutHookCall",
                        "acknowledged publishes the backend was never asked about (first: " + r.get("firstHookMismatch")
                                + ")");
                positive(
                        p,
                        name,
                        r,
                        "hookCallsUnexplained",
                        "hook calls beyond the publishes answered (first: " + r.get("firstHookMismatch") + ")");
                positive(p, name, r, "eventsMissing", "webhook events the backend never got");
                positive(p, name, r, "badSignatures", "webhook batches whose signature did not verify");
                positive(
                        p,
                        name,
                        r,
                        "disconnectsNotClosed",
                        "user.disconnected events not 'closed' after normal closes");
                positive(
                        p,
                        name,
                        r,
                        "connectFailures",
                        "connections failed before the welcome (first: " + r.get("firstConnectFailure") + ")");
                positive(
                        p,
                        name,
                        r,
                        "closedByGatewayFirst",
                        "connections the gateway closed first (first: " + r.get("firstClose") + ")");
                if (r.get("noEventChecked") instanceof Number n && n.intValue() > 0) {
                    p.add(name + ": no connection was welcomed: no event was checked");
                }
                if (r.get("fewestHeartbeatsAnswered") instanceof Number n && n.intValue() < 1) {
                    p.add(name + ": a held connection answered no heartbeat");
                }
                if (r.get("errors") instanceof Number n && n.longValue() > 0 && name.equals("match")) {
                    p.add(name + ": " + n + " errors " + r.get("errorsByKind"));
                }
                if (r.get("simulationsFailed") instanceof Number n && n.intValue() > 0) {
                    p.add(name + ": " + n + " Gatling simulation(s) failed: " + r.get("failedSimulations"));
                }
            }
        }
        return p;
    }

    /** Whether a scenario of a full run is meant to overload the servers (fan-out's top steps, the storm). */
    private static boolean overload(String name, boolean quick) {
        return !quick && (name.startsWith("fanout") || name.equals("storm"));
    }

    /** The headline figures: what the targets are measured against. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> summary(Map<String, Object> scenarios) {
        Map<String, Object> s = new LinkedHashMap<>();
        Map<String, Object> idle = (Map<String, Object>) scenarios.getOrDefault("idle", Map.of());
        for (Map.Entry<String, Object> e : idle.entrySet()) {
            Map<String, Object> r = (Map<String, Object>) e.getValue();
            s.put(
                    "idle " + e.getKey(),
                    r.containsKey("held")
                            ? r.get("held") + " held, " + r.get("memoryBytesPerConnection") + " B/connection"
                            : "failed");
        }
        Map<String, Object> connect = (Map<String, Object>) scenarios.getOrDefault("connect", Map.of());
        for (Map.Entry<String, Object> e : connect.entrySet()) {
            Map<String, Object> r = (Map<String, Object>) e.getValue();
            s.put("connect " + e.getKey(), r.getOrDefault("connectionsPerSecond", "failed"));
        }
        ratio(s, "connect switchboard", "connect socket.io", "connect ratio");
        for (Map.Entry<String, Object> e : connect.entrySet()) {
            Map<String, Object> fresh =
                    (Map<String, Object>) ((Map<String, Object>) e.getValue()).getOrDefault("fresh", Map.of());
            s.put("connect fresh " + e.getKey(), fresh.getOrDefault("connectionsPerSecond", "failed"));
        }
        ratio(s, "connect fresh switchboard", "connect fresh socket.io", "connect fresh ratio");
        Map<String, Object> fanout = (Map<String, Object>) scenarios.getOrDefault("fanout", Map.of());
        for (Map.Entry<String, Object> e : fanout.entrySet()) {
            Map<String, Object> best = sustained((Map<String, Object>) e.getValue());
            s.put("fanout " + e.getKey(), best == null ? "none sustained" : best.get("deliveriesPerSecond"));
            s.put(
                    "fanout " + e.getKey() + " p99 ms",
                    best == null ? null : ((Map<String, Object>) best.get("latencyMs")).get("p99"));
            s.put(
                    "fanout " + e.getKey() + " server µs/delivery",
                    best == null ? null : best.get("serverCpuMicrosPerDelivery"));
        }
        ratio(s, "fanout switchboard-1", "fanout socket.io-1", "fanout ratio 1 instance");
        ratio(s, "fanout switchboard-2", "fanout socket.io-2", "fanout ratio 2 instances");
        if (scenarios.get("match") instanceof Map<?, ?> m && m.containsKey("matchesPerSecond")) {
            s.put("matches/s", m.get("matchesPerSecond"));
            Map<String, Object> ttm = (Map<String, Object>) m.get("timeToMatchMs");
            s.put("time to match p50/p99 ms", ttm.get("p50") + " / " + ttm.get("p99"));
        }
        if (scenarios.get("storm") instanceof Map<?, ?> st && st.containsKey("lost")) {
            s.put(
                    "storm",
                    st.get("resumed") + " of " + st.get("clients") + " resumed in " + st.get("allResumedAfterMs")
                            + " ms, lost " + st.get("lost"));
        }
        if (scenarios.get("presence") instanceof Map<?, ?> pr && pr.get("churn") instanceof Map<?, ?> churn) {
            s.put("presence changes/s", churn.get("changesPerSecond"));
            Map<String, Object> join = (Map<String, Object>) churn.get("joinSeenOnOtherGateway");
            Map<String, Object> ack = (Map<String, Object>) join.get("afterAckMs");
            s.put("presence join on other gateway p50/p99 ms", ack.get("p50") + " / " + ack.get("p99"));
            List<String> exact = new ArrayList<>();
            for (Object c : ((Map<String, Object>) churn.get("countsDuringChurn")).values()) {
                exact.add(String.valueOf(((Map<String, Object>) c).get("exactShare")));
            }
            s.put("presence counts exact within 2 s", String.join(" / ", exact));
            if (pr.get("storm") instanceof Map<?, ?> st && st.get("fill") instanceof Map<?, ?> fill) {
                Map<String, Object> drop = (Map<String, Object>) st.get("drop");
                s.put(
                        "presence storm",
                        st.get("users") + " users, cap " + st.get("eventsMax") + ": fill " + fill.get("framesToUsers")
                                + " frames to users (" + fill.get("framesWithoutCap") + " uncapped), drop "
                                + drop.get("observerEvents") + " events to observers, back in "
                                + drop.get("allBackAfterMs") + " ms");
            }
        }
        if (scenarios.get("hooks") instanceof Map<?, ?> h && h.get("publishHook") instanceof Map<?, ?> ph) {
            String cost = hookCost((List<Object>) ph.get("comparison"));
            if (cost != null) {
                s.put("publish hook", cost);
            }
        }
        if (scenarios.get("hooks") instanceof Map<?, ?> h && h.get("events") instanceof Map<?, ?> ev) {
            for (String mode : List.of("embedded", "cluster")) {
                if (ev.get(mode) instanceof Map<?, ?> e && e.get("deliveryLatencyMs") instanceof Map<?, ?> l) {
                    s.put(
                            "webhook events " + mode,
                            e.get("eventsPerSecond") + " events/s acknowledged, delivery p50/p99 " + l.get("p50") + "/"
                                    + l.get("p99") + " ms, " + e.get("duplicateEvents") + " duplicates");
                }
            }
        }
        if (scenarios.get("gatling") instanceof Map<?, ?> g && g.containsKey("simulations")) {
            s.put("gatling", g.get("simulationsPassed") + " of " + g.get("simulations") + " simulations passed");
        }
        return s;
    }

    /**
     * What the publish hook cost at the highest offered rate both with and without it reached: the server's CPU per
     * publish and the p99, without → with; null when there is no such rate.
     */
    @SuppressWarnings("unchecked")
    static String hookCost(List<Object> comparison) {
        String cost = null;
        for (Object o : comparison == null ? List.of() : comparison) {
            Map<String, Object> row = (Map<String, Object>) o;
            if (row.get("noHook") instanceof Map<?, ?> without && row.get("publishHook") instanceof Map<?, ?> with) {
                cost = row.get("offeredPublishesPerSecond") + " publishes/s: server µs/publish "
                        + without.get("serverCpuMicrosPerPublish") + " → " + with.get("serverCpuMicrosPerPublish")
                        + ", p99 ms " + without.get("p99Ms") + " → " + with.get("p99Ms") + ", backend "
                        + with.get("backendCores") + " cores";
            }
        }
        return cost;
    }

    /** The step with the most deliveries per second among those sustained without loss, or null. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> sustained(Map<String, Object> fanout) {
        Map<String, Object> best = null;
        for (Object o : (List<Object>) fanout.getOrDefault("steps", List.of())) {
            Map<String, Object> step = (Map<String, Object>) o;
            if (((Number) step.get("achievedShare")).doubleValue() >= SUSTAINED
                    && ((Number) step.get("lost")).longValue() == 0
                    && (best == null
                            || ((Number) step.get("deliveriesPerSecond")).doubleValue()
                                    > ((Number) best.get("deliveriesPerSecond")).doubleValue())) {
                best = step;
            }
        }
        return best;
    }

    private static void ratio(Map<String, Object> s, String ours, String theirs, String name) {
        if (s.get(ours) instanceof Number a && s.get(theirs) instanceof Number b && b.doubleValue() > 0) {
            s.put(name, Results.round(a.doubleValue() / b.doubleValue(), 2));
        }
    }

    /** A heading, the one-line row of headline figures, then one row per fan-out step. */
    @SuppressWarnings("unchecked")
    static String markdown(Map<String, Object> result) {
        Map<String, Object> summary = (Map<String, Object>) result.get("summary");
        Map<String, Object> machine = (Map<String, Object>) result.get("machine");
        StringBuilder md = new StringBuilder();
        md.append("Run ")
                .append(result.get("startedAt"))
                .append(
                        result.get("quick").equals(Boolean.TRUE)
                                ? " (--quick: a check that every scenario works; not figures)"
                                : "")
                .append(", ")
                .append(machine.get("cores"))
                .append(" cores ")
                .append(machine.getOrDefault("cpu", ""))
                .append(", ")
                .append(machine.get("jvm"))
                .append(", open-file limit ")
                .append(result.get("openFileLimit"))
                .append("\n\n");
        if (!summary.isEmpty()) {
            md.append("| ").append(String.join(" | ", summary.keySet())).append(" |\n");
            md.append("|").append("---|".repeat(summary.size())).append("\n");
            md.append("| ")
                    .append(String.join(
                            " | ",
                            summary.values().stream().map(String::valueOf).toList()))
                    .append(" |\n\n");
        }
        Map<String, Object> scenarios = (Map<String, Object>) result.get("scenarios");
        Map<String, Object> fanout = (Map<String, Object>) scenarios.getOrDefault("fanout", Map.of());
        if (!fanout.isEmpty()) {
            md.append("| fan-out | offered/s | delivered/s | p50 ms | p99 ms | p99.9 ms | lost | server µs/delivery"
                    + " | cores used |\n|---|---|---|---|---|---|---|---|---|\n");
            for (Map.Entry<String, Object> e : fanout.entrySet()) {
                for (Object o : (List<Object>) ((Map<String, Object>) e.getValue()).getOrDefault("steps", List.of())) {
                    Map<String, Object> st = (Map<String, Object>) o;
                    Map<String, Object> l = (Map<String, Object>) st.get("latencyMs");
                    md.append("| ")
                            .append(e.getKey())
                            .append(" | ")
                            .append(st.get("offeredDeliveriesPerSecond"))
                            .append(" | ")
                            .append(st.get("deliveriesPerSecond"))
                            .append(" | ")
                            .append(l.get("p50"))
                            .append(" | ")
                            .append(l.get("p99"))
                            .append(" | ")
                            .append(l.get("p999"))
                            .append(" | ")
                            .append(st.get("lost"))
                            .append(" | ")
                            .append(st.get("serverCpuMicrosPerDelivery"))
                            .append(" | ")
                            .append(st.get("cpuCoresUsed"))
                            .append(" |\n");
                }
            }
            md.append('\n');
        }
        if (scenarios.get("hooks") instanceof Map<?, ?> h
                && h.get("publishHook") instanceof Map<?, ?> ph
                && ph.get("comparison") instanceof List<?> rows
                && !rows.isEmpty()) {
            md.append("| publish hook | offered publishes/s | delivered/s | p50 ms | p99 ms | server µs/delivery"
                    + " | server µs/publish | hook calls/s | backend cores | unavailable | lost |\n"
                    + "|---|---|---|---|---|---|---|---|---|---|---|\n");
            for (Object o : rows) {
                Map<String, Object> row = (Map<String, Object>) o;
                for (Map.Entry<String, Object> e : row.entrySet()) {
                    if (e.getValue() instanceof Map<?, ?> c) {
                        md.append("| ").append(e.getKey());
                        md.append(" | ").append(row.get("offeredPublishesPerSecond"));
                        for (String k : List.of(
                                "deliveriesPerSecond",
                                "p50Ms",
                                "p99Ms",
                                "serverCpuMicrosPerDelivery",
                                "serverCpuMicrosPerPublish",
                                "hookCallsPerSecond",
                                "backendCores",
                                "publishesUnavailable",
                                "lost")) {
                            md.append(" | ").append(c.get(k) == null ? "" : c.get(k));
                        }
                        md.append(" |\n");
                    }
                }
            }
            md.append('\n');
        }
        List<String> failures = (List<String>) result.get("failures");
        md.append(failures.isEmpty() ? "Nothing lost, nothing failed.\n" : "FAILED: " + failures + "\n");
        return md.toString();
    }

    /** A scenario's result, split by target where it has one per target. */
    @SuppressWarnings("unchecked")
    private static Map<String, Map<String, Object>> parts(String scenario, Object value) {
        Map<String, Map<String, Object>> parts = new LinkedHashMap<>();
        Map<String, Object> m = (Map<String, Object>) value;
        if (scenario.equals("idle") || scenario.equals("connect") || scenario.equals("fanout")) {
            m.forEach((k, v) -> parts.put(scenario + " " + k, (Map<String, Object>) v));
        } else if (scenario.equals("hooks") && m.get("publishHook") instanceof Map<?, ?> ph) {
            // one part per variant of the publish hook's fan-out, and one per mode of the events
            Map<String, Object> variants = (Map<String, Object>) ph.get("variants");
            (variants == null ? Map.<String, Object>of() : variants)
                    .forEach((k, v) -> parts.put("hooks " + k, (Map<String, Object>) v));
            if (m.get("events") instanceof Map<?, ?> ev) {
                for (String mode : List.of("embedded", "cluster")) {
                    if (ev.get(mode) instanceof Map<?, ?> part) {
                        parts.put("hooks events " + mode, (Map<String, Object>) part);
                    }
                }
            }
        } else {
            parts.put(scenario, m);
        }
        return parts;
    }

    private static void positive(List<String> p, String name, Map<String, Object> r, String key, String what) {
        if (r.get(key) instanceof Number n && n.longValue() > 0) {
            p.add(name + ": " + n + " " + what);
        }
    }
}
