package io.switchboard.loadtest.scenario;

import io.switchboard.loadtest.backend.HookBackend;
import io.switchboard.loadtest.cluster.LocalCluster;
import io.switchboard.loadtest.cluster.LocalCluster.Target;
import io.switchboard.loadtest.result.BenchmarkException;
import io.switchboard.loadtest.result.Results;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * The cost of the backend hooks (protocol section 11, docs/backend.md), in two parts.
 *
 * <p><b>Publish hook</b>: {@link FanOut} on one gateway, the same workload run as separate variants: without hooks,
 * then with the {@code publish} hook on every channel of the workload ({@code SWITCHBOARD_HOOKS=publish},
 * {@code SWITCHBOARD_HOOK_CHANNELS=public:fan-*}) answered by a {@link HookBackend} in its own JVM, then (when
 * {@code slowDelayMs} is above 0) with that backend answering each call {@code slowDelayMs} later. The workload
 * makes the hook matter: many channels with few subscribers each, so that thousands of publishes per second go
 * through it, one step per offered publish rate. Each step reports, beside fan-out's figures, the server's CPU per
 * publish, the backend's calls per second and CPU, and the hook's latency as the gateway measured it; the
 * comparison puts the variants side by side, step by step. Checked: every acknowledged publish reached every
 * subscriber of its channel once and in order (fan-out's own checks), and the backend was called for each
 * ({@link #hookCheck}); a publish answered {@code unavailable} is counted apart.
 *
 * <p><b>Event throughput</b> (the webhook events of section 11, batched and signed), under {@code events}: connections
 * opened and closed at a steady rate, in embedded mode (one gateway) and in cluster mode (two on one Redis), every
 * {@code user.connected} and {@code user.disconnected} awaited at a {@link HookBackend} that checks the signatures
 * and dedupes by id; see {@link HookEvents}.
 */
final class Hooks {
    /** The channels of the workload, as fan-out names them: the hook covers them all. */
    static final String CHANNELS = "public:fan-*";

    /**
     * The hook timeout of a {@code --quick} run: a check, on a machine that may be loaded, with a gateway and a
     * backend just started (their first calls are slow): a call held up there is not an outage to measure.
     */
    static final long QUICK_TIMEOUT_MS = 10_000;

    static final String NO_HOOK = "noHook";
    static final String HOOK = "publishHook";
    static final String SLOW_HOOK = "slowBackend";

    /**
     * @param subscribers fan-out subscribers, over {@code channels} channels (one publisher each)
     * @param publishRates offered publishes per second, all channels together, one step each
     * @param slowDelayMs the slow backend's added delay per call; 0: no slow variant
     * @param events the webhook events' part ({@link HookEvents})
     */
    record Options(
            int subscribers,
            int channels,
            List<Long> publishRates,
            long slowDelayMs,
            Duration firstWarmup,
            Duration warmup,
            Duration measure,
            HookEvents.Options events) {
        int perChannel() {
            return subscribers / channels;
        }
    }

    private final RunContext ctx;
    private final Options o;

    Hooks(RunContext ctx, Options o) {
        this.ctx = ctx;
        this.o = o;
    }

    Map<String, Object> run() throws BenchmarkException {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("publishHook", publishHook());
        r.put("events", new HookEvents(ctx, o.events()).run());
        return r;
    }

    private Map<String, Object> publishHook() throws BenchmarkException {
        int perChannel = o.perChannel();
        List<Long> deliveries =
                o.publishRates().stream().map(p -> p * perChannel).toList();
        // publishes at an even rate: in bursts of one per channel, the hook calls of a burst would all be in flight
        // at once, and the in-flight bound (SWITCHBOARD_HOOK_MAX_IN_FLIGHT) would answer the excess unavailable
        FanOut.FanOutOptions fo = new FanOut.FanOutOptions(
                o.subscribers(), o.channels(), deliveries, o.firstWarmup(), o.warmup(), o.measure(), true);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("subscribers", o.subscribers());
        r.put("channels", o.channels());
        r.put("subscribersPerChannel", perChannel);
        r.put("offeredPublishesPerSecond", o.publishRates());
        r.put(
                "backend",
                "backend.HookBackend: reactor-netty HttpServer in its own JVM (-Xmx256m, SerialGC), loopback,"
                        + " answers {\"allow\":true}, reads each body as JSON; its CPU is 'backend' in cpuCoresUsed");
        Map<String, Map<String, Object>> variants = new LinkedHashMap<>();
        variants.put(NO_HOOK, new FanOut(ctx, Target.SWITCHBOARD, 1, fo, new Plain()).run());
        variants.put(HOOK, withBackend(fo, 0));
        if (o.slowDelayMs() > 0) {
            variants.put(SLOW_HOOK, withBackend(fo, o.slowDelayMs()));
        }
        r.put("variants", variants);
        List<Map<String, Object>> rows = compare(variants, perChannel);
        r.put("comparison", rows);
        for (Map<String, Object> row : rows) {
            ctx.say("  " + line(row));
        }
        return r;
    }

    private Map<String, Object> withBackend(FanOut.FanOutOptions fo, long delayMs) throws BenchmarkException {
        String name = delayMs == 0 ? "hook-backend" : "hook-backend-slow";
        try (HookBackend backend = HookBackend.start(ctx.logDir().resolve(name + ".log"), delayMs)) {
            return new FanOut(
                            ctx,
                            Target.SWITCHBOARD,
                            1,
                            fo,
                            new PublishHook(backend, ctx.quick() ? QUICK_TIMEOUT_MS : 0))
                    .run();
        }
    }

    /** Plain fan-out, named. */
    private static final class Plain implements FanOut.Addition {
        @Override
        public String label() {
            return "no hook";
        }
    }

    /** Fan-out with the publish hook on every channel, answered by {@code backend}. */
    private static final class PublishHook implements FanOut.Addition {
        private final HookBackend backend;
        private final long timeoutMs;
        private long callsAtOpen;
        private long callsAtClose;

        PublishHook(HookBackend backend, long timeoutMs) {
            this.backend = backend;
            this.timeoutMs = timeoutMs;
        }

        @Override
        public String label() {
            return backend.delayMs() == 0
                    ? "publish hook"
                    : "publish hook, backend answering " + backend.delayMs() + " ms late";
        }

        @Override
        public Map<String, String> gatewayEnv() {
            Map<String, String> env = new LinkedHashMap<>();
            env.put("SWITCHBOARD_HOOK_URL", backend.url());
            env.put("SWITCHBOARD_HOOKS", "publish");
            env.put("SWITCHBOARD_HOOK_CHANNELS", CHANNELS);
            if (timeoutMs > 0) {
                env.put("SWITCHBOARD_HOOK_TIMEOUT_MS", Long.toString(timeoutMs));
            }
            return env;
        }

        @Override
        public Map<String, Duration> cpu() {
            return Map.of("backend", backend.cpu());
        }

        @Override
        public void window(boolean opens) throws BenchmarkException {
            long calls = backend.stats(false).calls("publish");
            if (opens) {
                callsAtOpen = calls;
            } else {
                callsAtClose = calls;
            }
        }

        @Override
        public void step(Map<String, Object> step, FanOut.Window w) {
            long calls = callsAtClose - callsAtOpen;
            step.put("hookCallsPerSecond", Results.perSecond(calls, w.seconds()));
            step.put("backendCpuMicrosPerCall", Results.cpuMicrosPer(w.cpuBefore(), w.cpuAfter(), "backend", calls));
            Map<String, Object> latency = new LinkedHashMap<>();
            for (String q : List.of("0.5", "0.99")) {
                double seconds = w.cluster()
                        .metricSum("switchboard_hooks_latency_seconds{hook=\"publish\",quantile=\"" + q + "\"}");
                latency.put(q.equals("0.5") ? "p50" : "p99", seconds < 0 ? null : Results.round(seconds * 1000, 3));
            }
            step.put("hookLatencyMsAtGateway", latency);
        }

        @Override
        public void finish(Map<String, Object> result, LocalCluster cluster, List<FanOut.Pub> publishers)
                throws BenchmarkException {
            if (backend.dead() != null) {
                throw new BenchmarkException(backend.dead());
            }
            HookBackend.Stats stats = backend.stats(true);
            result.putAll(hookCheck(publishers, stats.publishByChannel(), i -> "public:fan-" + i));
            Map<String, Object> outcomes = new LinkedHashMap<>();
            for (String outcome : List.of("allowed", "refused", "failed", "timeout", "held_off", "busy")) {
                double n = cluster.metricSum(
                        "switchboard_hooks_calls_total{hook=\"publish\",outcome=\"" + outcome + "\"}");
                outcomes.put(outcome, n < 0 ? null : (long) n);
            }
            result.put("gatewayHookCalls", outcomes);
        }
    }

    /**
     * Whether the backend was asked for every acknowledged publish, channel by channel: a publish is acked only
     * after the backend allowed it, so a channel's calls are at least its acks; a call that timed out was made and
     * answered {@code unavailable}, one held off by the breaker or the in-flight bound was not, so the calls are at
     * most the acks, {@code unavailable} answers and other errors together. Warm-ups included: the backend counts
     * from its start.
     *
     * @param calls the backend's publish calls by channel name
     * @param channelName the name of channel {@code i}
     */
    static Map<String, Object> hookCheck(
            List<FanOut.Pub> publishers, Map<String, Long> calls, IntFunction<String> channelName) {
        long acked = 0;
        long unavailable = 0;
        long failed = 0;
        long ours = 0;
        long without = 0;
        long unexplained = 0;
        String first = null;
        List<String> names = new ArrayList<>();
        for (FanOut.Pub p : publishers) {
            String name = channelName.apply(p.channel);
            names.add(name);
            long a = p.acked.sum();
            long u = p.unavailable.sum();
            long f = p.failed.sum();
            long c = calls.getOrDefault(name, 0L);
            acked += a;
            unavailable += u;
            failed += f;
            ours += c;
            long missing = Math.max(0, a - c);
            long extra = Math.max(0, c - a - u - f);
            without += missing;
            unexplained += extra;
            if (first == null && (missing > 0 || extra > 0)) {
                first = name + ": " + a + " acked, " + u + " unavailable, " + f + " failed, " + c + " hook calls";
            }
        }
        long elsewhere = 0;
        for (Map.Entry<String, Long> e : calls.entrySet()) {
            if (!names.contains(e.getKey())) {
                elsewhere += e.getValue();
                if (first == null) {
                    first = e.getKey() + ": " + e.getValue() + " hook calls for a channel nobody published to";
                }
            }
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("hookCalls", ours + elsewhere);
        r.put("publishesAckedTotal", acked);
        r.put("publishesUnavailableTotal", unavailable);
        r.put("publishesFailedTotal", failed);
        r.put("publishesWithoutHookCall", without);
        // with nothing acked, the check above would pass having checked nothing
        r.put("noPublishThroughTheHook", acked == 0 ? 1 : 0);
        r.put("hookCallsUnexplained", unexplained + elsewhere);
        r.put("firstHookMismatch", first);
        return r;
    }

    /**
     * The variants side by side, one row per offered publish rate (in the order of the steps; a rate a variant did
     * not reach is missing from its row): deliveries per second, latency p50/p99, server CPU per delivery and per
     * publish, hook calls per second, the backend's cores, {@code unavailable} answers and loss; and what the hook
     * added to the server's CPU per publish and to the p99, against the variant without it.
     */
    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> compare(Map<String, Map<String, Object>> variants, int perChannel) {
        Map<Long, Map<String, Object>> rows = new LinkedHashMap<>();
        for (Map.Entry<String, Map<String, Object>> v : variants.entrySet()) {
            for (Object o : (List<Object>) v.getValue().getOrDefault("steps", List.of())) {
                Map<String, Object> st = (Map<String, Object>) o;
                long offered = ((Number) st.get("offeredDeliveriesPerSecond")).longValue();
                Map<String, Object> row = rows.computeIfAbsent(offered, k -> {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("offeredPublishesPerSecond", k / Math.max(1, perChannel));
                    m.put("offeredDeliveriesPerSecond", k);
                    return m;
                });
                Map<String, Object> latency = (Map<String, Object>) st.get("latencyMs");
                Map<String, Object> cores = (Map<String, Object>) st.getOrDefault("cpuCoresUsed", Map.of());
                Map<String, Object> cell = new LinkedHashMap<>();
                cell.put("deliveriesPerSecond", st.get("deliveriesPerSecond"));
                cell.put("publishesPerSecond", st.get("publishesPerSecond"));
                cell.put("p50Ms", latency.get("p50"));
                cell.put("p99Ms", latency.get("p99"));
                cell.put("serverCpuMicrosPerDelivery", st.get("serverCpuMicrosPerDelivery"));
                cell.put("serverCpuMicrosPerPublish", st.get("serverCpuMicrosPerPublish"));
                cell.put("hookCallsPerSecond", st.getOrDefault("hookCallsPerSecond", 0.0));
                cell.put("backendCores", cores.get("backend"));
                cell.put("publishesUnavailable", st.get("publishesUnavailable"));
                cell.put("lost", st.get("lost"));
                row.put(v.getKey(), cell);
            }
        }
        for (Map<String, Object> row : rows.values()) {
            if (!(row.get(NO_HOOK) instanceof Map<?, ?> base)) {
                continue;
            }
            for (String v : variants.keySet()) {
                if (!v.equals(NO_HOOK) && row.get(v) instanceof Map<?, ?> with) {
                    Map<String, Object> cell = (Map<String, Object>) with;
                    cell.put(
                            "addedServerCpuMicrosPerPublish",
                            difference(with.get("serverCpuMicrosPerPublish"), base.get("serverCpuMicrosPerPublish")));
                    cell.put("addedP99Ms", difference(with.get("p99Ms"), base.get("p99Ms")));
                }
            }
        }
        return new ArrayList<>(rows.values());
    }

    private static Double difference(Object a, Object b) {
        return a instanceof Number x && b instanceof Number y
                ? Results.round(x.doubleValue() - y.doubleValue(), 3)
                : null;
    }

    /** One comparison row on a line, for the console. */
    @SuppressWarnings("unchecked")
    static String line(Map<String, Object> row) {
        StringBuilder b = new StringBuilder(
                String.format("%,d publishes/s offered:", (Long) row.get("offeredPublishesPerSecond")));
        String sep = " ";
        for (Map.Entry<String, Object> e : row.entrySet()) {
            if (e.getValue() instanceof Map<?, ?> m) {
                Map<String, Object> c = (Map<String, Object>) m;
                b.append(sep)
                        .append(e.getKey())
                        .append(' ')
                        .append(c.get("deliveriesPerSecond"))
                        .append(" deliveries/s, p50/p99 ")
                        .append(c.get("p50Ms"))
                        .append('/')
                        .append(c.get("p99Ms"))
                        .append(" ms, server ")
                        .append(c.get("serverCpuMicrosPerPublish"))
                        .append(" µs/publish, ")
                        .append(c.get("hookCallsPerSecond"))
                        .append(" hook calls/s");
                if (c.get("backendCores") != null) {
                    b.append(", backend ").append(c.get("backendCores")).append(" cores");
                }
                sep = "; ";
            }
        }
        return b.toString();
    }
}
