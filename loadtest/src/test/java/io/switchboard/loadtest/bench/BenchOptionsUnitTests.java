package io.switchboard.loadtest.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BenchOptionsUnitTests {
    private static final int FILES = 1_048_576;

    @TempDir
    Path repo;

    @BeforeEach
    void aRepository() throws IOException {
        Files.createDirectories(repo.resolve("gateway"));
        Files.createDirectories(repo.resolve("loadtest"));
        Files.writeString(repo.resolve("gateway/pom.xml"), "<project/>");
        Files.writeString(repo.resolve("loadtest/pom.xml"), "<project/>");
    }

    private BenchOptions parse(String... args) throws BenchOptions.BadArgumentsException {
        return BenchOptions.parse(args, repo.resolve("loadtest"), FILES);
    }

    private List<String> problems(String... args) {
        return catchThrowableOfType(BenchOptions.BadArgumentsException.class, () -> parse(args))
                .problems();
    }

    @Test
    void fullRunDefaults() throws Exception {
        BenchOptions o = parse();
        assertThat(o.quick()).isFalse();
        assertThat(o.socketIo()).isTrue();
        assertThat(o.jfr()).isFalse();
        assertThat(o.only())
                .containsExactly("idle", "connect", "fanout", "match", "storm", "presence", "hooks", "gatling");
        assertThat(o.heap()).isEqualTo("1g");
        assertThat(o.clientThreads()).isEqualTo(2);
        assertThat(o.idle()).isEqualTo(100_000);
        assertThat(o.connect()).isEqualTo(15_000);
        assertThat(o.subscribers()).isEqualTo(10_000);
        assertThat(o.channels()).isEqualTo(10);
        assertThat(o.rates()).containsExactly(100_000L, 250_000L, 500_000L, 1_000_000L);
        assertThat(o.stepSeconds()).isEqualTo(10);
        assertThat(o.storm()).isEqualTo(5000);
        assertThat(o.matchUsers()).isEqualTo(400);
        assertThat(o.matchSeconds()).isEqualTo(20);
        assertThat(o.presenceUsers()).isEqualTo(2000);
        assertThat(o.presenceSeconds()).isEqualTo(20);
        assertThat(o.presenceStorm()).isEqualTo(10_000);
        assertThat(o.hookSubscribers()).isEqualTo(2000);
        assertThat(o.hookChannels()).isEqualTo(500);
        assertThat(o.hookRates()).containsExactly(1000L, 2500L);
        assertThat(o.hookDelayMs()).isEqualTo(20);
        assertThat(o.repo()).isEqualTo(repo.toAbsolutePath().normalize());
        assertThat(o.outDir()).isEqualTo(o.repo().resolve("loadtest/target/bench"));
        assertThat(o.idleCapped()).isFalse();
    }

    @Test
    void quickRunIsSmallAndExplicitOptionsWin() throws Exception {
        BenchOptions o = parse("--quick", "--rates", "100,200", "--no-socketio", "--only", "fanout,storm");
        assertThat(o.quick()).isTrue();
        assertThat(o.socketIo()).isFalse();
        assertThat(o.idle()).isEqualTo(1000);
        assertThat(o.connect()).isEqualTo(1000);
        assertThat(o.subscribers()).isEqualTo(200);
        assertThat(o.channels()).isEqualTo(4);
        assertThat(o.stepSeconds()).isEqualTo(2);
        assertThat(o.storm()).isEqualTo(200);
        assertThat(o.matchUsers()).isEqualTo(40);
        assertThat(o.matchSeconds()).isEqualTo(3);
        assertThat(o.presenceUsers()).isEqualTo(40);
        assertThat(o.presenceSeconds()).isEqualTo(3);
        assertThat(o.presenceStorm()).isEqualTo(200);
        assertThat(o.hookSubscribers()).isEqualTo(200);
        assertThat(o.hookChannels()).isEqualTo(50);
        assertThat(o.hookRates()).containsExactly(200L);
        assertThat(o.hookDelayMs()).isEqualTo(10);
        assertThat(o.rates()).containsExactly(100L, 200L);
        assertThat(o.only()).containsExactly("fanout", "storm");
    }

    @Test
    void hooksOptions() throws Exception {
        BenchOptions o = parse(
                "--only",
                "hooks",
                "--hook-subscribers",
                "800",
                "--hook-channels",
                "200",
                "--hook-rates",
                "100,300",
                "--hook-delay-ms",
                "0");
        assertThat(o.only()).containsExactly("hooks");
        assertThat(o.hookSubscribers()).isEqualTo(800);
        assertThat(o.hookChannels()).isEqualTo(200);
        assertThat(o.hookRates()).containsExactly(100L, 300L);
        assertThat(o.hookDelayMs()).isZero();
        assertThat(problems(
                        "--hook-subscribers",
                        "10",
                        "--hook-channels",
                        "20",
                        "--hook-rates",
                        "5,0",
                        "--hook-delay-ms",
                        "-1"))
                .containsExactly(
                        "--hook-rates 0: expected publishes per second, at least 1, such as 2000",
                        "--hook-delay-ms -1: expected a whole number from 0 to 60000",
                        "--hook-subscribers 10 is less than --hook-channels 20");
    }

    @Test
    void gatewayEnvGivesSettingsToEveryGateway() throws Exception {
        assertThat(parse().gatewayEnv()).isEmpty();
        assertThat(parse("--gateway-env", "SWITCHBOARD_TRANSPORT=io_uring,JAVA_TOOL_OPTIONS=-XX:+UseParallelGC")
                        .gatewayEnv())
                .containsExactly(
                        Map.entry("SWITCHBOARD_TRANSPORT", "io_uring"),
                        Map.entry("JAVA_TOOL_OPTIONS", "-XX:+UseParallelGC"));
    }

    @Test
    void gatewayEnvTakesOnlyGatewaySettings() {
        assertThat(problems("--gateway-env", "PATH=/tmp,SWITCHBOARD_RATE"))
                .containsExactly(
                        "--gateway-env PATH=/tmp: expected SWITCHBOARD_NAME=value or JAVA_TOOL_OPTIONS=flags,"
                                + " separated by commas",
                        "--gateway-env SWITCHBOARD_RATE: expected SWITCHBOARD_NAME=value or JAVA_TOOL_OPTIONS=flags,"
                                + " separated by commas");
    }

    @Test
    void presenceSizesAreCappedByTheOpenFileLimit() throws Exception {
        BenchOptions o = BenchOptions.parse(
                new String[] {"--only", "presence", "--presence-users", "50000", "--presence-seconds", "5"},
                repo.resolve("loadtest"),
                9000);
        assertThat(o.only()).containsExactly("presence");
        assertThat(o.presenceUsers()).isEqualTo(8000);
        assertThat(o.presenceStorm()).isEqualTo(8000);
        assertThat(o.presenceSeconds()).isEqualTo(5);
        assertThat(problems("--presence-users", "1", "--presence-seconds", "0"))
                .containsExactly(
                        "--presence-users 1: expected a whole number from 2 to 1000000",
                        "--presence-seconds 0: expected a whole number from 1 to 3600");
    }

    @Test
    void rateZeroIsReported() {
        assertThat(problems("--rates", "0"))
                .containsExactly("--rates 0: expected deliveries per second, at least 1, such as 100000");
    }

    @Test
    void everyProblemIsReportedAtOnce() {
        assertThat(problems(
                        "--rates",
                        "0,x",
                        "--heap",
                        "lots",
                        "--only",
                        "idle,speed",
                        "--client-threads",
                        "0",
                        "--bogus",
                        "--channels",
                        "300",
                        "--subscribers",
                        "200",
                        "--out"))
                .containsExactly(
                        "unknown argument --bogus (--help lists them)",
                        "--out needs a value",
                        "--only speed: expected some of idle,connect,fanout,match,storm,presence,hooks,gatling",
                        "--heap lots: expected a size such as 512m or 2g",
                        "--client-threads 0: expected a whole number from 1 to 64",
                        "--rates 0: expected deliveries per second, at least 1, such as 100000",
                        "--rates x: expected deliveries per second, at least 1, such as 100000",
                        "--subscribers 200 is less than --channels 300");
    }

    @Test
    void idleMustExceedTheBaseline() {
        assertThat(problems("--idle", "200"))
                .containsExactly("--idle 200: expected a whole number from 201 to" + " 10000000");
    }

    @Test
    void helpIsNoProblem() {
        BenchOptions.BadArgumentsException e =
                catchThrowableOfType(BenchOptions.BadArgumentsException.class, () -> parse("--quick", "--help"));
        assertThat(e.help()).isTrue();
        assertThat(BenchOptions.USAGE).startsWith("usage: scripts/bench").contains("--rates LIST");
    }

    @Test
    void connectionCountsAreCappedByTheOpenFileLimit() throws Exception {
        BenchOptions o = BenchOptions.parse(new String[] {"--storm", "9000"}, repo, 5000);
        assertThat(o.idle()).isEqualTo(4000);
        assertThat(o.idleRequested()).isEqualTo(100_000);
        assertThat(o.idleCapped()).isTrue();
        assertThat(o.connect()).isEqualTo(2000); // less the warm-up connections
        assertThat(o.subscribers()).isEqualTo(4000);
        assertThat(o.storm()).isEqualTo(4000);
        assertThat(o.openFileLimit()).isEqualTo(5000);
    }

    @Test
    void aLowLimitStillLeavesAThousand() throws Exception {
        BenchOptions o = BenchOptions.parse(new String[] {"--quick"}, repo, 256);
        assertThat(o.idle()).isEqualTo(1000);
        assertThat(o.idleCapped()).isFalse();
        assertThat(o.connect()).isEqualTo(1);
    }

    @Test
    void outsideTheRepositoryItAsksForRepo(@TempDir Path elsewhere) {
        assertThatThrownBy(() -> BenchOptions.parse(new String[0], elsewhere, FILES))
                .isInstanceOfSatisfying(
                        BenchOptions.BadArgumentsException.class,
                        e -> assertThat(e.problems())
                                .singleElement()
                                .asString()
                                .startsWith("cannot find the Switchboard repository from ")
                                .endsWith(": run from inside it or pass --repo DIR"));
    }

    @Test
    void repoAndOutAreResolved(@TempDir Path elsewhere) throws Exception {
        BenchOptions o =
                BenchOptions.parse(new String[] {"--repo", repo.toString(), "--out", "runs/1"}, elsewhere, FILES);
        assertThat(o.repo()).isEqualTo(repo.toAbsolutePath().normalize());
        assertThat(o.outDir()).isEqualTo(o.repo().resolve("runs/1"));
    }
}
