package io.switchboard.loadtest.bench;

import io.switchboard.loadtest.cluster.LocalCluster;
import io.switchboard.loadtest.cluster.LocalCluster.Target;
import io.switchboard.loadtest.result.BenchmarkException;
import io.switchboard.loadtest.result.Results;
import io.switchboard.loadtest.scenario.Scenarios;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The benchmark runner: one command that starts what it measures on loopback, runs each scenario, stops everything,
 * and writes {@code result.json} and {@code result.md} (a Markdown row and a table) to {@code --out}.
 * Scenarios ({@link Scenarios}): {@code idle} (connections held, memory per connection), {@code connect}
 * (connections per second), {@code fanout} (deliveries per second and publish-to-receive latency, one instance and
 * two through Redis), {@code match} (random connect through Redis), {@code storm} (reconnect storm, nothing
 * lost), {@code presence} (join/leave churn, exact counts, a storm in a big channel), {@code hooks} (the cost of a
 * publish hook on fan-out, and webhook event throughput embedded and clustered), {@code gatling} (every Gatling simulation, small); idle, connect and fan-out run against Socket.IO too.
 *
 * <p>Run it with {@code scripts/bench [--quick] [options]} ({@link BenchOptions}). Exit status: 0 when every
 * scenario ran and nothing was lost, 1 when one failed or lost anything, 2 for a bad command line. Speed never fails
 * a run ({@link Verdict}): the figures are reported, not judged.
 */
public final class Bench {
    private static final String PREFIX = "bench: ";

    private Bench() {}

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        BenchOptions o;
        try {
            o = BenchOptions.parse(args, Path.of("").toAbsolutePath(), LocalCluster.openFileLimit());
        } catch (BenchOptions.BadArgumentsException e) {
            if (e.help()) {
                out.print(BenchOptions.USAGE);
                return 0;
            }
            e.problems().forEach(p -> err.println(PREFIX + p));
            err.print(BenchOptions.USAGE);
            return 2;
        }
        boolean quick = o.quick();
        Scenarios b =
                new Scenarios(o.repo(), o.outDir(), quick, o.heap(), o.clientThreads(), o.jfr(), o.gatewayEnv(), out);

        Map<String, Object> result = new LinkedHashMap<>();
        result.put("startedAt", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        result.put("quick", quick);
        result.put("machine", Results.machine());
        result.put("openFileLimit", o.openFileLimit());
        result.put("commandLine", String.join(" ", args));
        Map<String, Object> scenarios = new LinkedHashMap<>();
        result.put("scenarios", scenarios);
        List<String> failures = new ArrayList<>();
        if (o.idleCapped()) {
            b.say("the open-file limit is " + o.openFileLimit() + ": idle connections capped at " + o.idle()
                    + " (raise it with ulimit -n; scripts/bench raises it to the hard limit)");
        }
        try {
            if (o.socketIo()
                    && (o.only().contains("idle")
                            || o.only().contains("connect")
                            || o.only().contains("fanout"))) {
                b.installSocketIo();
            }
            List<Target> targets =
                    o.socketIo() ? List.of(Target.SWITCHBOARD, Target.SOCKET_IO) : List.of(Target.SWITCHBOARD);
            if (o.only().contains("idle")) {
                Map<String, Object> s = new LinkedHashMap<>();
                for (Target t : targets) {
                    s.put(
                            t.label(),
                            guard(
                                    b,
                                    failures,
                                    "idle " + t.label(),
                                    () -> b.idle(t, o.idle(), Duration.ofSeconds(quick ? 3 : 30))));
                }
                scenarios.put("idle", s);
            }
            if (o.only().contains("connect")) {
                Map<String, Object> s = new LinkedHashMap<>();
                for (Target t : targets) {
                    s.put(t.label(), guard(b, failures, "connect " + t.label(), () -> b.connect(t, o.connect())));
                }
                scenarios.put("connect", s);
            }
            if (o.only().contains("fanout")) {
                Map<String, Object> s = new LinkedHashMap<>();
                for (int servers : List.of(1, 2)) {
                    for (Target t : targets) {
                        s.put(
                                t.label() + "-" + servers,
                                guard(
                                        b,
                                        failures,
                                        "fan-out " + t.label() + " x" + servers,
                                        () -> b.fanOut(
                                                t,
                                                servers,
                                                o.subscribers(),
                                                o.channels(),
                                                o.rates(),
                                                Duration.ofSeconds(quick ? 1 : 15),
                                                Duration.ofSeconds(quick ? 1 : 3),
                                                Duration.ofSeconds(o.stepSeconds()))));
                    }
                }
                scenarios.put("fanout", s);
            }
            if (o.only().contains("match")) {
                scenarios.put("match", guard(b, failures, "match", () -> b.match(o.matchUsers(), o.matchSeconds())));
            }
            if (o.only().contains("storm")) {
                scenarios.put(
                        "storm",
                        guard(
                                b,
                                failures,
                                "storm",
                                () -> b.storm(
                                        o.storm(),
                                        quick ? 2 : 10,
                                        quick ? 50 : 10,
                                        Duration.ofSeconds(quick ? 1 : 5))));
            }
            if (o.only().contains("presence")) {
                scenarios.put(
                        "presence",
                        guard(
                                b,
                                failures,
                                "presence",
                                () -> b.presence(o.presenceUsers(), o.presenceSeconds(), o.presenceStorm())));
            }
            if (o.only().contains("hooks")) {
                scenarios.put(
                        "hooks",
                        guard(
                                b,
                                failures,
                                "hooks",
                                () -> b.hooks(
                                        o.hookSubscribers(),
                                        o.hookChannels(),
                                        o.hookRates(),
                                        o.hookDelayMs(),
                                        Duration.ofSeconds(quick ? 1 : 15),
                                        Duration.ofSeconds(quick ? 1 : 3),
                                        Duration.ofSeconds(o.stepSeconds()))));
            }
            if (o.only().contains("gatling")) {
                scenarios.put("gatling", guard(b, failures, "gatling", b::gatling));
            }
        } catch (BenchmarkException e) {
            failures.add(e.getMessage());
        }
        failures.addAll(Verdict.problems(scenarios, quick));
        result.put("failures", failures);
        result.put("summary", Verdict.summary(scenarios));
        Path outDir = o.outDir();
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
    private static Map<String, Object> guard(Scenarios b, List<String> failures, String name, Scenario s) {
        try {
            return s.run();
        } catch (RuntimeException e) {
            // A bug of the benchmark, not a finding: keep the trace.
            e.printStackTrace();
            failures.add(name + ": " + e);
            return Map.of("failed", e.toString());
        } catch (BenchmarkException e) {
            failures.add(name + ": " + e.getMessage());
            b.say(name + " failed: " + e.getMessage());
            return Map.of("failed", String.valueOf(e.getMessage()));
        }
    }
}
