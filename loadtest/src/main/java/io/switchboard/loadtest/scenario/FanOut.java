package io.switchboard.loadtest.scenario;

import io.netty.channel.EventLoop;
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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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
 * arrives is counted as lost, what arrives twice or out of order as a duplicate. Only acknowledged publishes are
 * expected: one answered {@code unavailable} (back-pressure, a hook's backend slow or away) is counted apart, and
 * the step also waits until every publish of its window was answered (what never is, is counted as unanswered).
 *
 * <p>A scenario built on fan-out ({@code hooks}) runs it with an {@link Addition}: a label, gateway settings of its
 * own, processes of its own whose CPU time each step reads with the servers', and figures and checks of its own.
 */
final class FanOut {
    static final int PAYLOAD_BYTES = 64;
    static final Duration DRAIN = Duration.ofSeconds(20);
    /** Steps above one that achieved less than this share of its offered rate are not run. */
    static final double GIVE_UP_BELOW = 0.7;

    private static final String PAYLOAD = "x".repeat(PAYLOAD_BYTES);
    private static final TimeUnit NANOS = TimeUnit.NANOSECONDS;

    /** A subscriber's state, touched only on its connection's event loop. */
    static final class Sub {
        final int channel;
        long lastOffset;
        long received;

        Sub(int channel) {
            this.channel = channel;
        }
    }

    /**
     * A publisher's answers, over the whole run (warm-ups included): acks, {@code unavailable} and other errors.
     * Publisher {@code i} publishes to channel {@code i}.
     */
    static final class Pub {
        final int channel;
        final LongAdder acked = new LongAdder();
        final LongAdder unavailable = new LongAdder();
        final LongAdder failed = new LongAdder();

        Pub(int channel) {
            this.channel = channel;
        }
    }

    /**
     * What a scenario built on fan-out adds to it. Every method has a default that adds nothing: {@link #NONE} is
     * plain fan-out.
     */
    interface Addition {
        Addition NONE = new Addition() {};

        /** Names the run in the console and in its result ({@code variant}); null for plain fan-out. */
        default String label() {
            return null;
        }

        /** Settings given to the gateways, over the run's own ({@code --gateway-env}). */
        default Map<String, String> gatewayEnv() {
            return Map.of();
        }

        /** The CPU time its own processes used so far, by name: read with the servers' (cores used). */
        default Map<String, Duration> cpu() {
            return Map.of();
        }

        /** Called when a step's window opens and when it closes, to read counters of its own. */
        default void window(boolean opens) throws BenchmarkException {}

        /** Adds its figures to a step's result, once the step drained. */
        default void step(Map<String, Object> step, Window w) throws BenchmarkException {}

        /** After the last step, while everything still runs: its figures and checks of the whole run. */
        default void finish(Map<String, Object> result, LocalCluster cluster, List<Pub> publishers)
                throws BenchmarkException {}
    }

    /**
     * What a step measured, for an {@link Addition}: the cluster, the window's length, the publishes sent in it and
     * acked, the deliveries that arrived in it, and the CPU readings at its start and end.
     */
    record Window(
            LocalCluster cluster,
            double seconds,
            long published,
            long acked,
            long arrived,
            Map<String, Duration> cpuBefore,
            Map<String, Duration> cpuAfter) {}

    /** One step's window and counters. */
    static final class Step {
        final long windowStart;
        final long windowEnd;
        final Recorder latencyMicros = new Recorder(3_600_000_000L, 3);
        final LongAdder arrivedInWindow = new LongAdder();
        final LongAdder deliveredOfWindow = new LongAdder();
        /** Answers to the publishes sent in the window (their ids are odd, see {@link #publishId}). */
        final LongAdder ackedOfWindow = new LongAdder();

        final LongAdder unavailableOfWindow = new LongAdder();
        final LongAdder failedOfWindow = new LongAdder();

        Step(long windowStart, long windowEnd) {
            this.windowStart = windowStart;
            this.windowEnd = windowEnd;
        }
    }

    private final RunContext ctx;
    private final LocalCluster.Target target;
    private final int servers;
    private final FanOutOptions o;
    private final Addition addition;
    private volatile Step step;
    private final LongAdder duplicates = new LongAdder();
    private final LongAdder acked = new LongAdder();
    private final LongAdder unavailable = new LongAdder();
    private long unanswered;

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
            Duration measure,
            boolean spread) {

        /** Every publisher starts at once (their messages come in bursts, one from each). */
        FanOutOptions(
                int subscribers,
                int channels,
                List<Long> offeredPerSecond,
                Duration firstWarmup,
                Duration warmup,
                Duration measure) {
            this(subscribers, channels, offeredPerSecond, firstWarmup, warmup, measure, false);
        }
    }

    FanOut(RunContext ctx, LocalCluster.Target target, int servers, FanOutOptions o) {
        this(ctx, target, servers, o, Addition.NONE);
    }

    FanOut(RunContext ctx, LocalCluster.Target target, int servers, FanOutOptions o, Addition addition) {
        this.ctx = ctx;
        this.target = target;
        this.servers = servers;
        this.o = o;
        this.addition = addition;
    }

    Map<String, Object> run() throws BenchmarkException {
        LocalCluster.Spec spec =
                new LocalCluster.Spec(target, servers, servers > 1, ctx.heap(), ctx.serverEnv(addition.gatewayEnv()));
        String label = addition.label() == null ? "" : " (" + addition.label() + ")";
        ctx.say("fan-out" + label + " on " + spec.describe() + ": " + o.subscribers() + " subscribers on "
                + o.channels() + " channels");
        Dialect dialect = Connections.dialect(target);
        Map<String, Object> r = new LinkedHashMap<>();
        if (addition.label() != null) {
            r.put("variant", addition.label());
            r.put("gatewaySettings", new LinkedHashMap<>(addition.gatewayEnv()));
        }
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
                boolean refused = error && text.contains("\"code\":\"unavailable\"");
                if (refused) {
                    // back-pressure (a hook's backend slow or away): a legitimate answer, counted apart
                    unavailable.increment();
                } else {
                    super.replied(c, id, error, text);
                }
                if (!error) {
                    acked.increment();
                }
                if (c.attachment instanceof Pub p && id > 0) {
                    (!error ? p.acked : refused ? p.unavailable : p.failed).increment();
                    Step st = step;
                    if (st != null && inWindow(id)) {
                        (!error ? st.ackedOfWindow : refused ? st.unavailableOfWindow : st.failedOfWindow).increment();
                    }
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
                    i -> new Pub(i - o.subscribers()),
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
            r.put(
                    "publishesAcked",
                    pubs.stream()
                            .mapToLong(c -> ((Pub) c.attachment).acked.sum())
                            .sum());
            r.put("publishesUnavailable", unavailable.sum());
            r.put("publishesUnanswered", unanswered);
            r.put("requestErrors", load.errors.get());
            r.put("firstRequestError", load.firstError.get());
            r.put("closedDuringRun", load.closedAfterReady.get());
            r.put("firstClose", load.firstClose.get());
            r.put("deadProcess", cluster.deadProcess());
            addition.finish(
                    r, cluster, pubs.stream().map(c -> (Pub) c.attachment).toList());
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
        AtomicInteger finished = new AtomicInteger();
        for (int p = 0; p < pubs.size(); p++) {
            Conn pub = pubs.get(p);
            int channel = p;
            long[] sent = {0};
            // spread: the publishers' schedules are shifted evenly over one interval, so that the messages arrive
            // at an even rate rather than in a burst of one from each publisher every interval
            long first = o.spread() ? start + interval * p / pubs.size() : start;
            EventLoop loop = pub.channel().eventLoop();
            Runnable[] tick = new Runnable[1];
            // Each publisher runs on its connection's loop when its next message is due (at most every millisecond:
            // faster ones send what is due in a batch), and ends with the window: a step of many slow publishers
            // costs the load generator no idle ticks.
            tick[0] = () -> {
                long now = System.nanoTime();
                long due = Math.min(now, windowEnd);
                boolean wrote = false;
                for (long t = first + sent[0] * interval; t - due < 0; t = first + sent[0] * interval) {
                    boolean in = t - windowStart >= 0;
                    pub.write(publish(dialect, channel, publishId(ids.incrementAndGet(), in), t));
                    sent[0]++;
                    wrote = true;
                    if (in) {
                        publishedInWindow.incrementAndGet();
                    }
                }
                if (wrote) {
                    pub.flush();
                }
                long next = first + sent[0] * interval;
                if (next - windowEnd >= 0) {
                    finished.incrementAndGet();
                    return;
                }
                loop.schedule(
                        tick[0], Math.max(next - System.nanoTime(), interval < 1_000_000L ? 1_000_000L : 0), NANOS);
            };
            loop.execute(tick[0]);
        }
        sleepUntil(windowStart);
        addition.window(true);
        Map<String, Duration> cpu1 = cpu(cluster);
        long[] machine1 = Results.machineTicks();
        sleepUntil(windowEnd);
        Map<String, Duration> cpu2 = cpu(cluster);
        long[] machine2 = Results.machineTicks();
        addition.window(false);
        // Once every publisher sent its last message of the window, the step waits for every publish of the window to
        // be answered and every acked one to reach every subscriber of its channel.
        long drainEnd = System.nanoTime() + DRAIN.toNanos();
        while ((finished.get() < pubs.size()
                        || answered(st) < publishedInWindow.get()
                        || st.deliveredOfWindow.sum() < st.ackedOfWindow.sum() * perChannel)
                && System.nanoTime() - drainEnd < 0
                && load.closedAfterReady.get() == 0) {
            RunContext.pause(Duration.ofMillis(20));
        }
        long drainedAfterMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - windowEnd);
        step = null;
        long published = publishedInWindow.get();
        long ackedOfWindow = st.ackedOfWindow.sum();
        long expected = ackedOfWindow * perChannel;
        long unansweredOfWindow = Math.max(0, published - answered(st));
        unanswered += unansweredOfWindow;
        double seconds = o.measure().toNanos() / 1e9;
        long arrived = st.arrivedInWindow.sum();
        Histogram latency = st.latencyMicros.getIntervalHistogram();
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("offeredDeliveriesPerSecond", offered);
        s.put("publishesPerSecond", Results.round(publishRate * pubs.size(), 1));
        s.put("deliveriesPerSecond", Results.perSecond(arrived, seconds));
        s.put("achievedShare", Results.round(arrived / seconds / offered, 3));
        s.put("latencyMs", Results.percentiles(latency));
        s.put("published", published);
        s.put("publishesAcked", ackedOfWindow);
        s.put("publishesUnavailable", st.unavailableOfWindow.sum());
        s.put("publishesUnanswered", unansweredOfWindow);
        s.put("expected", expected);
        s.put("lost", Math.max(0, expected - st.deliveredOfWindow.sum()));
        s.put("allDeliveredAfterMs", drainedAfterMs);
        s.put("serverCpuMicrosPerDelivery", Results.cpuMicrosPer(cpu1, cpu2, "server", arrived));
        s.put("serverCpuMicrosPerPublish", Results.cpuMicrosPer(cpu1, cpu2, "server", published));
        s.put("cpuCoresUsed", Results.cores(cpu1, cpu2, machine1, machine2, seconds));
        addition.step(s, new Window(cluster, seconds, published, ackedOfWindow, arrived, cpu1, cpu2));
        ctx.say(String.format(
                "  offered %,d/s: %,.0f deliveries/s, p50 %s ms, p99 %s ms, p99.9 %s ms, lost %d,"
                        + " server %s µs/delivery"
                        + (st.unavailableOfWindow.sum() > 0
                                ? ", " + st.unavailableOfWindow.sum() + " unavailable"
                                : ""),
                offered,
                arrived / seconds,
                ((Map<?, ?>) s.get("latencyMs")).get("p50"),
                ((Map<?, ?>) s.get("latencyMs")).get("p99"),
                ((Map<?, ?>) s.get("latencyMs")).get("p999"),
                s.get("lost"),
                s.get("serverCpuMicrosPerDelivery")));
        return s;
    }

    /** The CPU readings of a step: the cluster's and the load generator's, and the addition's processes'. */
    private Map<String, Duration> cpu(LocalCluster cluster) {
        Map<String, Duration> cpu = ctx.cpu(cluster);
        cpu.putAll(addition.cpu());
        return cpu;
    }

    private static long answered(Step st) {
        return st.ackedOfWindow.sum() + st.unavailableOfWindow.sum() + st.failedOfWindow.sum();
    }

    /**
     * A publish's request id: odd when it was sent in a step's measured window, even in a warm-up, so that its
     * answer tells which it was.
     */
    static long publishId(long n, boolean inWindow) {
        return 2 * n + (inWindow ? 1 : 0);
    }

    static boolean inWindow(long id) {
        return (id & 1) == 1;
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
