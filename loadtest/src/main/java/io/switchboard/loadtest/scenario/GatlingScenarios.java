package io.switchboard.loadtest.scenario;

import io.switchboard.loadtest.cluster.LocalCluster;
import io.switchboard.loadtest.gatling.ConnectAndHoldSimulation;
import io.switchboard.loadtest.gatling.FanOutSimulation;
import io.switchboard.loadtest.gatling.GatlingLauncher;
import io.switchboard.loadtest.gatling.RandomConnectChurnSimulation;
import io.switchboard.loadtest.gatling.ReconnectStormSimulation;
import io.switchboard.loadtest.result.BenchmarkException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The Gatling scenario of the runner: starts one gateway (embedded, heartbeat every 2 s so that the hold sees
 * pings answered) and runs every Gatling simulation against it, each in its own JVM
 * ({@link GatlingLauncher}), in quick mode when the run is {@code --quick}. A simulation fails when one of its
 * assertions does (they check correctness only); the result names each simulation's HTML report.
 */
final class GatlingScenarios {
    static final List<Class<?>> SIMULATIONS = List.of(
            ConnectAndHoldSimulation.class,
            FanOutSimulation.class,
            RandomConnectChurnSimulation.class,
            ReconnectStormSimulation.class);

    private GatlingScenarios() {}

    static Map<String, Object> run(RunContext ctx) throws BenchmarkException {
        LocalCluster.Spec spec = new LocalCluster.Spec(
                LocalCluster.Target.SWITCHBOARD,
                1,
                false,
                ctx.heap(),
                ctx.serverEnv(Map.of("SWITCHBOARD_PING_INTERVAL_MS", "2000", "SWITCHBOARD_PING_TIMEOUT_MS", "1000")));
        ctx.say("Gatling simulations against " + spec.describe() + (ctx.quick() ? ", quick" : ""));
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("setup", spec.describe() + ", heartbeat every 2 s");
        r.put("client", "Gatling " + gatlingVersion() + " (Java DSL), one forked JVM per simulation");
        Path results = ctx.outDir().resolve("gatling");
        List<String> failed = new ArrayList<>();
        Map<String, Object> each = new LinkedHashMap<>();
        try (LocalCluster cluster = LocalCluster.start(ctx.repo(), ctx.logDir(), spec)) {
            for (Class<?> simulation : SIMULATIONS) {
                String name = simulation.getSimpleName();
                Map<String, String> props = Map.of(
                        "gateway", cluster.serverUris().get(0).toString(), "quick", Boolean.toString(ctx.quick()));
                long start = System.nanoTime();
                int code;
                try {
                    code = GatlingLauncher.run(simulation.getName(), props, results);
                } catch (IOException e) {
                    throw new BenchmarkException("cannot run Gatling: " + e.getMessage());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new BenchmarkException("interrupted during " + name);
                }
                Map<String, Object> s = new LinkedHashMap<>();
                s.put("exitCode", code);
                s.put("passed", code == 0);
                s.put("seconds", (System.nanoTime() - start) / 1_000_000_000L);
                s.put("report", latestReport(results, name));
                s.put("log", results.resolve(name + ".log").toString());
                each.put(name, s);
                ctx.say("  " + name + ": "
                        + (code == 0
                                ? "passed"
                                : "FAILED with exit code " + code + "; see " + results.resolve(name + ".log"))
                        + (s.get("report") == null ? "" : ", report " + s.get("report")));
                if (code != 0) {
                    failed.add(name);
                }
            }
            r.put("deadProcess", cluster.deadProcess());
        }
        r.put("simulations", SIMULATIONS.size());
        r.put("simulationsPassed", SIMULATIONS.size() - failed.size());
        r.put("simulationsFailed", failed.size());
        r.put("failedSimulations", failed);
        r.put("runs", each);
        return r;
    }

    /** The newest report folder of a simulation (Gatling names them {@code <simulation>-<timestamp>}), or null. */
    private static String latestReport(Path results, String simulation) {
        String prefix = simulation.toLowerCase();
        try (Stream<Path> dirs = Files.list(results)) {
            return dirs.filter(Files::isDirectory)
                    .filter(d -> d.getFileName().toString().toLowerCase().startsWith(prefix))
                    .max(Comparator.comparing(d -> d.getFileName().toString()))
                    .map(d -> d.resolve("index.html").toString())
                    .orElse(null);
        } catch (IOException e) {
            return null;
        }
    }

    private static String gatlingVersion() {
        Package p = io.gatling.javaapi.core.CoreDsl.class.getPackage();
        return p.getImplementationVersion() == null ? "3.15.1" : p.getImplementationVersion();
    }
}
