package io.switchboard.loadtest.scenario;

import io.switchboard.loadtest.cluster.LocalCluster;
import io.switchboard.loadtest.result.BenchmarkException;
import io.switchboard.loadtest.result.Results;
import io.switchboard.loadtest.wire.WireClient;
import io.switchboard.loadtest.wire.WireClient.Conn;
import io.switchboard.loadtest.wire.WireClient.Dialect;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * Fan-out: {@code subscribers} connections spread over {@code channels} channels (and over the servers, in turn),
 * one publisher connection per channel, not subscribed, publishing a {@value #PAYLOAD_BYTES}-byte payload at a
 * fixed rate. Each step offers a number of deliveries per second (publish rate times subscribers per channel).
 * Every message carries the time it was due to be sent (so latency includes any lag of the publishers: no
 * coordinated omission); each delivery records now minus that time. After a step the publishers stop and the
 * step waits until every message published in its window reached every subscriber of its channel: what never
 * arrives is counted as lost, what arrives twice or out of order as a duplicate.
 */
final class FanOut {
    static final int PAYLOAD_BYTES = 64;
    static final Duration DRAIN = Duration.ofSeconds(20);
    /** Steps above one that achieved less than this share of its offered rate are not run. */
    static final double GIVE_UP_BELOW = 0.7;

    private static final String PAYLOAD = "x".repeat(PAYLOAD_BYTES);

    /** A subscriber's state, touched only on its connection's event loop. */
    static final class Sub {
        final int channel;
        long lastOffset;
        long received;

        Sub(int channel) {
            this.channel = channel;
        }
    }

    /** One step's window and counters. */
    static final class Step {
        final long windowStart;
        final long windowEnd;
        final Recorder latencyMicros = new Recorder(3_600_000_000L, 3);
        final LongAdder arrivedInWindow = new LongAdder();
        final LongAdder deliveredOfWindow = new LongAdder();

        Step(long windowStart, long windowEnd) {
            this.windowStart = windowStart;
            this.windowEnd = windowEnd;
        }
    }

    private final RunContext ctx;
    private final LocalCluster.Target target;
    private final int servers;
    private final FanOutOptions o;
    private volatile Step step;
    private final LongAdder duplicates = new LongAdder();
    private final LongAdder acked = new LongAdder();

    /**
     * @param firstWarmup publishing before the first step's window: long enough for the JIT to compile the hot paths
     * @param warmup publishing before each later step's window, at that step's rate
     */
    record FanOutOptions(
            int subscribers,
            int channels,
            List<Long> offeredPerSecond,
            Duration firstWarmup,
            Duration warmup,
            Duration measure) {}

    FanOut(RunContext ctx, LocalCluster.Target target, int servers, FanOutOptions o) {
        this.ctx = ctx;
        this.target = target;
        this.servers = servers;
        this.o = o;
    }

    Map<String, Object> run() throws BenchmarkException {
        LocalCluster.Spec spec =
                new LocalCluster.Spec(target, servers, servers > 1, ctx.heap(), ctx.serverEnv(Map.of()));
        ctx.say("fan-out on " + spec.describe() + ": " + o.subscribers() + " subscribers on " + o.channels()
                + " channels");
        Dialect dialect = Connections.dialect(target);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("target", target.label());
        r.put("servers", servers);
        r.put("setup", spec.describe());
        r.put("subscribers", o.subscribers());
        r.put("channels", o.channels());
        r.put("payloadBytes", PAYLOAD_BYTES);
        Load load = new Load() {
            @Override
            public void delivered(Conn c, long sentNanos, long offset) {
                long now = System.nanoTime();
                Sub s = (Sub) c.attachment;
                if (offset >= 0) {
                    if (offset <= s.lastOffset) {
                        duplicates.increment();
                        return;
                    }
                    s.lastOffset = offset;
                }
                s.received++;
                Step st = step;
                if (st == null) {
                    return;
                }
                if (now - st.windowStart >= 0 && now - st.windowEnd < 0) {
                    st.arrivedInWindow.increment();
                }
                if (sentNanos - st.windowStart >= 0 && sentNanos - st.windowEnd < 0) {
                    st.deliveredOfWindow.increment();
                    st.latencyMicros.recordValue(Math.max(0, (now - sentNanos) / 1000));
                }
            }

            @Override
            public void replied(Conn c, long id, boolean error, String text) {
                super.replied(c, id, error, text);
                if (!error) {
                    acked.increment();
                }
            }
        };
        try (LocalCluster cluster = LocalCluster.start(ctx.repo(), ctx.logDir(), spec);
                WireClient client = new WireClient(dialect, ctx.clientThreads(), ctx.nextSourceBlock(), load)) {
            r.put("client", ctx.clientName(client));
            r.put("ioTransport", cluster.gatewayTransport());
            List<Conn> subs = load.connectAll(
                    client,
                    cluster.serverUris(),
                    o.subscribers(),
                    0,
                    RunContext.CONNECT_CONCURRENCY,
                    i -> new Sub(i % o.channels()),
                    120);
            long before = acked.sum();
            for (Conn c : subs) {
                c.send(subscribe(dialect, ((Sub) c.attachment).channel));
            }
            awaitCount(acked, before + subs.size(), "subscribe acks", load);
            List<Conn> pubs = load.connectAll(
                    client,
                    cluster.serverUris(),
                    o.channels(),
                    o.subscribers(),
                    RunContext.CONNECT_CONCURRENCY,
                    i -> null,
                    60);
            int perChannel = o.subscribers() / o.channels();
            List<Map<String, Object>> steps = new ArrayList<>();
            long totalLost = 0;
            boolean first = true;
            for (long offered : o.offeredPerSecond()) {
                Map<String, Object> s = step(
                        cluster,
                        client,
                        load,
                        subs,
                        pubs,
                        dialect,
                        offered,
                        perChannel,
                        first ? o.firstWarmup() : o.warmup());
                first = false;
                steps.add(s);
                totalLost += (Long) s.get("lost");
                if ((Double) s.get("achievedShare") < GIVE_UP_BELOW || load.closedAfterReady.get() > 0) {
                    ctx.say("  the server could not keep up with " + offered + "/s: higher steps skipped");
                    break;
                }
            }
            r.put("steps", steps);
            r.put("lost", totalLost);
            r.put("duplicatesOrOutOfOrder", duplicates.sum());
            r.put("requestErrors", load.errors.get());
            r.put("firstRequestError", load.firstError.get());
            r.put("closedDuringRun", load.closedAfterReady.get());
            r.put("firstClose", load.firstClose.get());
            r.put("deadProcess", cluster.deadProcess());
            load.expectCloses = true;
            subs.forEach(Conn::closeGracefully);
            pubs.forEach(Conn::closeGracefully);
        }
        return r;
    }

    private Map<String, Object> step(
            LocalCluster cluster,
            WireClient client,
            Load load,
            List<Conn> subs,
            List<Conn> pubs,
            Dialect dialect,
            long offered,
            int perChannel,
            Duration warmup)
            throws BenchmarkException {
        double publishRate = (double) offered / perChannel / pubs.size(); // per publisher, messages per second
        long start = System.nanoTime();
        long windowStart = start + warmup.toNanos();
        long windowEnd = windowStart + o.measure().toNanos();
        Step st = new Step(windowStart, windowEnd);
        step = st;
        long interval = Math.max(1, (long) (1e9 / publishRate));
        AtomicLong publishedInWindow = new AtomicLong();
        AtomicLong ids = new AtomicLong(1_000_000L * (1 + subs.size()));
        List<ScheduledFuture<?>> tasks = new ArrayList<>();
        for (int p = 0; p < pubs.size(); p++) {
            Conn pub = pubs.get(p);
            int channel = p;
            long[] sent = {0};
            tasks.add(pub.channel()
                    .eventLoop()
                    .scheduleAtFixedRate(
                            () -> {
                                long now = System.nanoTime();
                                long due = Math.min(now, windowEnd);
                                boolean wrote = false;
                                for (long t = start + sent[0] * interval; t - due < 0; t = start + sent[0] * interval) {
                                    pub.write(publish(dialect, channel, ids.incrementAndGet(), t));
                                    sent[0]++;
                                    wrote = true;
                                    if (t - windowStart >= 0) {
                                        publishedInWindow.incrementAndGet();
                                    }
                                }
                                if (wrote) {
                                    pub.flush();
                                }
                            },
                            0,
                            1,
                            TimeUnit.MILLISECONDS));
        }
        sleepUntil(windowStart);
        Map<String, Duration> cpu1 = ctx.cpu(cluster);
        long[] machine1 = Results.machineTicks();
        sleepUntil(windowEnd);
        Map<String, Duration> cpu2 = ctx.cpu(cluster);
        long[] machine2 = Results.machineTicks();
        tasks.forEach(t -> t.cancel(false));
        long expected = publishedInWindow.get() * perChannel;
        long drainEnd = System.nanoTime() + DRAIN.toNanos();
        while (st.deliveredOfWindow.sum() < expected
                && System.nanoTime() - drainEnd < 0
                && load.closedAfterReady.get() == 0) {
            RunContext.pause(Duration.ofMillis(20));
        }
        long drainedAfterMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - windowEnd);
        step = null;
        double seconds = o.measure().toNanos() / 1e9;
        long arrived = st.arrivedInWindow.sum();
        Histogram latency = st.latencyMicros.getIntervalHistogram();
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("offeredDeliveriesPerSecond", offered);
        s.put("publishesPerSecond", Results.round(publishRate * pubs.size(), 1));
        s.put("deliveriesPerSecond", Results.perSecond(arrived, seconds));
        s.put("achievedShare", Results.round(arrived / seconds / offered, 3));
        s.put("latencyMs", Results.percentiles(latency));
        s.put("expected", expected);
        s.put("lost", expected - st.deliveredOfWindow.sum());
        s.put("allDeliveredAfterMs", drainedAfterMs);
        s.put("serverCpuMicrosPerDelivery", Results.cpuMicrosPer(cpu1, cpu2, "server", arrived));
        s.put("cpuCoresUsed", Results.cores(cpu1, cpu2, machine1, machine2, seconds));
        ctx.say(String.format(
                "  offered %,d/s: %,.0f deliveries/s, p50 %s ms, p99 %s ms, p99.9 %s ms, lost %d,"
                        + " server %s µs/delivery",
                offered,
                arrived / seconds,
                ((Map<?, ?>) s.get("latencyMs")).get("p50"),
                ((Map<?, ?>) s.get("latencyMs")).get("p99"),
                ((Map<?, ?>) s.get("latencyMs")).get("p999"),
                s.get("lost"),
                s.get("serverCpuMicrosPerDelivery")));
        return s;
    }

    static String subscribe(Dialect dialect, int channel) {
        return dialect == Dialect.SWITCHBOARD
                ? "{\"type\":\"subscribe\",\"id\":1,\"channel\":\"public:fan-" + channel + "\"}"
                : "421[\"subscribe\",\"fan-" + channel + "\"]";
    }

    static String publish(Dialect dialect, int channel, long id, long t) {
        return dialect == Dialect.SWITCHBOARD
                ? "{\"type\":\"publish\",\"id\":" + id + ",\"channel\":\"public:fan-" + channel + "\",\"data\":{\"t\":"
                        + t + ",\"p\":\"" + PAYLOAD + "\"}}"
                : "42" + id + "[\"publish\",\"fan-" + channel + "\",{\"t\":" + t + ",\"p\":\"" + PAYLOAD + "\"}]";
    }

    static void awaitCount(LongAdder counter, long target, String what, Load load) throws BenchmarkException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (counter.sum() < target) {
            if (System.nanoTime() - deadline > 0) {
                throw new BenchmarkException("only " + counter.sum() + " of " + target + " " + what
                        + " within 60 s; errors: " + load.errors.get() + " (first: " + load.firstError.get() + ")");
            }
            RunContext.pause(Duration.ofMillis(10));
        }
    }

    private static void sleepUntil(long nanos) throws BenchmarkException {
        long left;
        while ((left = nanos - System.nanoTime()) > 0) {
            RunContext.pause(Duration.ofNanos(Math.min(left, 50_000_000L)));
        }
    }
}
