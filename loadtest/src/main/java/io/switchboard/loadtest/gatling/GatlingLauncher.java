package io.switchboard.loadtest.gatling;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs one Gatling simulation in a forked JVM, as {@code gatling-maven-plugin} does: the same main class
 * ({@value #GATLING_MAIN}, arguments {@code -s <class> -rf <results folder>}), this JVM's class path, the
 * plugin's default JVM options for Java 17, and the simulation's settings as system properties. The fork's
 * standard output and error go to {@code <resultsDir>/<SimpleClassName>.log} (replaced on each run); the HTML
 * report goes to a new folder under {@code resultsDir}.
 *
 * <p>{@link #run} returns Gatling's exit status: 0 when the run completed and its assertions held, 2 when an
 * assertion failed, 1 for bad arguments or a crash; {@value #TIMED_OUT} when the fork outlived the timeout and
 * was stopped.
 *
 * <p>By hand, after {@code mvn -B -q -DskipTests install}:
 * <pre>
 * java -cp "loadtest/target/classes:$(cat cp.txt)" io.switchboard.loadtest.gatling.GatlingLauncher \
 *     io.switchboard.loadtest.gatling.FanOutSimulation loadtest/target/gatling-launcher quick=true \
 *     gateway=http://127.0.0.1:8080
 * </pre>
 * where {@code cp.txt} comes from {@code mvn -B -q -pl loadtest dependency:build-classpath -Dmdep.outputFile=cp.txt}.
 */
public final class GatlingLauncher {
    /** Gatling's own entry point, the one the Maven plugin forks. */
    public static final String GATLING_MAIN = "io.gatling.app.Gatling";
    /** The JVM options {@code gatling-maven-plugin} 4.21 gives a Gatling fork on Java 17, less the heap dump. */
    public static final List<String> JVM_OPTIONS = List.of(
            "-Xmx1G",
            "-XX:MaxInlineLevel=20",
            "-XX:MaxTrivialSize=12",
            "--add-opens=java.base/java.lang=ALL-UNNAMED",
            "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED");
    /** Longest a run may take by default; every simulation bounds itself well below this (its maxDuration). */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(30);
    /** Exit status reported when the fork was stopped at the timeout (as {@code timeout(1)} does). */
    public static final int TIMED_OUT = 124;

    private GatlingLauncher() {}

    /** {@link #run(String, Map, Path, Duration)} with {@link #DEFAULT_TIMEOUT}. */
    public static int run(String simulationClass, Map<String, String> properties, Path resultsDir)
            throws IOException, InterruptedException {
        return run(simulationClass, properties, resultsDir, DEFAULT_TIMEOUT);
    }

    /**
     * Runs {@code simulationClass} with {@code properties} as system properties (such as {@code quick=true},
     * {@code gateway=http://127.0.0.1:8080}) and waits for it; see the class comment for the exit status. If
     * this thread is interrupted the fork is stopped before the exception is thrown.
     */
    public static int run(String simulationClass, Map<String, String> properties, Path resultsDir, Duration timeout)
            throws IOException, InterruptedException {
        Path dir = resultsDir.toAbsolutePath();
        Files.createDirectories(dir);
        String simpleName = simulationClass.substring(simulationClass.lastIndexOf('.') + 1);
        Path log = dir.resolve(simpleName + ".log");
        Process fork = new ProcessBuilder(command(simulationClass, properties, dir))
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        try {
            if (!fork.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                stop(fork);
                Files.writeString(
                        log,
                        System.lineSeparator() + "GatlingLauncher: stopped after " + timeout + System.lineSeparator(),
                        StandardOpenOption.APPEND);
                return TIMED_OUT;
            }
            return fork.exitValue();
        } catch (InterruptedException e) {
            stop(fork);
            throw e;
        }
    }

    /** The fork's command line. */
    static List<String> command(String simulationClass, Map<String, String> properties, Path resultsDir) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(JVM_OPTIONS);
        properties.forEach((name, value) -> command.add("-D" + name + "=" + value));
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(GATLING_MAIN);
        command.add("-s");
        command.add(simulationClass);
        command.add("-rf");
        command.add(resultsDir.toString());
        return command;
    }

    private static void stop(Process fork) throws InterruptedException {
        fork.destroy();
        if (!fork.waitFor(10, TimeUnit.SECONDS)) {
            fork.destroyForcibly();
            fork.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /**
     * {@code GatlingLauncher SIMULATION_CLASS RESULTS_DIR [name=value ...]}: runs one simulation, prints where
     * its log and report are, and exits with its status.
     */
    public static void main(String[] args) throws IOException, InterruptedException {
        if (args.length < 2) {
            System.err.println("usage: GatlingLauncher SIMULATION_CLASS RESULTS_DIR [name=value ...]"
                    + "\n  for instance: GatlingLauncher io.switchboard.loadtest.gatling.FanOutSimulation"
                    + " loadtest/target/gatling-launcher quick=true gateway=http://127.0.0.1:8080");
            System.exit(2);
        }
        Map<String, String> properties = new LinkedHashMap<>();
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("GatlingLauncher: " + args[i] + ": expected name=value");
                System.exit(2);
            }
            properties.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        Path results = Path.of(args[1]);
        int status = run(args[0], properties, results);
        String simpleName = args[0].substring(args[0].lastIndexOf('.') + 1);
        System.out.println("GatlingLauncher: " + args[0] + " exited with " + status + "; log "
                + results.toAbsolutePath().resolve(simpleName + ".log") + ", report under " + results.toAbsolutePath());
        System.exit(status);
    }
}
