package io.switchboard.loadtest.match;

import io.switchboard.loadtest.cluster.LocalCluster;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What {@link MatchBenchmark} runs, from its command line. Immutable; {@link #parse} checks every argument and
 * reports every problem at once.
 *
 * @param users connected guest clients, half on each gateway
 * @param duration how long matches are counted
 * @param warmup how long the loop runs before counting starts (JIT, connection pools, Redis scripts loaded)
 * @param mode how a user goes back to the queue after a match
 * @param signal whether the initiator of each match sends one {@code match.signal} that its partner waits for
 * @param interests sent with every {@code match.join}
 * @param repo the Switchboard repository (holds {@code gateway/target/switchboard-gateway.jar})
 * @param out where the JSON result is written
 * @param maxErrors the run fails when it counts more errors than this
 * @param stuckAfter a user that makes no progress for this long counts an error and starts over
 */
record MatchBenchmarkOptions(
        int users,
        Duration duration,
        Duration warmup,
        Mode mode,
        boolean signal,
        List<String> interests,
        Path repo,
        Path out,
        long maxErrors,
        Duration stuckAfter) {
    public static final int DEFAULT_USERS = 400;
    public static final int DEFAULT_SECONDS = 20;
    public static final int DEFAULT_WARMUP_SECONDS = 10;
    public static final int QUICK_USERS = 40;
    public static final int QUICK_SECONDS = 3;
    public static final int QUICK_WARMUP_SECONDS = 1;
    public static final long DEFAULT_MAX_ERRORS = 0;
    public static final int DEFAULT_STUCK_SECONDS = 10;
    /** Relative to the repository. */
    public static final String DEFAULT_OUT = "loadtest/target/match-benchmark.json";

    static final String USAGE = """
            usage: MatchBenchmark [--quick] [--users N] [--seconds S] [--warmup S] [--mode leave|next]
                                  [--no-signal] [--interests a,b] [--max-errors N] [--stuck-after S]
                                  [--repo DIR] [--out FILE]
              --quick         smoke check: %d users, %d s, %d s warm-up (explicit options still win)
              --users N       guest clients, half on each of the two gateways (default %d)
              --seconds S     measured time (default %d)
              --warmup S      time run before measuring (default %d)
              --mode M        after a match: leave = match.leave then match.join (default); next = match.next
              --no-signal     do not send one match.signal per match from the initiator to its partner
              --interests L   comma-separated interests sent with every join (default none)
              --max-errors N  fail the run above N errors (default %d)
              --stuck-after S a user without progress for S seconds counts an error and starts over (default %d)
              --repo DIR      the Switchboard repository (default: found from the working directory)
              --out FILE      JSON result (default <repo>/%s)
            """.formatted(
                    QUICK_USERS,
                    QUICK_SECONDS,
                    QUICK_WARMUP_SECONDS,
                    DEFAULT_USERS,
                    DEFAULT_SECONDS,
                    DEFAULT_WARMUP_SECONDS,
                    DEFAULT_MAX_ERRORS,
                    DEFAULT_STUCK_SECONDS,
                    DEFAULT_OUT);

    /** How a user goes back to the queue after a match. */
    enum Mode {
        /** {@code match.leave}, then {@code match.join}: two requests per match. */
        LEAVE,
        /** {@code match.next}: ends the match and queues again in one request. */
        NEXT
    }

    /** The command line was wrong; {@link #problems()} has one line per wrong argument. */
    static final class BadArgumentsException extends Exception {
        private final List<String> problems;

        BadArgumentsException(List<String> problems) {
            super(String.join("; ", problems), null, false, false);
            this.problems = List.copyOf(problems);
        }

        List<String> problems() {
            return problems;
        }
    }

    /** Reads {@code args}; {@code workingDirectory} is where the repository is looked for without {@code --repo}. */
    static MatchBenchmarkOptions parse(String[] args, Path workingDirectory) throws BadArgumentsException {
        List<String> problems = new ArrayList<>();
        boolean quick = false;
        Integer users = null;
        Integer seconds = null;
        Integer warmup = null;
        Mode mode = Mode.LEAVE;
        boolean signal = true;
        List<String> interests = List.of();
        String repoArg = null;
        String outArg = null;
        long maxErrors = DEFAULT_MAX_ERRORS;
        int stuck = DEFAULT_STUCK_SECONDS;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String name = arg;
            String value = null;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                name = arg.substring(0, eq);
                value = arg.substring(eq + 1);
            }
            switch (name) {
                case "--quick" -> quick = true;
                case "--no-signal" -> signal = false;
                case "--help", "-h" -> throw new BadArgumentsException(List.of());
                case "--users",
                        "--seconds",
                        "--warmup",
                        "--mode",
                        "--interests",
                        "--repo",
                        "--out",
                        "--max-errors",
                        "--stuck-after" -> {
                    if (value == null) {
                        if (i + 1 >= args.length) {
                            problems.add(name + " needs a value");
                            continue;
                        }
                        value = args[++i];
                    }
                    switch (name) {
                        case "--users" -> users = positive(name, value, 2, problems);
                        case "--seconds" -> seconds = positive(name, value, 1, problems);
                        case "--warmup" -> warmup = positive(name, value, 0, problems);
                        case "--max-errors" -> {
                            Integer n = positive(name, value, 0, problems);
                            maxErrors = n == null ? maxErrors : n;
                        }
                        case "--stuck-after" -> {
                            Integer n = positive(name, value, 1, problems);
                            stuck = n == null ? stuck : n;
                        }
                        case "--mode" -> {
                            try {
                                mode = Mode.valueOf(value.toUpperCase(Locale.ROOT));
                            } catch (IllegalArgumentException e) {
                                problems.add("--mode " + value + ": expected leave or next");
                            }
                        }
                        case "--interests" ->
                            interests = Arrays.stream(value.split(","))
                                    .map(String::strip)
                                    .filter(s -> !s.isEmpty())
                                    .toList();
                        case "--repo" -> repoArg = value;
                        case "--out" -> outArg = value;
                        default -> throw new IllegalStateException(name);
                    }
                }
                default -> problems.add("unknown argument " + arg + " (--help lists them)");
            }
        }
        Path repo = null;
        if (repoArg != null) {
            repo = workingDirectory.resolve(repoArg).toAbsolutePath().normalize();
            if (!LocalCluster.isRepository(repo)) {
                problems.add("--repo " + repoArg + ": " + repo + " is not the Switchboard repository"
                        + " (expected gateway/pom.xml and loadtest/pom.xml in it)");
            }
        } else {
            repo = LocalCluster.findRepository(workingDirectory);
            if (repo == null) {
                problems.add("cannot find the Switchboard repository from " + workingDirectory
                        + ": run from inside it or pass --repo DIR");
            }
        }
        if (!problems.isEmpty()) {
            throw new BadArgumentsException(problems);
        }
        Path out = outArg != null
                ? workingDirectory.resolve(outArg).toAbsolutePath().normalize()
                : repo.resolve(DEFAULT_OUT);
        return new MatchBenchmarkOptions(
                users != null ? users : quick ? QUICK_USERS : DEFAULT_USERS,
                Duration.ofSeconds(seconds != null ? seconds : quick ? QUICK_SECONDS : DEFAULT_SECONDS),
                Duration.ofSeconds(warmup != null ? warmup : quick ? QUICK_WARMUP_SECONDS : DEFAULT_WARMUP_SECONDS),
                mode,
                signal,
                interests,
                repo,
                out,
                maxErrors,
                Duration.ofSeconds(stuck));
    }

    private static Integer positive(String name, String value, int min, List<String> problems) {
        try {
            int n = Integer.parseInt(value);
            if (n >= min) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        problems.add(name + " " + value + ": expected a whole number of at least " + min);
        return null;
    }
}
