package io.switchboard.loadtest.match;

import io.switchboard.loadtest.cluster.LocalCluster;
import io.switchboard.loadtest.result.BenchmarkException;
import io.switchboard.loadtest.result.Results;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardClientOptions;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The random-connect benchmark: starts one {@code redis-server} and two gateways from the packaged jar on
 * loopback ({@link LocalCluster}), connects {@code --users} guest clients over WebSocket (half on each gateway,
 * so most matches cross instances through Redis), lets each loop through join, match, signal and leave
 * ({@link MatchUser}) for {@code --seconds}, and reports matches per second, time to match (from the join's ack
 * to its {@code match.found}) and errors, on the console and as JSON in {@code --out}.
 *
 * <p>Run it with {@code mvn -B -q -pl loadtest exec:java -Dexec.args="--quick"} after
 * {@code mvn -B -q -DskipTests install}. Exit status: 0 when it measured matches without errors beyond
 * {@code --max-errors}, 1 when the run failed, 2 for a bad command line.
 */
public final class MatchBenchmark {
    /** Gateways started, on one Redis. */
    public static final int GATEWAYS = 2;

    public static final String CLIENT = "switchboard-java SwitchboardClient on reactor-netty, same machine";
    /** Handshakes in flight at once while connecting the users. */
    public static final int CONNECT_CONCURRENCY = 32;
    /** Time for one client's TCP and WebSocket handshakes and its {@code welcome}. */
    public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(20);
    /** After the measured time, how long users in the middle of a step may finish it before connections close. */
    public static final Duration DRAIN = Duration.ofSeconds(5);
    /** How often the main thread checks for users without progress. */
    public static final Duration CHECK_PERIOD = Duration.ofMillis(500);
    /** How often progress is printed during the run. */
    public static final Duration REPORT_PERIOD = Duration.ofSeconds(5);

    /** Cores used by other processes during the measurement above which the summary says so. */
    public static final double OTHER_CPU_NOTE = 0.1;

    private static final String PREFIX = "match-benchmark: ";

    private MatchBenchmark() {}

    public static void main(String[] args) {
        // Always exit explicitly: under exec:java the Maven JVM would otherwise outlive a failed run's threads.
        System.exit(run(args, System.out, System.err));
    }

    public static int run(String[] args, PrintStream out, PrintStream err) {
        MatchBenchmarkOptions options;
        try {
            options = MatchBenchmarkOptions.parse(args, Path.of("").toAbsolutePath());
        } catch (MatchBenchmarkOptions.BadArgumentsException e) {
            if (e.problems().isEmpty()) {
                out.print(MatchBenchmarkOptions.USAGE);
                return 0;
            }
            e.problems().forEach(p -> err.println(PREFIX + p));
            err.print(MatchBenchmarkOptions.USAGE);
            return 2;
        }
        try {
            Map<String, Object> result = measure(options, out);
            Results.write(options.out(), result);
            printSummary(result, options, out);
            return verdict(result, options, err);
        } catch (BenchmarkException e) {
            err.println(PREFIX + "failed: " + e.getMessage());
            return 1;
        }
    }

    private static Map<String, Object> measure(MatchBenchmarkOptions options, PrintStream out)
            throws BenchmarkException {
        Path logDir = options.repo().resolve("loadtest/target/match-benchmark-logs");
        out.println(PREFIX + "starting redis-server and " + GATEWAYS + " gateways (logs in " + logDir + ")");
        try (LocalCluster cluster = LocalCluster.start(
                options.repo(),
                logDir,
                new LocalCluster.Spec(LocalCluster.Target.SWITCHBOARD, GATEWAYS, true, "1g", Map.of()))) {
            MatchStats stats = new MatchStats();
            AtomicBoolean running = new AtomicBoolean(true);
            List<MatchUser> users = connect(cluster.webSocketUris(), options, stats, running, out);
            try {
                return loop(cluster, users, options, stats, running, out);
            } finally {
                users.forEach(MatchUser::stop);
                Flux.fromIterable(users)
                        .flatMap(
                                u -> u.client()
                                        .close(1000, "benchmark over")
                                        .timeout(Duration.ofSeconds(5))
                                        .onErrorResume(e -> Mono.empty()),
                                64)
                        .blockLast(Duration.ofSeconds(60));
            }
        }
    }

    private static List<MatchUser> connect(
            List<URI> uris, MatchBenchmarkOptions options, MatchStats stats, AtomicBoolean running, PrintStream out)
            throws BenchmarkException {
        List<MatchUser> users = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger failures = new AtomicInteger();
        AtomicReference<String> firstFailure = new AtomicReference<>();
        long start = System.nanoTime();
        Flux.range(0, options.users())
                .flatMap(
                        i -> {
                            URI uri = uris.get(i % uris.size());
                            SwitchboardClientOptions client = new SwitchboardClientOptions(
                                    uri,
                                    null,
                                    "switchboard-match-benchmark",
                                    true,
                                    true,
                                    CONNECT_TIMEOUT,
                                    SwitchboardClientOptions.DEFAULT_MAX_FRAME_PAYLOAD_LENGTH);
                            return SwitchboardClient.connect(client)
                                    .doOnNext(c -> users.add(new MatchUser(c, options, stats, running::get)))
                                    .onErrorResume(e -> {
                                        failures.incrementAndGet();
                                        firstFailure.compareAndSet(null, uri + ": " + e);
                                        return Mono.empty();
                                    });
                        },
                        CONNECT_CONCURRENCY)
                .blockLast(CONNECT_TIMEOUT.multipliedBy(1 + options.users() / CONNECT_CONCURRENCY));
        if (failures.get() > 0) {
            users.forEach(u -> u.client().close());
            throw new BenchmarkException(failures.get() + " of " + options.users()
                    + " clients could not connect; the first: " + firstFailure.get());
        }
        Map<String, Long> perNode = users.stream()
                .collect(Collectors.groupingBy(u -> u.client().welcome().node(), TreeMap::new, Collectors.counting()));
        out.println(PREFIX + "connected " + users.size() + " guests " + perNode + " in "
                + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms");
        return List.copyOf(users);
    }

    private static Map<String, Object> loop(
            LocalCluster cluster,
            List<MatchUser> users,
            MatchBenchmarkOptions options,
            MatchStats stats,
            AtomicBoolean running,
            PrintStream out)
            throws BenchmarkException {
        long begin = System.nanoTime();
        long windowStart = begin + options.warmup().toNanos();
        long windowEnd = windowStart + options.duration().toNanos();
        stats.window(windowStart, windowEnd);
        out.println(PREFIX + "looping for " + options.warmup().toSeconds() + " s of warm-up, then "
                + options.duration().toSeconds() + " s measured");
        users.forEach(MatchUser::start);
        runUntil(windowStart, users, stats, null, out);
        Map<String, Duration> cpuBefore = cpu(cluster);
        long[] machineBefore = Results.machineTicks();
        runUntil(windowEnd, users, stats, windowStart, out);
        Map<String, Duration> cpuAfter = cpu(cluster);
        long[] machineAfter = Results.machineTicks();
        running.set(false);
        long drainEnd = System.nanoTime() + DRAIN.toNanos();
        while (System.nanoTime() - drainEnd < 0 && !users.stream().allMatch(MatchUser::settled)) {
            sleep(Duration.ofMillis(50));
        }
        String dead = cluster.deadProcess();
        double gatewayMatches = cluster.metricSum("switchboard_match_made_total");

        double seconds = options.duration().toNanos() / 1e9;
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("benchmark", "random-connect matchmaking");
        r.put(
                "startedAt",
                Instant.now()
                        .minusNanos(System.nanoTime() - begin)
                        .truncatedTo(ChronoUnit.SECONDS)
                        .toString());
        r.put("machine", Results.machine());
        r.put(
                "setup",
                "redis-server (no persistence) and " + GATEWAYS
                        + " gateway JVMs (java -jar, cluster mode) on loopback, same machine as the clients");
        r.put("users", options.users());
        r.put("seconds", options.duration().toSeconds());
        r.put("warmupSeconds", options.warmup().toSeconds());
        r.put("mode", options.mode().name().toLowerCase());
        r.put("signal", options.signal());
        r.put("interests", options.interests());
        r.put("matches", stats.matches());
        r.put("matchesPerSecond", Results.round(stats.matches() / seconds, 1));
        r.put("joins", stats.joins());
        r.put("signals", stats.signals());
        r.put("timeToMatchMs", Results.percentiles(stats.timeToMatchMicros()));
        r.put("foundBeforeAck", stats.foundBeforeAckCount());
        r.put("joinAckMs", Results.percentiles(stats.joinAckMicros()));
        r.put("errors", stats.errors());
        r.put("errorsByKind", stats.errorsByKind());
        // Not errors of the run (the loop copes), but what a client of the gateway must be ready for.
        r.put("protocolAnomalies", Map.of("matchSignalBeforeMatchFound", stats.signalBeforeFoundCount()));
        r.put("gatewayMatchesMadeWholeRun", gatewayMatches < 0 ? null : (long) gatewayMatches);
        Map<String, Object> cores = Results.cores(cpuBefore, cpuAfter, machineBefore, machineAfter, seconds);
        r.put("cpuCoresUsed", cores);
        r.put("deadProcess", dead);
        r.put("client", CLIENT);
        return r;
    }

    /** Sleeps until {@code until}, checking progress, and prints counts every {@link #REPORT_PERIOD}. */
    private static void runUntil(long until, List<MatchUser> users, MatchStats stats, Long windowStart, PrintStream out)
            throws BenchmarkException {
        long nextReport = System.nanoTime() + REPORT_PERIOD.toNanos();
        long now;
        while ((now = System.nanoTime()) - until < 0) {
            sleep(Duration.ofNanos(Math.min(CHECK_PERIOD.toNanos(), until - now)));
            now = System.nanoTime();
            for (MatchUser u : users) {
                u.checkProgress(now);
            }
            if (windowStart != null && now - nextReport >= 0 && until - now > CHECK_PERIOD.toNanos()) {
                nextReport += REPORT_PERIOD.toNanos();
                out.printf(
                        "%s  %2d s: %d matches, %d errors%n",
                        PREFIX, TimeUnit.NANOSECONDS.toSeconds(now - windowStart), stats.matches(), stats.errors());
            }
        }
    }

    /** CPU time used so far by this JVM (the clients) and by each process of the cluster. */
    private static Map<String, Duration> cpu(LocalCluster cluster) {
        Map<String, Duration> cpu = new LinkedHashMap<>();
        cpu.put("client", ProcessHandle.current().info().totalCpuDuration().orElse(Duration.ZERO));
        cpu.putAll(cluster.cpu());
        return cpu;
    }

    @SuppressWarnings("unchecked")
    private static void printSummary(Map<String, Object> r, MatchBenchmarkOptions options, PrintStream out) {
        Map<String, Object> machine = (Map<String, Object>) r.get("machine");
        Map<String, Object> ttm = (Map<String, Object>) r.get("timeToMatchMs");
        Map<String, Object> ack = (Map<String, Object>) r.get("joinAckMs");
        out.println();
        out.printf(
                "Switchboard random-connect benchmark: %d users on %d gateways (one Redis), %d s measured after"
                        + " %d s warm-up, mode %s, signal %s%n",
                options.users(),
                GATEWAYS,
                options.duration().toSeconds(),
                options.warmup().toSeconds(),
                r.get("mode"),
                options.signal() ? "on" : "off");
        out.printf(
                "  machine        %s cores%s, %s%n",
                machine.get("cores"),
                machine.containsKey("cpu") ? " (" + machine.get("cpu") + ")" : "",
                machine.get("jvm"));
        out.printf(
                "  matches        %s in %d s = %s/s (%s joins; gateways counted %s matches over the whole run)%n",
                r.get("matches"),
                options.duration().toSeconds(),
                r.get("matchesPerSecond"),
                r.get("joins"),
                r.get("gatewayMatchesMadeWholeRun"));
        out.printf(
                "  time to match  p50 %s ms  p99 %s ms  p99.9 %s ms  max %s ms  (%s samples, join ack to"
                        + " match.found; %s found before the ack counted as 0)%n",
                ttm.get("p50"),
                ttm.get("p99"),
                ttm.get("p999"),
                ttm.get("max"),
                ttm.get("samples"),
                r.get("foundBeforeAck"));
        out.printf(
                "  join ack       p50 %s ms  p99 %s ms  p99.9 %s ms  max %s ms%n",
                ack.get("p50"), ack.get("p99"), ack.get("p999"), ack.get("max"));
        out.printf(
                "  errors         %s%s%n",
                r.get("errors"), ((Map<?, ?>) r.get("errorsByKind")).isEmpty() ? "" : " " + r.get("errorsByKind"));
        long early = (Long) ((Map<String, Object>) r.get("protocolAnomalies")).get("matchSignalBeforeMatchFound");
        if (early > 0) {
            out.printf(
                    "  anomaly        %d match.signal frame(s) reached a user before its own match.found of that"
                            + " match (kept for it by this client; a client that drops them would stall)%n",
                    early);
        }
        Map<String, Object> cpu = (Map<String, Object>) r.get("cpuCoresUsed");
        out.printf("  CPU (cores)    %s of %s%n", cpu, machine.get("cores"));
        if (cpu.get("otherProcesses") instanceof Double other && other >= OTHER_CPU_NOTE) {
            out.printf(
                    "  note           other processes used %s cores during the measurement: the machine was"
                            + " shared, so these figures are lower than it can do%n",
                    other);
        }
        out.printf("  client         %s%n", CLIENT);
        out.printf("  result         %s%n", options.out());
    }

    private static int verdict(Map<String, Object> r, MatchBenchmarkOptions options, PrintStream err) {
        if (r.get("deadProcess") != null) {
            err.println(PREFIX + "failed: " + r.get("deadProcess"));
            return 1;
        }
        long matches = (Long) r.get("matches");
        if (matches == 0) {
            err.println(
                    PREFIX + "failed: no match at all in " + options.duration().toSeconds() + " s ("
                            + r.get("errors") + " errors " + r.get("errorsByKind") + "); see the logs in "
                            + options.repo().resolve("loadtest/target/match-benchmark-logs"));
            return 1;
        }
        long errors = (Long) r.get("errors");
        if (errors > options.maxErrors()) {
            err.println(PREFIX + "failed: " + errors + " errors, more than --max-errors " + options.maxErrors() + ": "
                    + r.get("errorsByKind"));
            return 1;
        }
        return 0;
    }

    private static void sleep(Duration d) throws BenchmarkException {
        try {
            Thread.sleep(Math.max(0, d.toMillis()), (int) (d.toNanos() % 1_000_000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BenchmarkException("interrupted");
        }
    }
}
