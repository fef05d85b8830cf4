package io.switchboard.loadtest.bench;

import io.switchboard.loadtest.cluster.LocalCluster;
import io.switchboard.loadtest.scenario.Scenarios;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What {@link Bench} runs, from its command line. {@link #parse} checks every argument and reports every problem
 * at once. Connection counts are capped by the open-file limit (less 1000 for everything else).
 *
 * @param quick the small run of every scenario ({@code --quick}): smaller defaults
 * @param socketIo whether idle, connect and fan-out also run against the Socket.IO baseline
 * @param jfr whether every gateway records a Flight Recorder profile
 * @param only the scenarios to run, in {@link #SCENARIOS} order of the command line
 * @param heap the gateways' heap, such as {@code 1g}
 * @param clientThreads event-loop threads of the load generator
 * @param openFileLimit the open-file limit the counts were capped by
 * @param idle idle connections to hold, after the cap
 * @param idleRequested idle connections asked for, before the cap
 * @param rates offered deliveries per second, one fan-out step each
 * @param hookRates offered publishes per second, one step of the hooks scenario each
 * @param hookDelayMs the slow backend's added delay of the hooks scenario, 0 for no slow variant
 * @param repo the Switchboard repository
 * @param outDir where result.json, result.md and the logs go
 * @param gatewayEnv settings given to every gateway the run starts, on top of the runner's own (such as
 *                   {@code SWITCHBOARD_TRANSPORT=epoll}): what a comparison of settings needs
 */
record BenchOptions(
        boolean quick,
        boolean socketIo,
        boolean jfr,
        Set<String> only,
        String heap,
        int clientThreads,
        int openFileLimit,
        int idle,
        int idleRequested,
        int connect,
        int subscribers,
        int channels,
        int stepSeconds,
        List<Long> rates,
        int storm,
        int matchUsers,
        int matchSeconds,
        int presenceUsers,
        int presenceSeconds,
        int presenceStorm,
        int hookSubscribers,
        int hookChannels,
        List<Long> hookRates,
        int hookDelayMs,
        Path repo,
        Path outDir,
        Map<String, String> gatewayEnv) {
    static final List<String> SCENARIOS =
            List.of("idle", "connect", "fanout", "match", "storm", "presence", "hooks", "gatling");

    static final String USAGE = """
            usage: scripts/bench [--quick] [--only a,b] [--no-socketio] [--jfr] [--heap SIZE] [--client-threads N]
                                 [--idle N] [--connect N] [--subscribers N] [--channels N] [--rates R1,R2]
                                 [--step-seconds S] [--storm N] [--match-users N] [--match-seconds S]
                                 [--presence-users N] [--presence-seconds S] [--presence-storm N]
                                 [--hook-subscribers N] [--hook-channels N] [--hook-rates R1,R2] [--hook-delay-ms MS]
                                 [--out DIR] [--gateway-env K=V,K=V]
              --quick           a small run of every scenario: checks that it works and loses nothing
              --only LIST       scenarios to run, of idle,connect,fanout,match,storm,presence,hooks,gatling
                                (default all)
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
              --presence-users N  presence churn users (default 2000); --presence-seconds S (default 20)
              --presence-storm N  users of the presence storm's channel (default 10000, capped by the open-file
                                limit)
              --hook-subscribers N  subscribers of the hooks scenario's fan-out (default 2000);
                                --hook-channels N its channels (default 500)
              --hook-rates LIST offered publishes per second of the hooks scenario, one step each (default 1000,2500)
              --hook-delay-ms MS  the hooks scenario's slow backend answers this late; 0: no slow run (default 20)
              --out DIR         where result.json, result.md and the logs go (default loadtest/target/bench)
              --gateway-env L   settings for every gateway started, K=V separated by commas, of SWITCHBOARD_*
                                and JAVA_TOOL_OPTIONS (e.g. SWITCHBOARD_TRANSPORT=io_uring); recorded in the result
            """;

    /** The command line was wrong, one line per problem; no problem at all means {@code --help}. */
    static final class BadArgumentsException extends Exception {
        private final List<String> problems;

        BadArgumentsException(List<String> problems) {
            super(String.join("; ", problems), null, false, false);
            this.problems = List.copyOf(problems);
        }

        List<String> problems() {
            return problems;
        }

        boolean help() {
            return problems.isEmpty();
        }
    }

    /** Whether the open-file limit capped the idle connections below what was asked. */
    boolean idleCapped() {
        return idle < idleRequested;
    }

    /**
     * Reads {@code args}; {@code workingDirectory} is where the repository is looked for (and {@code --repo}
     * resolved), {@code openFileLimit} caps the connection counts.
     */
    static BenchOptions parse(String[] args, Path workingDirectory, int openFileLimit) throws BadArgumentsException {
        Map<String, String> o = new LinkedHashMap<>();
        Set<String> flags = new LinkedHashSet<>();
        List<String> problems = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--quick", "--no-socketio", "--jfr" -> flags.add(a);
                case "--help", "-h" -> throw new BadArgumentsException(List.of());
                case "--only",
                        "--heap",
                        "--client-threads",
                        "--idle",
                        "--connect",
                        "--subscribers",
                        "--channels",
                        "--rates",
                        "--step-seconds",
                        "--storm",
                        "--match-users",
                        "--match-seconds",
                        "--presence-users",
                        "--presence-seconds",
                        "--presence-storm",
                        "--hook-subscribers",
                        "--hook-channels",
                        "--hook-rates",
                        "--hook-delay-ms",
                        "--out",
                        "--gateway-env",
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
        Path repo = LocalCluster.findRepository(workingDirectory.resolve(o.getOrDefault("--repo", "")));
        if (repo == null) {
            problems.add("cannot find the Switchboard repository from " + workingDirectory
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
        int cap = Math.max(1000, openFileLimit - 1000);
        int idleRequested =
                number(o, "--idle", quick ? 1000 : 100_000, Scenarios.IDLE_BASELINE + 1, 10_000_000, problems);
        int idle = Math.min(cap, idleRequested);
        int connect = Math.min(
                Math.max(1, cap - Scenarios.CONNECT_WARM_UP),
                number(o, "--connect", quick ? 1000 : 15_000, 1, 10_000_000, problems));
        int subscribers = Math.min(cap, number(o, "--subscribers", quick ? 200 : 10_000, 1, 10_000_000, problems));
        int channels = number(o, "--channels", quick ? 4 : 10, 1, 10_000, problems);
        int stepSeconds = number(o, "--step-seconds", quick ? 2 : 10, 1, 3600, problems);
        List<Long> rates =
                rates(o, "--rates", quick ? "4000" : "100000,250000,500000,1000000", "deliveries", "100000", problems);
        int storm = Math.min(cap, number(o, "--storm", quick ? 200 : 5000, 1, 10_000_000, problems));
        int matchUsers = number(o, "--match-users", quick ? 40 : 400, 2, 1_000_000, problems);
        int matchSeconds = number(o, "--match-seconds", quick ? 3 : 20, 1, 3600, problems);
        int presenceUsers = Math.min(cap, number(o, "--presence-users", quick ? 40 : 2000, 2, 1_000_000, problems));
        int presenceSeconds = number(o, "--presence-seconds", quick ? 3 : 20, 1, 3600, problems);
        int presenceStorm = Math.min(cap, number(o, "--presence-storm", quick ? 200 : 10_000, 2, 10_000_000, problems));
        int hookSubscribers =
                Math.min(cap, number(o, "--hook-subscribers", quick ? 200 : 2000, 1, 10_000_000, problems));
        int hookChannels = number(o, "--hook-channels", quick ? 50 : 500, 1, 100_000, problems);
        List<Long> hookRates = rates(o, "--hook-rates", quick ? "200" : "1000,2500", "publishes", "2000", problems);
        int hookDelayMs = number(o, "--hook-delay-ms", quick ? 10 : 20, 0, 60_000, problems);
        Map<String, String> gatewayEnv = new LinkedHashMap<>();
        if (o.containsKey("--gateway-env")) {
            for (String kv : o.get("--gateway-env").split(",")) {
                int eq = kv.indexOf('=');
                if (eq < 1 || !kv.substring(0, eq).strip().matches("SWITCHBOARD_[A-Z0-9_]+|JAVA_TOOL_OPTIONS")) {
                    problems.add("--gateway-env " + kv + ": expected SWITCHBOARD_NAME=value or"
                            + " JAVA_TOOL_OPTIONS=flags, separated by commas");
                } else {
                    gatewayEnv.put(
                            kv.substring(0, eq).strip(), kv.substring(eq + 1).strip());
                }
            }
        }
        if (subscribers < channels) {
            problems.add("--subscribers " + subscribers + " is less than --channels " + channels);
        }
        if (hookSubscribers < hookChannels) {
            problems.add("--hook-subscribers " + hookSubscribers + " is less than --hook-channels " + hookChannels);
        }
        if (!problems.isEmpty()) {
            throw new BadArgumentsException(problems);
        }
        Path outDir = repo.resolve(o.getOrDefault("--out", "loadtest/target/bench"));
        return new BenchOptions(
                quick,
                !flags.contains("--no-socketio"),
                flags.contains("--jfr"),
                Collections.unmodifiableSet(only),
                heap,
                threads,
                openFileLimit,
                idle,
                idleRequested,
                connect,
                subscribers,
                channels,
                stepSeconds,
                List.copyOf(rates),
                storm,
                matchUsers,
                matchSeconds,
                presenceUsers,
                presenceSeconds,
                presenceStorm,
                hookSubscribers,
                hookChannels,
                List.copyOf(hookRates),
                hookDelayMs,
                repo,
                outDir,
                Collections.unmodifiableMap(gatewayEnv));
    }

    /** A list of rates, {@code what} per second, each at least 1. */
    private static List<Long> rates(
            Map<String, String> o, String name, String otherwise, String what, String example, List<String> problems) {
        List<Long> rates = new ArrayList<>();
        for (String r : o.getOrDefault(name, otherwise).split(",")) {
            try {
                long rate = Long.parseLong(r.strip());
                if (rate < 1) {
                    throw new NumberFormatException();
                }
                rates.add(rate);
            } catch (NumberFormatException e) {
                problems.add(name + " " + r + ": expected " + what + " per second, at least 1, such as " + example);
            }
        }
        return rates;
    }

    private static int number(
            Map<String, String> o, String name, int otherwise, int min, int max, List<String> problems) {
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
}
