package io.switchboard.loadtest.match;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MatchBenchmarkOptionsUnitTests {
    @TempDir
    Path repo;

    @BeforeEach
    void aRepository() throws IOException {
        Files.createDirectories(repo.resolve("gateway"));
        Files.createDirectories(repo.resolve("loadtest"));
        Files.writeString(repo.resolve("gateway/pom.xml"), "<project/>");
        Files.writeString(repo.resolve("loadtest/pom.xml"), "<project/>");
    }

    @Test
    void quickDefaultsAndExplicitOptionsWin() throws Exception {
        MatchBenchmarkOptions o = MatchBenchmarkOptions.parse(
                new String[] {
                    "--quick",
                    "--users=10",
                    "--mode",
                    "NEXT",
                    "--no-signal",
                    "--interests",
                    "chess, go,,",
                    "--out",
                    "m.json"
                },
                repo);
        assertThat(o.users()).isEqualTo(10);
        assertThat(o.duration()).isEqualTo(Duration.ofSeconds(3));
        assertThat(o.warmup()).isEqualTo(Duration.ofSeconds(1));
        assertThat(o.mode()).isEqualTo(MatchBenchmarkOptions.Mode.NEXT);
        assertThat(o.signal()).isFalse();
        assertThat(o.interests()).containsExactly("chess", "go");
        assertThat(o.out()).isEqualTo(repo.toAbsolutePath().normalize().resolve("m.json"));
        assertThat(o.maxErrors()).isZero();
        assertThat(o.stuckAfter()).isEqualTo(Duration.ofSeconds(10));
    }

    @Test
    void fullDefaults() throws Exception {
        MatchBenchmarkOptions o = MatchBenchmarkOptions.parse(new String[0], repo.resolve("loadtest"));
        assertThat(o.users()).isEqualTo(400);
        assertThat(o.duration()).isEqualTo(Duration.ofSeconds(20));
        assertThat(o.warmup()).isEqualTo(Duration.ofSeconds(10));
        assertThat(o.mode()).isEqualTo(MatchBenchmarkOptions.Mode.LEAVE);
        assertThat(o.repo()).isEqualTo(repo.toAbsolutePath().normalize());
        assertThat(o.out()).isEqualTo(o.repo().resolve("loadtest/target/match-benchmark.json"));
    }

    @Test
    void everyProblemIsReportedAtOnce() {
        List<String> problems = catchThrowableOfType(
                        MatchBenchmarkOptions.BadArgumentsException.class,
                        () -> MatchBenchmarkOptions.parse(
                                new String[] {
                                    "--users", "1", "--mode", "sideways", "--seconds=0", "--what", "--max-errors"
                                },
                                repo))
                .problems();
        assertThat(problems)
                .containsExactly(
                        "--users 1: expected a whole number of at least 2",
                        "--mode sideways: expected leave or next",
                        "--seconds 0: expected a whole number of at least 1",
                        "unknown argument --what (--help lists them)",
                        "--max-errors needs a value");
    }

    @Test
    void helpIsNoProblem() {
        assertThat(catchThrowableOfType(
                                MatchBenchmarkOptions.BadArgumentsException.class,
                                () -> MatchBenchmarkOptions.parse(new String[] {"--help"}, repo))
                        .problems())
                .isEmpty();
    }
}
