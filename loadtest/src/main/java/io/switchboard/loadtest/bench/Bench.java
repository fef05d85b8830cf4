package io.switchboard.loadtest.bench;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.switchboard.loadtest.BenchmarkException;
import io.switchboard.loadtest.LocalCluster;
import io.switchboard.loadtest.LocalCluster.Target;
import io.switchboard.loadtest.MatchBenchmark;
import io.switchboard.loadtest.Results;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The benchmark runner: one command that starts what it measures on loopback, runs each scenario, stops everything,
 * and writes {@code result.json} and {@code result.md} (a Markdown row and a table) to {@code --out}.
 * Scenarios: {@code idle} (connections held, memory per connection), {@code connect} (connections per second),
 * {@code fanout} (deliveries per second and publish-to-receive latency, one instance and two through Redis),
 * {@code match} (random connect through Redis, {@link MatchBenchmark}), {@code storm} (reconnect storm, nothing
 * lost), {@code gatling} (every Gatling simulation, small); idle, connect and fan-out run against Socket.IO too.
 *
 * <p>Run it with {@code scripts/bench [--quick] [options]}. Exit status: 0 when every scenario ran and nothing
 * was lost, 1 when one failed or lost anything, 2 for a bad command line. Speed never fails a run: the figures are
 * reported, not judged.
 */
public final class Bench {
    public static final int CONNECT_CONCURRENCY = 256;
    static final List<String> SCENARIOS = List.of("idle", "connect", "fanout", "match", "storm", "gatling");
    private static final String PREFIX = "bench: ";
    private static final ObjectMapper JSON = new ObjectMapper();

    static final String USAGE = """
            usage: scripts/bench [--quick] [--only a,b] [--no-socketio] [--jfr] [--heap SIZE] [--client-threads N]
                                 [--idle N] [--connect N] [--subscribers N] [--channels N] [--rates R1,R2]
                                 [--step-seconds S] [--storm N] [--match-users N] [--match-seconds S] [--out DIR]
              --quick           a small run of every scenario: checks that it works and loses nothing
              --only LIST       scenarios to run, of idle,connect,fanout,match,storm,gatling (default all)
              --no-socketio     skip the Socket.IO baseline
              --jfr             record every gateway with Java Flight Recorder (profile) into <out>/logs/jfr/
              --heap SIZE       gateway heap, -Xms and -Xmx (default 1g)
              --client-threads  event-loop threads of the load generator (default 2)
              --idle N          idle connections to hold (default 100000, capped by the open-file limit)
              --connect N       connections opened for the rate (default 15000, capped likewise)
              --subscribers N   fan-out subscribers (default 10000); --channels N channels (default 10)
              --rates LIST      offered deliveries per second, one step each (default 100000,250000,500000,1000000)
              --step-seconds S  measured seconds per fan-out step (default 10)
              --storm N         reconnect-storm clients (default 5000)
              --match-users N   random-connect users (default 400); --match-seconds S (default 20)
              --out DIR         where result.json, result.md and the logs go (default loadtest/target/bench)
            """;

    private final Path repo;
    private final Path outDir;
    private final boolean quick;
    private final String heap;
    private final int clientThreads;
    private final PrintStream out;
    private int sourceBlock;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2)).build();

    private final boolean jfr;

    private Bench(Path repo, Path outDir, boolean quick, String heap, int clientThreads, PrintStream out,
                  boolean jfr) {
        this.jfr = jfr;
        this.repo = repo;
        this.outDir = outDir;
        this.quick = quick;
        this.heap = heap;
        this.clientThreads = clientThreads;
        this.out = out;
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        Map<String, String> o = new LinkedHashMap<>();
        Set<String> flags = new LinkedHashSet<>();
        List<String> problems = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--quick", "--no-socketio", "--jfr" -> flags.add(a);
                case "--help", "-h" -> {
                    out.print(USAGE);
                    return 0;
                }
                case "--only", "--heap", "--client-threads", "--idle", "--connect", "--subscribers", "--channels",
                        "--rates", "--step-seconds", "--storm", "--match-users", "--match-seconds", "--out",
                        "--repo" -> {
                    if (i + 1 >= args.length) {
                        problems.add(a + " needs a value");
                    } else {
                        o.put(a, args[++i]);
                    }
                }
                default -> problems.add("unknown argument " + a + " (--help lists them)");
            }
        }
        boolean quick = flags.contains("--quick");
        Path repo = MatchBenchmark.findRepository(Path.of(o.getOrDefault("--repo", "")).toAbsolutePath());
        if (repo == null) {
            problems.add("cannot find the Switchboard repository from " + Path.of("").toAbsolutePath()
                    + ": run from inside it or pass --repo DIR");
        }
        Set<String> only = new LinkedHashSet<>(SCENARIOS);
        if (o.containsKey("--only")) {
            only = new LinkedHashSet<>(Arrays.asList(o.get("--only").split(",")));
            for (String s : only) {
                if (!SCENARIOS.contains(s)) {
                    problems.add("--only " + s + ": expected some of " + String.join(",", SCENARIOS));
                }
            }
        }
        String heap = o.getOrDefault("--heap", "1g");
        if (!heap.matches("\\d+[kmgKMG]?")) {
            problems.add("--heap " + heap + ": expected a size such as 512m or 2g");
        }
        int threads = number(o, "--client-threads", 2, 1, 64, problems);
        int fdLimit = openFileLimit();
        int cap = Math.max(1000, fdLimit - 1000);
        int idle = Math.min(cap, number(o, "--idle", quick ? 1000 : 100_000, Connections.IDLE_BASELINE + 1,
                10_000_000, problems));
        int connect = Math.min(Math.max(1, cap - Connections.WARM_UP),
                number(o, "--connect", quick ? 1000 : 15_000, 1, 10_000_000, problems));
        int subscribers = Math.min(cap, number(o, "--subscribers", quick ? 200 : 10_000, 1, 10_000_000, problems));
        int channels = number(o, "--channels", quick ? 4 : 10, 1, 10_000, problems);
        int stepSeconds = number(o, "--step-seconds", quick ? 2 : 10, 1, 3600, problems);
        List<Long> rates = new ArrayList<>();
        for (String r : o.getOrDefault("--rates", quick ? "4000" : "100000,250000,500000,1000000").split(",")) {
            try {
                long rate = Long.parseLong(r.strip());
                if (rate < 1) {
                    throw new NumberFormatException();
                }
                rates.add(rate);
            } catch (NumberFormatException e) {
                problems.add("--rates " + r + ": expected deliveries per second, at least 1, such as 100000");
            }
        }
        int storm = Math.min(cap, number(o, "--storm", quick ? 200 : 5000, 1, 10_000_000, problems));
        int matchUsers = number(o, "--match-users", quick ? 40 : 400, 2, 1_000_000, problems);
        int matchSeconds = number(o, "--match-seconds", quick ? 3 : 20, 1, 3600, problems);
        if (subscribers < channels) {
            problems.add("--subscribers " + subscribers + " is less than --channels " + channels);
        }
        if (!problems.isEmpty()) {
            problems.forEach(p -> err.println(PREFIX + p));
            err.print(USAGE);
            return 2;
        }
        Path outDir = repo.resolve(o.getOrDefault("--out", "loadtest/target/bench"));
        Bench b = new Bench(repo, outDir, quick, heap, threads, out, flags.contains("--jfr"));
        boolean socketIo = !flags.contains("--no-socketio");

        Map<String, Object> result = new LinkedHashMap<>();
        result.put("startedAt", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        result.put("quick", quick);
        result.put("machine", Results.machine());
        result.put("openFileLimit", fdLimit);
        result.put("commandLine", String.join(" ", args));
        Map<String, Object> scenarios = new LinkedHashMap<>();
        result.put("scenarios", scenarios);
        List<String> failures = new ArrayList<>();
        if (idle < number(o, "--idle", quick ? 1000 : 100_000, 1, 10_000_000, new ArrayList<>())) {
            b.say("the open-file limit is " + fdLimit + ": idle connections capped at " + idle
                    + " (raise it with ulimit -n; scripts/bench raises it to the hard limit)");
        }
        try {
            if (socketIo && (only.contains("idle") || only.contains("connect") || only.contains("fanout"))) {
                b.installSocketIo();
            }
            List<Target> targets = socketIo ? List.of(Target.SWITCHBOARD, Target.SOCKET_IO)
                    : List.of(Target.SWITCHBOARD);
            Connections connections = new Connections(b);
            if (only.contains("idle")) {
                Map<String, Object> s = new LinkedHashMap<>();
                for (Target t : targets) {
                    s.put(t.label(), b.guard(failures, "idle " + t.label(),
                            () -> connections.idle(t, idle, Duration.ofSeconds(quick ? 3 : 30))));
                }
                scenarios.put("idle", s);
            }
            if (only.contains("connect")) {
                Map<String, Object> s = new LinkedHashMap<>();
                for (Target t : targets) {
                    s.put(t.label(), b.guard(failures, "connect " + t.label(), () -> connections.rate(t, connect)));
                }
                scenarios.put("connect", s);
            }
            if (only.contains("fanout")) {
                FanOut.FanOutOptions fo = new FanOut.FanOutOptions(subscribers, channels, rates,
                        Duration.ofSeconds(quick ? 1 : 15), Duration.ofSeconds(quick ? 1 : 3),
                        Duration.ofSeconds(stepSeconds));
                Map<String, Object> s = new LinkedHashMap<>();
                for (int servers : List.of(1, 2)) {
                    for (Target t : targets) {
                        s.put(t.label() + "-" + servers, b.guard(failures, "fan-out " + t.label() + " x" + servers,
                                () -> new FanOut(b, t, servers, fo).run()));
                    }
                }
                scenarios.put("fanout", s);
            }
            if (only.contains("match")) {
                scenarios.put("match", b.guard(failures, "match", () -> b.match(matchUsers, matchSeconds)));
            }
            if (only.contains("storm")) {
                scenarios.put("storm", b.guard(failures, "storm",
                        () -> new Storm(b, storm, quick ? 2 : 10, quick ? 50 : 10,
                                Duration.ofSeconds(quick ? 1 : 5)).run()));
            }
            if (only.contains("gatling")) {
                scenarios.put("gatling", b.guard(failures, "gatling", b::gatling));
            }
        } catch (BenchmarkException e) {
            failures.add(e.getMessage());
        }
        failures.addAll(Verdict.problems(scenarios, quick));
        result.put("failures", failures);
        result.put("summary", Verdict.summary(scenarios));
        try {
            Results.write(outDir.resolve("result.json"), result);
            Files.writeString(outDir.resolve("result.md"), Verdict.markdown(result), StandardCharsets.UTF_8);
        } catch (BenchmarkException | IOException e) {
            err.println(PREFIX + "cannot write the result: " + e.getMessage());
            return 1;
        }
        out.println();
        out.print(Verdict.markdown(result));
        out.println(PREFIX + "result in " + outDir.resolve("result.json") + " and result.md; logs in " + b.logDir());
        if (!failures.isEmpty()) {
            failures.forEach(f -> err.println(PREFIX + "FAILED: " + f));
            return 1;
        }
        return 0;
    }

    /** A scenario's body, which may fail with a line to report. */
    interface Scenario {
        Map<String, Object> run() throws BenchmarkException;
    }

    /** Runs one scenario; a failure is recorded and the run goes on with the next. */
    private Map<String, Object> guard(List<String> failures, String name, Scenario s) {
        try {
            return s.run();
        } catch (RuntimeException e) {
            // A bug of the benchmark, not a finding: keep the trace.
            e.printStackTrace();
            failures.add(name + ": " + e);
            return Map.of("failed", e.toString());
        } catch (BenchmarkException e) {
            failures.add(name + ": " + e.getMessage());
            say(name + " failed: " + e.getMessage());
            return Map.of("failed", String.valueOf(e.getMessage()));
        }
    }

    private Map<String, Object> match(int users, int seconds) throws BenchmarkException {
        Path file = outDir.resolve("match.json");
        List<String> args = new ArrayList<>(List.of("--repo", repo.toString(), "--out", file.toString()));
        if (quick) {
            args.add("--quick");
        } else {
            args.addAll(List.of("--users", Integer.toString(users), "--seconds", Integer.toString(seconds)));
        }
        say("random connect through Redis: MatchBenchmark " + String.join(" ", args));
        int code = MatchBenchmark.run(args.toArray(String[]::new), out, out);
        if (code != 0) {
            throw new BenchmarkException("MatchBenchmark exited with " + code + " (its lines above say why)");
        }
        try {
            return JSON.readValue(file.toFile(), new TypeReference<LinkedHashMap<String, Object>>() { });
        } catch (IOException e) {
            throw new BenchmarkException("cannot read " + file + ": " + e.getMessage());
        }
    }

    private Map<String, Object> gatling() throws BenchmarkException {
        return GatlingScenarios.run(this);
    }

    /** Installs the Socket.IO server's packages with npm when they are missing. */
    private void installSocketIo() throws BenchmarkException {
        Path dir = repo.resolve(LocalCluster.SOCKET_IO_SERVER).getParent();
        if (Files.isDirectory(dir.resolve("node_modules"))) {
            return;
        }
        String npm = LocalCluster.onPath("npm").map(Path::toString).orElseThrow(() -> new BenchmarkException(
                "npm is not on the PATH: install Node.js 20 or later with npm, or pass --no-socketio"));
        Path log = logDir().resolve("npm-ci.log");
        say("installing the Socket.IO server's packages: npm ci in " + dir + " (log " + log + ")");
        try {
            Files.createDirectories(logDir());
            Process p = new ProcessBuilder(npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error")
                    .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new BenchmarkException("npm ci in " + dir + " failed; " + log + " ends with:\n"
                        + LocalCluster.tail(log));
            }
        } catch (IOException e) {
            throw new BenchmarkException("cannot run npm: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BenchmarkException("interrupted during npm ci");
        }
    }

    // What scenarios share.

    Path repo() {
        return repo;
    }

    Path logDir() {
        return outDir.resolve("logs");
    }

    Path outDir() {
        return outDir;
    }

    boolean quick() {
        return quick;
    }

    String heap() {
        return heap;
    }

    int clientThreads() {
        return clientThreads;
    }

    /**
     * The environment of the gateways a scenario starts: {@code env}, plus a Flight Recorder recording of each
     * (profile settings, written to {@code <out>/logs/jfr/} when the gateway stops) under {@code --jfr}.
     */
    Map<String, String> serverEnv(Map<String, String> env) {
        if (!jfr) {
            return env;
        }
        Path dir = logDir().resolve("jfr");
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            say("cannot create " + dir + ": " + e.getMessage() + "; no recording");
            return env;
        }
        Map<String, String> with = new LinkedHashMap<>(env);
        String recording = "-XX:StartFlightRecording=settings=profile,filename=" + dir + "/";
        with.merge("JAVA_TOOL_OPTIONS", recording, (a, c) -> a + " " + c);
        return with;
    }

    /** A new third byte of loopback source addresses for each load generator of the run. */
    synchronized int nextSourceBlock() {
        sourceBlock = sourceBlock % 250 + 1;
        return sourceBlock;
    }

    String clientName(WireClient client) {
        return "bench WireClient: plain Netty " + client.transport() + ", " + clientThreads
                + " event-loop thread(s), same machine, byte scan per delivery";
    }

    void say(String line) {
        out.println(PREFIX + line);
    }

    /** CPU time used so far by this JVM (the load generator), Redis and each server. */
    Map<String, Duration> cpu(LocalCluster cluster) {
        Map<String, Duration> cpu = new LinkedHashMap<>();
        cpu.put("client", ProcessHandle.current().info().totalCpuDuration().orElse(Duration.ZERO));
        cluster.cpu().forEach((name, d) -> cpu.put(name.equals("redis") ? name : "server " + name, d));
        return cpu;
    }

    /**
     * The live heap of the (first) gateway after a full GC ({@code jcmd GC.run}), from its {@code /metrics}; -1 for
     * Socket.IO.
     */
    long heapAfterGc(LocalCluster cluster, Target target) throws BenchmarkException {
        if (target != Target.SWITCHBOARD) {
            return -1;
        }
        ProcessHandle server = cluster.servers().get(0);
        String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
        try {
            Process p = new ProcessBuilder(jcmd, Long.toString(server.pid()), "GC.run").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new BenchmarkException("jcmd " + server.pid() + " GC.run failed");
            }
            URI metrics = URI.create(cluster.serverUris().get(0) + "/metrics");
            String body = http.send(HttpRequest.newBuilder(metrics).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            long used = 0;
            for (String line : body.split("\n")) {
                if (line.startsWith("jvm_memory_used_bytes{") && line.contains("area=\"heap\"")) {
                    used += (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                }
            }
            return used;
        } catch (IOException e) {
            throw new BenchmarkException("cannot read the gateway's heap: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BenchmarkException("interrupted");
        }
    }

    static void pause(Duration d) throws BenchmarkException {
        try {
            TimeUnit.NANOSECONDS.sleep(d.toNanos());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BenchmarkException("interrupted");
        }
    }

    private static int number(Map<String, String> o, String name, int otherwise, int min, int max,
                              List<String> problems) {
        String v = o.get(name);
        if (v == null) {
            return otherwise;
        }
        try {
            int n = Integer.parseInt(v);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        problems.add(name + " " + v + ": expected a whole number from " + min + " to " + max);
        return otherwise;
    }

    /** The soft limit of open files of this process (its children inherit it). */
    public static int openFileLimit() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (line.startsWith("Max open files")) {
                    String[] f = line.substring("Max open files".length()).trim().split("\\s+");
                    return f[0].equals("unlimited") ? Integer.MAX_VALUE : Integer.parseInt(f[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return 4096;
    }
}
