package io.switchboard.loadtest.scenario;

import io.switchboard.loadtest.cluster.LocalCluster;
import io.switchboard.loadtest.result.BenchmarkException;
import io.switchboard.loadtest.result.Results;
import io.switchboard.loadtest.wire.WireClient;
import io.switchboard.loadtest.wire.WireClient.Conn;
import io.switchboard.loadtest.wire.WireClient.Dialect;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The connection workloads, against one server process: how fast connections are established (socket open to
 * {@code welcome}, or to Socket.IO's namespace connect reply), and what holding idle connections costs.
 */
final class Connections {
    /** Connections opened and closed before measuring, so that the JIT and the pools are warm. */
    static final int WARM_UP = 2_000;
    /** Idle connections opened before the baseline of memory is read. */
    static final int IDLE_BASELINE = 200;
    /** How long the connections of one measurement have to close before the next opens. */
    static final Duration CLOSE_WAIT = Duration.ofSeconds(10);

    private final RunContext ctx;

    Connections(RunContext ctx) {
        this.ctx = ctx;
    }

    /**
     * Connections per second: {@code n} connections with {@link RunContext#CONNECT_CONCURRENCY} handshakes in flight,
     * twice on one server process: first {@code fresh}, on the process just started (as after a deploy or a drain
     * moves users onto new instances), then, after {@link #WARM_UP} more, warm (the JIT and the pools ready). The
     * warm figures are the result's top level, the fresh ones under {@code fresh}.
     */
    Map<String, Object> rate(LocalCluster.Target target, int n) throws BenchmarkException {
        LocalCluster.Spec spec = new LocalCluster.Spec(target, 1, false, ctx.heap(), ctx.serverEnv(Map.of()));
        ctx.say("connection rate on " + spec.describe() + ": " + n + " connections fresh, then " + n + " warm; "
                + RunContext.CONNECT_CONCURRENCY + " handshakes in flight");
        Load load = new Load();
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("target", target.label());
        r.put("setup", spec.describe());
        try (LocalCluster cluster = LocalCluster.start(ctx.repo(), ctx.logDir(), spec);
                WireClient client = new WireClient(dialect(target), ctx.clientThreads(), ctx.nextSourceBlock(), load)) {
            r.put("client", ctx.clientName(client));
            Map<String, Object> fresh = measure(load, client, cluster, n, 0, "fresh");
            int warm = Math.min(WARM_UP, n);
            List<Conn> warmUp =
                    load.connectAll(client, cluster.serverUris(), warm, n, RunContext.CONNECT_CONCURRENCY, null, 60);
            close(load, warmUp);
            load.takeConnectMicros();
            r.putAll(measure(load, client, cluster, n, n + warm, "warm"));
            r.put("fresh", fresh);
            r.put("handshakesInFlight", RunContext.CONNECT_CONCURRENCY);
            r.put("deadProcess", cluster.deadProcess());
        }
        return r;
    }

    /** Opens {@code n} connections from connection number {@code first} on, measures, and closes them again. */
    private Map<String, Object> measure(
            Load load, WireClient client, LocalCluster cluster, int n, int first, String label)
            throws BenchmarkException {
        Map<String, Object> r = new LinkedHashMap<>();
        Map<String, Duration> cpu1 = ctx.cpu(cluster);
        long[] machine1 = Results.machineTicks();
        long start = System.nanoTime();
        List<Conn> conns =
                load.connectAll(client, cluster.serverUris(), n, first, RunContext.CONNECT_CONCURRENCY, null, 60);
        double seconds = (System.nanoTime() - start) / 1e9;
        Map<String, Duration> cpu2 = ctx.cpu(cluster);
        long[] machine2 = Results.machineTicks();
        r.put("connections", n);
        r.put("seconds", Results.round(seconds, 3));
        r.put("connectionsPerSecond", Results.perSecond(n, seconds));
        r.put("connectToReadyMs", Results.percentiles(load.takeConnectMicros()));
        r.put("cpuCoresUsed", Results.cores(cpu1, cpu2, machine1, machine2, seconds));
        ctx.say(String.format(
                "  %s: %,d connections in %.2f s = %,.0f/s; connect to ready p50 %s ms, p99 %s ms",
                label,
                n,
                seconds,
                n / seconds,
                ((Map<?, ?>) r.get("connectToReadyMs")).get("p50"),
                ((Map<?, ?>) r.get("connectToReadyMs")).get("p99")));
        close(load, conns);
        return r;
    }

    /** Closes {@code conns} with a close frame each, closes the scenario expects, and waits (10 s at most). */
    private static void close(Load load, List<Conn> conns) {
        load.expectCloses = true;
        conns.forEach(Conn::closeGracefully);
        long deadline = System.nanoTime() + CLOSE_WAIT.toNanos();
        while (conns.stream().anyMatch(Conn::isOpen) && System.nanoTime() < deadline) {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        load.expectCloses = false;
    }

    /**
     * Idle connections held: {@code n} connections opened and held for {@code hold} with heartbeats answered;
     * memory per connection is the growth of the server process's RSS between {@link #IDLE_BASELINE} connections and
     * {@code n}, each read after a full GC, the gateway started as documented ({@code gateway/jvm.options}: its heap
     * is not touched in advance, so that what the heap takes for the connections shows in the RSS). The growth of the
     * live heap is reported beside it, as the part of it that is Java objects.
     */
    Map<String, Object> idle(LocalCluster.Target target, int n, Duration hold) throws BenchmarkException {
        Map<String, String> env = new LinkedHashMap<>();
        long pingMs = Math.max(1000, hold.toMillis() / 3);
        if (target == LocalCluster.Target.SWITCHBOARD) {
            env.put("SWITCHBOARD_PING_INTERVAL_MS", Long.toString(pingMs));
            env.put("SWITCHBOARD_PING_TIMEOUT_MS", Long.toString(pingMs));
        } else {
            env.put("PING_INTERVAL_MS", Long.toString(pingMs));
            env.put("PING_TIMEOUT_MS", Long.toString(pingMs));
        }
        LocalCluster.Spec spec = new LocalCluster.Spec(target, 1, false, ctx.heap(), ctx.serverEnv(env));
        ctx.say("idle connections on " + spec.describe() + ": " + n + " held for " + hold.toSeconds()
                + " s, heartbeat every " + pingMs + " ms");
        Load load = new Load();
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("target", target.label());
        r.put("setup", spec.describe());
        try (LocalCluster cluster = LocalCluster.start(ctx.repo(), ctx.logDir(), spec);
                WireClient client = new WireClient(dialect(target), ctx.clientThreads(), ctx.nextSourceBlock(), load)) {
            r.put("client", ctx.clientName(client));
            ProcessHandle server = cluster.servers().get(0);
            List<Conn> base = load.connectAll(
                    client, cluster.serverUris(), IDLE_BASELINE, 0, RunContext.CONNECT_CONCURRENCY, null, 60);
            long heap0 = ctx.heapAfterGc(cluster, target);
            long rss0 = rss(server);
            List<Conn> rest = load.connectAll(
                    client,
                    cluster.serverUris(),
                    n - IDLE_BASELINE,
                    IDLE_BASELINE,
                    RunContext.CONNECT_CONCURRENCY,
                    null,
                    120);
            RunContext.pause(hold);
            long heap1 = ctx.heapAfterGc(cluster, target);
            long rss1 = rss(server);
            int held = (int) base.stream().filter(Conn::isOpen).count()
                    + (int) rest.stream().filter(Conn::isOpen).count();
            int minPings = Integer.MAX_VALUE;
            for (List<Conn> l : List.of(base, rest)) {
                for (Conn c : l) {
                    minPings = Math.min(minPings, c.pings);
                }
            }
            long added = n - IDLE_BASELINE;
            r.put("connections", n);
            r.put("held", held);
            r.put("closedDuringHold", load.closedAfterReady.get());
            r.put("firstClose", load.firstClose.get());
            r.put("holdSeconds", hold.toSeconds());
            r.put("fewestHeartbeatsAnswered", minPings);
            r.put("rssMiB", Results.round(rss1 / 1048576.0, 1));
            r.put("rssGrowthBytesPerConnection", Results.round((double) (rss1 - rss0) / added, 0));
            if (heap1 >= 0) {
                r.put("heapLiveBytesPerConnection", Results.round((double) (heap1 - heap0) / added, 0));
            }
            r.put("memoryBytesPerConnection", Results.round((double) (rss1 - rss0) / added, 0));
            r.put("deadProcess", cluster.deadProcess());
            ctx.say(String.format(
                    "  held %,d of %,d (fewest heartbeats answered: %d); %s bytes of RSS per connection"
                            + " (of which live heap %s); RSS %s MiB",
                    held,
                    n,
                    minPings,
                    r.get("memoryBytesPerConnection"),
                    r.get("heapLiveBytesPerConnection"),
                    r.get("rssMiB")));
            load.expectCloses = true;
            base.forEach(Conn::closeGracefully);
            rest.forEach(Conn::closeGracefully);
        }
        return r;
    }

    static Dialect dialect(LocalCluster.Target target) {
        return target == LocalCluster.Target.SWITCHBOARD ? Dialect.SWITCHBOARD : Dialect.SOCKET_IO;
    }

    /** Resident set size of a process, in bytes, from {@code /proc/<pid>/status}. */
    static long rss(ProcessHandle p) throws BenchmarkException {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + p.pid() + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            throw new BenchmarkException("cannot read the RSS of process " + p.pid() + ": " + e.getMessage());
        }
        throw new BenchmarkException("no VmRSS in /proc/" + p.pid() + "/status");
    }
}
