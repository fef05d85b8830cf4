package io.switchboard.testing.redis;

import io.switchboard.testing.Binaries;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Finds and runs the command-line tools the fixtures need, and owns the JVM shutdown hook that kills every process
 * they started, so that none outlives the test JVM.
 */
final class Commands {
    static final String REDIS_SERVER_MISSING =
            "redis-server not found on PATH: install the Debian package redis-server (./scripts/test does this)";
    static final String REDIS_CLI_MISSING =
            "redis-cli not found on PATH: install the Debian package redis-tools (redis-server depends on it;"
                    + " ./scripts/test installs both)";

    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();
    private static final Set<Path> DIRECTORIES = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(Commands::reap, "redis-fixture-reaper"));
    }

    /** The outcome of a command that ran to its end. */
    record Result(int exitCode, String stdout, String stderr) {}

    private Commands() {}

    static Path redisServer() {
        return redisServer(System.getenv("PATH"), Binaries.required());
    }

    /**
     * Looks {@code redis-server} up on {@code pathVariable}; when it is missing, fails with one line that says how
     * to install it if {@code required}, else skips the test with that line ({@link Binaries}).
     */
    static Path redisServer(String pathVariable, boolean required) {
        return Binaries.require("redis-server", pathVariable, REDIS_SERVER_MISSING, required);
    }

    static Path redisCli() {
        return Binaries.require("redis-cli", REDIS_CLI_MISSING);
    }

    static Optional<Path> find(String name, String pathVariable) {
        return Binaries.find(name, pathVariable);
    }

    /** Starts a long-running process whose output goes to {@code log}; the shutdown hook kills it if nobody else does. */
    static Process start(List<String> command, Path workingDirectory, Path log) throws IOException {
        Process process = new ProcessBuilder(command)
                .directory(workingDirectory.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
        LIVE.add(process);
        return process;
    }

    /** Kills {@code process} with SIGKILL and waits for it to exit. */
    static void kill(Process process, String what) {
        process.destroyForcibly();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException(
                        what + " (pid " + process.pid() + ") did not exit within 10 s of SIGKILL");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(
                    "interrupted waiting for " + what + " (pid " + process.pid() + ") to exit", e);
        } finally {
            if (!process.isAlive()) {
                LIVE.remove(process);
            }
        }
    }

    /** Runs {@code command} to its end and returns its stdout, trimmed; a non-zero exit is an exception naming it. */
    static String check(List<String> command, Duration timeout) {
        Result result = run(command, timeout);
        if (result.exitCode() != 0) {
            throw new IllegalStateException(String.join(" ", command) + " exited with code " + result.exitCode()
                    + "; stderr: " + result.stderr().trim() + "; stdout: "
                    + result.stdout().trim());
        }
        return result.stdout().trim();
    }

    static Result run(List<String> command, Duration timeout) {
        Process process;
        try {
            process = new ProcessBuilder(command)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", command) + ": " + e.getMessage(), e);
        }
        LIVE.add(process);
        try {
            FutureTask<String> stdout = drain(process.getInputStream(), command.get(0) + "-stdout");
            FutureTask<String> stderr = drain(process.getErrorStream(), command.get(0) + "-stderr");
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                kill(process, String.join(" ", command));
                throw new IllegalStateException(
                        String.join(" ", command) + " did not finish within " + timeout.toSeconds() + " s");
            }
            return new Result(process.exitValue(), stdout.get(5, TimeUnit.SECONDS), stderr.get(5, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
            throw new IllegalStateException("interrupted running " + String.join(" ", command), e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot read the output of " + String.join(" ", command), e);
        } finally {
            if (!process.isAlive()) {
                LIVE.remove(process);
            }
        }
    }

    private static FutureTask<String> drain(InputStream in, String name) {
        FutureTask<String> task = new FutureTask<>(() -> {
            try (in) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
        });
        Thread thread = new Thread(task, name);
        thread.setDaemon(true);
        thread.start();
        return task;
    }

    /** Creates a temporary directory that the shutdown hook deletes if nobody else does. */
    static Path temporaryDirectory(String prefix) throws IOException {
        Path dir = Files.createTempDirectory(prefix);
        DIRECTORIES.add(dir);
        return dir;
    }

    /** What the shutdown hook does for the processes and directories a test left behind. */
    private static void reap() {
        LIVE.forEach(Process::destroyForcibly);
        for (Process process : LIVE) {
            try {
                process.waitFor(2, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        DIRECTORIES.forEach(Commands::deleteRecursively);
    }

    /** Deletes {@code dir} and everything under it; a file that cannot be deleted is left behind, not an error. */
    static void deleteRecursively(Path dir) {
        DIRECTORIES.remove(dir);
        if (!Files.exists(dir)) {
            return;
        }
        try (var paths = Files.walk(dir)) {
            paths.sorted((a, b) -> b.getNameCount() - a.getNameCount()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // A leftover in the temporary directory does not make a test wrong.
                }
            });
        } catch (IOException ignored) {
            // Same: best effort.
        }
    }
}
