package io.switchboard.loadtest.scenario;

import io.switchboard.loadtest.backend.HookBackend;
import io.switchboard.loadtest.cluster.LocalCluster;
import io.switchboard.loadtest.cluster.LocalCluster.Target;
import io.switchboard.loadtest.result.BenchmarkException;
import io.switchboard.loadtest.result.Results;
import io.switchboard.loadtest.wire.WireClient;
import io.switchboard.loadtest.wire.WireClient.Conn;
import io.switchboard.loadtest.wire.WireClient.Dialect;
import java.net.URI;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * The webhook events' throughput (protocol section 11, docs/backend.md "Events"), the second part of {@link Hooks}:
 * once on one gateway (embedded mode: the events wait in memory) and once on two gateways sharing Redis (cluster
 * mode: in Redis streams, delivered through a consumer group), each with a fresh {@link HookBackend} as
 * {@code SWITCHBOARD_WEBHOOK_URL}. The load generator opens {@code connectsPerSecond} guest connections a second,
 * evenly, for {@code seconds} (alternating between the gateways), and closes each normally (1000)
 * {@value #HOLD_MS} ms after its {@code welcome}: each welcomed connection makes one {@code user.connected} and one
 * {@code user.disconnected} with reason {@code closed}. Then it waits (at most {@code eventsWait}) until the backend
 * has a distinct id of each type for every welcomed connection.
 *
 * <p>Reported: events per second acknowledged by the backend (distinct ids over the time from the first connect to
 * the last new event's arrival), the delivery latency ({@code now - at} at the backend, first copies), copies of an
 * id already seen (allowed: at least once), badly signed batches and events missing (both must be 0), and the cores
 * used by the client, the gateway(s), Redis and the backend over that same time.
 */
final class HookEvents {
    /** The secret the gateways sign with and the backend checks with (at least 32 bytes). */
    static final String SECRET = "switchboard-bench-webhook-secret-0123456789";

    /** How long each connection stays open after its welcome before it closes normally. */
    static final long HOLD_MS = 100;

    static final String EMBEDDED = "embedded";
    static final String CLUSTER = "cluster";

    /**
     * @param connectsPerSecond connections opened per second, all gateways together
     * @param seconds how long connections are opened
     * @param eventsWait how long the backend may take, after the last connection closed, to have every event
     */
    record Options(int connectsPerSecond, Duration seconds, Duration eventsWait) {
        int connections() {
            return (int) Math.max(1, connectsPerSecond * seconds.toMillis() / 1000);
        }
    }

    /** A connection's own state. */
    private static final class Sess {
        volatile boolean closing;
    }

    private final RunContext ctx;
    private final Options o;

    HookEvents(RunContext ctx, Options o) {
        this.ctx = ctx;
        this.o = o;
    }

    Map<String, Object> run() throws BenchmarkException {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("connectsPerSecond", o.connectsPerSecond());
        r.put("seconds", o.seconds().toMillis() / 1000.0);
        r.put("connections", o.connections());
        r.put("holdMs", HOLD_MS);
        r.put(
                "backend",
                "backend.HookBackend in its own JVM: POST " + HookBackend.EVENTS_PATH + " answers 204 (401 to a bad"
                        + " signature), checks each batch's HMAC, dedupes by id; its CPU is 'backend' in cpuCoresUsed");
        r.put(EMBEDDED, mode(1));
        r.put(CLUSTER, mode(2));
        for (String m : List.of(EMBEDDED, CLUSTER)) {
            ctx.say("  events " + m + ": " + line((Map<?, ?>) r.get(m)));
        }
        return r;
    }

    private Map<String, Object> mode(int gateways) throws BenchmarkException {
        String name = gateways == 1 ? EMBEDDED : CLUSTER;
        Map<String, String> env = new LinkedHashMap<>();
        try (HookBackend backend =
                HookBackend.start(ctx.logDir().resolve("events-backend-" + name + ".log"), 0, SECRET)) {
            env.put("SWITCHBOARD_WEBHOOK_URL", backend.eventsUrl());
            env.put("SWITCHBOARD_WEBHOOK_SECRET", SECRET);
            LocalCluster.Spec spec =
                    new LocalCluster.Spec(Target.SWITCHBOARD, gateways, gateways > 1, ctx.heap(), ctx.serverEnv(env));
            ctx.say("events " + name + " on " + spec.describe() + ": " + o.connectsPerSecond()
                    + " connections/s for " + o.seconds().toMillis() / 1000.0 + " s, each closed " + HOLD_MS
                    + " ms after its welcome");
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("setup", spec.describe());
            try (LocalCluster cluster = LocalCluster.start(ctx.repo(), ctx.logDir(), spec)) {
                churn(cluster, backend, r);
                r.put("deadProcess", cluster.deadProcess() != null ? cluster.deadProcess() : backend.dead());
            }
            return r;
        }
    }

    private void churn(LocalCluster cluster, HookBackend backend, Map<String, Object> r) throws BenchmarkException {
        LongAdder welcomes = new LongAdder();
        LongAdder closed = new LongAdder();
        LongAdder closedEarly = new LongAdder();
        AtomicReference<String> firstEarly = new AtomicReference<>();
        Load load = new Load() {
            @Override
            void onReady(Conn c, String text) {
                welcomes.increment();
                c.channel()
                        .eventLoop()
                        .schedule(
                                () -> {
                                    ((Sess) c.attachment).closing = true;
                                    c.closeGracefully();
                                },
                                HOLD_MS,
                                TimeUnit.MILLISECONDS);
            }

            @Override
            void onClosed(Conn c, boolean wasReady, String cause) {
                closed.increment();
                if (wasReady && !((Sess) c.attachment).closing) {
                    closedEarly.increment();
                    firstEarly.compareAndSet(null, cause);
                }
            }
        };
        load.expectCloses = true; // the scenario's own closes; one the gateway makes first is counted above
        int n = o.connections();
        List<URI> servers = cluster.serverUris();
        try (WireClient client =
                new WireClient(Dialect.SWITCHBOARD, ctx.clientThreads(), ctx.nextSourceBlock(), load)) {
            r.put("client", ctx.clientName(client));
            Map<String, Duration> cpu1 = ctx.cpu(cluster);
            cpu1.put("backend", backend.cpu());
            long[] machine1 = Results.machineTicks();
            long startNanos = System.nanoTime();
            long startMillis = System.currentTimeMillis();
            long periodNanos = 1_000_000_000L / o.connectsPerSecond();
            for (int i = 0; i < n; i++) {
                sleepUntil(startNanos + i * periodNanos);
                client.open(i, servers.get(i % servers.size()), new Sess());
            }
            double openSeconds = (System.nanoTime() - startNanos) / 1e9;
            long closeDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (closed.sum() < n && System.nanoTime() - closeDeadline < 0) {
                RunContext.pause(Duration.ofMillis(20));
            }
            long expected = welcomes.sum();
            long waitFrom = System.nanoTime();
            long deadline = waitFrom + o.eventsWait().toNanos();
            HookBackend.Stats stats = backend.stats(false);
            while (!complete(stats.events(), expected) && System.nanoTime() - deadline < 0) {
                RunContext.pause(Duration.ofMillis(100));
                stats = backend.stats(false);
            }
            long endNanos = System.nanoTime();
            Map<String, Duration> cpu2 = ctx.cpu(cluster);
            cpu2.put("backend", backend.cpu());
            long[] machine2 = Results.machineTicks();
            HookBackend.Events ev = stats.events();
            r.put("connectionsOpened", n);
            r.put("openedInSeconds", Results.round(openSeconds, 2));
            r.put("welcomed", expected);
            r.put("connectFailures", (long) load.failedBeforeReady.get());
            r.put("firstConnectFailure", load.firstFailure.get());
            r.put("closedByGatewayFirst", closedEarly.sum());
            r.put("firstClose", firstEarly.get());
            r.putAll(check(ev, expected));
            r.put("offeredEventsPerSecond", Results.perSecond(2L * expected, openSeconds));
            double ackSeconds = ev.lastNewAtMillis() > startMillis ? (ev.lastNewAtMillis() - startMillis) / 1000.0 : 0;
            r.put("eventsPerSecond", ackSeconds > 0 ? Results.perSecond(ev.distinct(), ackSeconds) : null);
            r.put("lastEventAfterMs", ev.lastNewAtMillis() > 0 ? ev.lastNewAtMillis() - startMillis : null);
            r.put("waitedForEventsMs", TimeUnit.NANOSECONDS.toMillis(endNanos - waitFrom));
            r.put("deliveryLatencyMs", ev.latencyMs());
            r.put("batches", ev.batches());
            r.put("eventsReceived", ev.received());
            r.put("cpuCoresUsed", Results.cores(cpu1, cpu2, machine1, machine2, (endNanos - startNanos) / 1e9));
            r.put("gatewayEventsSent", nonNegative(cluster.metricSum("switchboard_webhook_events_sent_total")));
            r.put("gatewayBatchesFailed", nonNegative(cluster.metricSum("switchboard_webhook_batches_failed_total")));
            r.put("gatewayEventsDropped", nonNegative(cluster.metricSum("switchboard_webhook_events_dropped_total")));
        }
    }

    private static Long nonNegative(double v) {
        return v < 0 ? null : (long) v;
    }

    /** Whether the backend has a distinct {@code user.connected} and {@code user.disconnected} per welcome. */
    static boolean complete(HookBackend.Events ev, long welcomed) {
        return ev.distinct("user.connected") >= welcomed && ev.distinct("user.disconnected") >= welcomed;
    }

    /**
     * What the backend's events say against {@code welcomed} connections, each closed normally: the distinct events
     * by type, those missing (fails the run), disconnections with a reason other than {@code closed} (fails it),
     * distinct events beyond the expected ones (reported), copies of an id already seen (allowed, reported) and
     * badly signed batches (fail it).
     */
    static Map<String, Object> check(HookBackend.Events ev, long welcomed) {
        long connected = ev.distinct("user.connected");
        long disconnected = ev.distinct("user.disconnected");
        long closedReason = ev.disconnectReasons().getOrDefault("closed", 0L);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("expectedEvents", 2 * welcomed);
        r.put("distinctEvents", ev.distinctByType());
        r.put("disconnectReasons", ev.disconnectReasons());
        r.put("eventsMissing", Math.max(0, welcomed - connected) + Math.max(0, welcomed - disconnected));
        r.put("disconnectsNotClosed", disconnected - closedReason);
        r.put("eventsUnexpected", Math.max(0, ev.distinct() - 2 * welcomed));
        r.put("duplicateEvents", ev.duplicates());
        r.put("badSignatures", ev.badSignatures());
        // with no connection welcomed, the check above would pass having checked nothing
        r.put("noEventChecked", welcomed == 0 ? 1 : 0);
        return r;
    }

    /** One mode's figures on a line, for the console. */
    static String line(Map<?, ?> m) {
        Object latency = m.get("deliveryLatencyMs");
        Map<?, ?> l = latency instanceof Map<?, ?> x ? x : Map.of();
        return m.get("eventsPerSecond") + " events/s acknowledged (" + m.get("offeredEventsPerSecond")
                + " offered), delivery p50/p99 " + l.get("p50") + "/" + l.get("p99") + " ms, missing "
                + m.get("eventsMissing") + ", duplicates " + m.get("duplicateEvents") + ", bad signatures "
                + m.get("badSignatures") + ", cores " + m.get("cpuCoresUsed");
    }

    private static void sleepUntil(long nanos) throws BenchmarkException {
        long left;
        while ((left = nanos - System.nanoTime()) > 0) {
            RunContext.pause(Duration.ofNanos(Math.min(left, 50_000_000L)));
        }
    }
}
