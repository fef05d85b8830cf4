package io.switchboard.loadtest.scenario;

import io.switchboard.loadtest.cluster.LocalCluster;
import io.switchboard.loadtest.cluster.LocalCluster.Target;
import io.switchboard.loadtest.result.BenchmarkException;
import io.switchboard.loadtest.wire.WireClient;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * What the scenarios of one run share: where the repository, the results and the logs are, the run's settings
 * (quick, gateway heap, load-generator threads, Flight Recorder), the console, and the measurements every scenario
 * takes the same way (CPU time, live heap).
 */
final class RunContext {
    /** Handshakes in flight at once when a scenario opens many connections. */
    static final int CONNECT_CONCURRENCY = 256;

    private static final String PREFIX = "bench: ";

    private final Path repo;
    private final Path outDir;
    private final boolean quick;
    private final String heap;
    private final int clientThreads;
    private final boolean jfr;
    private final PrintStream out;
    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2))
            .build();
    private int sourceBlock;
    /** Settings of {@code --gateway-env}, given to every gateway; a scenario's own win over them. */
    private final Map<String, String> gatewayEnv;

    RunContext(
            Path repo,
            Path outDir,
            boolean quick,
            String heap,
            int clientThreads,
            boolean jfr,
            Map<String, String> gatewayEnv,
            PrintStream out) {
        this.repo = repo;
        this.gatewayEnv = Map.copyOf(gatewayEnv);
        this.outDir = outDir;
        this.quick = quick;
        this.heap = heap;
        this.clientThreads = clientThreads;
        this.jfr = jfr;
        this.out = out;
    }

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

    PrintStream out() {
        return out;
    }

    /**
     * The environment of the gateways a scenario starts: {@code env}, plus a Flight Recorder recording of each
     * (profile settings, written to {@code <out>/logs/jfr/} when the gateway stops) under {@code --jfr}.
     */
    Map<String, String> serverEnv(Map<String, String> scenarioEnv) {
        Map<String, String> env = new LinkedHashMap<>(gatewayEnv);
        scenarioEnv.forEach((k, v) -> env.merge(k, v, (a, b) -> k.equals("JAVA_TOOL_OPTIONS") ? a + " " + b : b));
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
            Process p = new ProcessBuilder(jcmd, Long.toString(server.pid()), "GC.run")
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new BenchmarkException("jcmd " + server.pid() + " GC.run failed");
            }
            URI metrics = URI.create(cluster.serverUris().get(0) + "/metrics");
            String body = http.send(
                            HttpRequest.newBuilder(metrics)
                                    .timeout(Duration.ofSeconds(10))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString())
                    .body();
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
}
