package io.switchboard.testing;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Assumptions;

/**
 * Finds the programs that tests run ({@code redis-server}, {@code redis-cli}, {@code chromium}) on the PATH. When
 * one is missing, the test that needs it is skipped with a one-line reason ({@link Assumptions#abort(String)}), so
 * that a developer without it can still run the rest; with {@code -Dswitchboard.requireBinaries=true}, as
 * {@code ./scripts/test} (and so CI) runs, it fails instead, so that nothing is skipped silently.
 */
public final class Binaries {
    /** The system property that turns a missing program from a skip into a failure. */
    public static final String REQUIRE_PROPERTY = "switchboard.requireBinaries";

    private static final Set<String> REPORTED = ConcurrentHashMap.newKeySet();

    private Binaries() {}

    /** Whether a missing program fails the test ({@code -Dswitchboard.requireBinaries=true}) rather than skip it. */
    public static boolean required() {
        return Boolean.getBoolean(REQUIRE_PROPERTY);
    }

    /** {@code name} on the PATH; when missing, skips the test with {@code missing} or fails, as {@link #required()}. */
    public static Path require(String name, String missing) {
        return require(name, System.getenv("PATH"), missing, required());
    }

    /**
     * {@code name} on {@code pathVariable}; when missing, throws an {@link IllegalStateException} with
     * {@code missing} if {@code required}, else skips the test with {@code missing} as its reason.
     */
    public static Path require(String name, String pathVariable, String missing, boolean required) {
        Optional<Path> found = find(name, pathVariable);
        if (found.isPresent()) {
            return found.get();
        }
        if (required) {
            throw new IllegalStateException(missing);
        }
        String reason = missing + " (skipped; -D" + REQUIRE_PROPERTY + "=true makes this a failure)";
        if (REPORTED.add(name)) {
            // Surefire does not show why a test class was skipped: say it once, where the developer looks.
            System.err.println("SKIPPED: " + reason);
        }
        Assumptions.abort(reason);
        throw new AssertionError("unreachable: Assumptions.abort throws");
    }

    /** The first executable file named {@code name} in the directories of {@code pathVariable}. */
    public static Optional<Path> find(String name, String pathVariable) {
        if (pathVariable == null) {
            return Optional.empty();
        }
        for (String entry : pathVariable.split(File.pathSeparator)) {
            if (entry.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(entry, name);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }
}
