package io.switchboard.gateway.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.assertj.core.api.InstanceOfAssertFactories.STRING;

import io.switchboard.protocol.Limits;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Reading the gateway's settings from environment variables, and reporting every bad one at once. */
class GatewayConfigUnitTests {

    private static final String SECRET = "s3cr3t-0123456789-abcdefghij-XYZ!";
    private static final String API_KEY = "key-0123456789-abcdef";

    /** Every numeric variable with its accepted range, as documented in {@link GatewayConfig#fromEnvironment}. */
    private static Stream<Arguments> numericVariables() {
        return Stream.of(
                Arguments.of("PORT", 0L, 65_535L),
                Arguments.of("SWITCHBOARD_HELLO_TIMEOUT_MS", 1L, 3_600_000L),
                Arguments.of("SWITCHBOARD_PING_INTERVAL_MS", 1L, 3_600_000L),
                Arguments.of("SWITCHBOARD_PING_TIMEOUT_MS", 1L, 3_600_000L),
                Arguments.of("SWITCHBOARD_MAX_FRAME", 1L, 16L << 20),
                Arguments.of("SWITCHBOARD_RATE", 1L, 1_000_000L),
                Arguments.of("SWITCHBOARD_BURST", 1L, 10_000_000L),
                Arguments.of("SWITCHBOARD_MAX_SUBSCRIPTIONS", 1L, 1_000_000L),
                Arguments.of("SWITCHBOARD_HISTORY_SIZE", 0L, 1_000_000L),
                Arguments.of("SWITCHBOARD_HISTORY_TTL_MS", 1L, 30L * 24 * 3_600_000),
                Arguments.of("SWITCHBOARD_OUTBOUND_BYTES", 1L, 1L << 30));
    }

    /** One variable, a value that differs from its default, and the setting it must produce. */
    private static Stream<Arguments> everyVariable() {
        return Stream.of(
                variable("SWITCHBOARD_HOST", "127.0.0.1", GatewayConfig::host, "127.0.0.1"),
                variable("PORT", "9090", GatewayConfig::port, 9090),
                variable("SWITCHBOARD_NODE_ID", "gw-7", GatewayConfig::nodeId, "gw-7"),
                variable("SWITCHBOARD_JWT_SECRET", SECRET, GatewayConfig::jwtSecret, SECRET),
                variable("SWITCHBOARD_API_KEY", API_KEY, GatewayConfig::apiKey, API_KEY),
                variable("SWITCHBOARD_GUESTS", "false", GatewayConfig::guests, false),
                variable("SWITCHBOARD_HELLO_TIMEOUT_MS", "1500", GatewayConfig::helloTimeoutMs, 1500L),
                variable("SWITCHBOARD_PING_INTERVAL_MS", "30000", GatewayConfig::pingIntervalMs, 30_000L),
                variable("SWITCHBOARD_PING_TIMEOUT_MS", "4000", GatewayConfig::pingTimeoutMs, 4000L),
                variable("SWITCHBOARD_MAX_FRAME", "4096", GatewayConfig::maxFrame, 4096),
                variable("SWITCHBOARD_RATE", "7", GatewayConfig::rate, 7),
                variable("SWITCHBOARD_PRESENCE_EVENTS_MAX", "50", GatewayConfig::presenceEventsMax, 50),
                variable("SWITCHBOARD_BURST", "9", GatewayConfig::burst, 9),
                variable("SWITCHBOARD_MAX_SUBSCRIPTIONS", "12", GatewayConfig::maxSubscriptions, 12),
                variable("SWITCHBOARD_HISTORY_SIZE", "0", GatewayConfig::historySize, 0),
                variable("SWITCHBOARD_HISTORY_TTL_MS", "60000", GatewayConfig::historyTtlMs, 60_000L),
                variable("SWITCHBOARD_HISTORY_BUDGET_BYTES", "1048576", GatewayConfig::historyBudgetBytes, 1_048_576L),
                variable("SWITCHBOARD_OUTBOUND_BYTES", "262144", GatewayConfig::outboundBytes, 262_144));
    }

    private static Arguments variable(
            String name, String value, Function<GatewayConfig, Object> setting, Object expected) {
        return Arguments.of(name, value, setting, expected);
    }

    private static ConfigException refused(Map<String, String> env) {
        ConfigException e = catchThrowableOfType(ConfigException.class, () -> GatewayConfig.fromEnvironment(env));
        assertThat(e).as("configuration %s must be refused", env).isNotNull();
        return e;
    }

    @Test
    @DisplayName("docs/protocol.md sections 2, 5 and 7: without variables every setting is its documented default")
    void defaultsAreTheDocumentedValues() {
        GatewayConfig config = GatewayConfig.defaults();

        assertThat(config.host()).isEqualTo(GatewayConfig.DEFAULT_HOST).isEqualTo("0.0.0.0");
        assertThat(config.port()).isEqualTo(GatewayConfig.DEFAULT_PORT).isEqualTo(8080);
        assertThat(config.guests()).isEqualTo(GatewayConfig.DEFAULT_GUESTS).isTrue();
        assertThat(config.helloTimeoutMs())
                .isEqualTo(GatewayConfig.DEFAULT_HELLO_TIMEOUT_MS)
                .isEqualTo(10_000);
        assertThat(config.pingIntervalMs())
                .isEqualTo(GatewayConfig.DEFAULT_PING_INTERVAL_MS)
                .isEqualTo(25_000);
        assertThat(config.pingTimeoutMs())
                .isEqualTo(GatewayConfig.DEFAULT_PING_TIMEOUT_MS)
                .isEqualTo(10_000);
        assertThat(config.maxFrame())
                .isEqualTo(GatewayConfig.DEFAULT_MAX_FRAME)
                .isEqualTo(65_536)
                .isEqualTo(Limits.DEFAULT_MAX_FRAME);
        assertThat(config.rate())
                .isEqualTo(GatewayConfig.DEFAULT_RATE)
                .isEqualTo(100)
                .isEqualTo(Limits.DEFAULT_RATE);
        assertThat(config.burst())
                .isEqualTo(GatewayConfig.DEFAULT_BURST)
                .isEqualTo(200)
                .isEqualTo(Limits.DEFAULT_BURST);
        assertThat(config.maxSubscriptions())
                .isEqualTo(GatewayConfig.DEFAULT_MAX_SUBSCRIPTIONS)
                .isEqualTo(1000)
                .isEqualTo(Limits.DEFAULT_MAX_SUBSCRIPTIONS);
        assertThat(config.historySize())
                .isEqualTo(GatewayConfig.DEFAULT_HISTORY_SIZE)
                .isEqualTo(100);
        assertThat(config.historyTtlMs())
                .isEqualTo(GatewayConfig.DEFAULT_HISTORY_TTL_MS)
                .isEqualTo(120_000);
        assertThat(config.historyBudgetBytes())
                .isEqualTo(GatewayConfig.defaultHistoryBudget())
                .isEqualTo(Math.min(64L << 20, Runtime.getRuntime().maxMemory() / 4));
        assertThat(config.outboundBytes())
                .isEqualTo(GatewayConfig.DEFAULT_OUTBOUND_BYTES)
                .isEqualTo(1 << 20);
    }

    @Test
    @DisplayName("without a secret or a key, tokens are refused and /api is disabled; the node id is usable")
    void defaultsHaveNoSecretsAndAValidNodeId() {
        GatewayConfig config = GatewayConfig.defaults();

        assertThat(config.jwtSecret()).isNull();
        assertThat(config.tokensEnabled()).isFalse();
        assertThat(config.apiKey()).isNull();
        assertThat(config.apiEnabled()).isFalse();
        assertThat(config.nodeId()).matches("[A-Za-z0-9_.-]{1,64}");
    }

    @ParameterizedTest(name = "{0}={1}")
    @MethodSource("everyVariable")
    @DisplayName("each variable sets its own setting and no other")
    void everyVariableIsRead(String name, String value, Function<GatewayConfig, Object> setting, Object expected) {
        GatewayConfig config = GatewayConfig.fromEnvironment(Map.of(name, value));

        assertThat(setting.apply(config)).isEqualTo(expected);
        Map<String, String> changed = new HashMap<>(config.describe());
        Map<String, String> defaults = new HashMap<>(GatewayConfig.defaults().describe());
        changed.remove(name);
        defaults.remove(name);
        assertThat(changed).isEqualTo(defaults);
        assertThat(config.describe()).containsKey(name);
    }

    @Test
    @DisplayName("all variables set at once are all read")
    void allVariablesTogetherAreRead() {
        Map<String, String> env = new HashMap<>();
        everyVariable().forEach(a -> env.put((String) a.get()[0], (String) a.get()[1]));
        assertThat(env).hasSize(18);

        GatewayConfig config = GatewayConfig.fromEnvironment(env);

        everyVariable().forEach(a -> {
            @SuppressWarnings("unchecked")
            Function<GatewayConfig, Object> setting = (Function<GatewayConfig, Object>) a.get()[2];
            assertThat(setting.apply(config)).as("%s", a.get()[0]).isEqualTo(a.get()[3]);
        });
        assertThat(config.tokensEnabled()).isTrue();
        assertThat(config.apiEnabled()).isTrue();
    }

    @Test
    @DisplayName("empty variables mean the default; numbers may have surrounding spaces")
    void emptyMeansDefaultAndNumbersAreTrimmed() {
        Map<String, String> env = new HashMap<>();
        env.put("SWITCHBOARD_HOST", "");
        env.put("SWITCHBOARD_JWT_SECRET", "");
        env.put("SWITCHBOARD_API_KEY", "");
        env.put("SWITCHBOARD_GUESTS", " ");
        env.put("SWITCHBOARD_RATE", "");
        env.put("SWITCHBOARD_BURST", " 250 ");

        GatewayConfig config = GatewayConfig.fromEnvironment(env);

        assertThat(config.host()).isEqualTo(GatewayConfig.DEFAULT_HOST);
        assertThat(config.jwtSecret()).isNull();
        assertThat(config.apiKey()).isNull();
        assertThat(config.guests()).isEqualTo(GatewayConfig.DEFAULT_GUESTS);
        assertThat(config.rate()).isEqualTo(GatewayConfig.DEFAULT_RATE);
        assertThat(config.burst()).isEqualTo(250);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"true", "TRUE", "on", "yes", "1", " True "})
    @DisplayName("SWITCHBOARD_GUESTS accepts the usual spellings of true")
    void guestsAcceptsSpellingsOfTrue(String value) {
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_GUESTS", value))
                        .guests())
                .isTrue();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"false", "FALSE", "off", "no", "0", " No "})
    @DisplayName("SWITCHBOARD_GUESTS accepts the usual spellings of false")
    void guestsAcceptsSpellingsOfFalse(String value) {
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_GUESTS", value))
                        .guests())
                .isFalse();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("numericVariables")
    @DisplayName("a numeric variable that is not a whole number is one problem naming the variable and the value")
    void nonNumberIsOneProblemNamingVariableAndValue(String name) {
        for (String value : List.of("abc", "12.5", "1e3", "0x10", "ten", "99999999999999999999")) {
            ConfigException e = refused(Map.of(name, value));

            assertThat(e.problems())
                    .as("%s=%s", name, value)
                    .singleElement(STRING)
                    .contains(name + "=" + value)
                    .contains("whole number");
        }
    }

    @ParameterizedTest(name = "{0} in {1}..{2}")
    @MethodSource("numericVariables")
    @DisplayName("a numeric variable out of its range is one problem naming the variable, the value and the range")
    void outOfRangeIsOneProblemNamingVariableAndValue(String name, long min, long max) {
        for (long value : new long[] {min - 1, max + 1}) {
            ConfigException e = refused(Map.of(name, String.valueOf(value)));

            assertThat(e.problems())
                    .as("%s=%d", name, value)
                    .singleElement(STRING)
                    .contains(name + "=" + value)
                    .contains(String.valueOf(min))
                    .contains(String.valueOf(max));
        }
    }

    @ParameterizedTest(name = "{0} in {1}..{2}")
    @MethodSource("numericVariables")
    @DisplayName("the ends of every numeric range are accepted when the other settings allow them")
    void rangeEndsAreAccepted(String name, long min, long max) {
        for (long value : new long[] {min, max}) {
            Map<String, String> env = new HashMap<>();
            env.put(name, String.valueOf(value));
            // keep the cross-setting checks satisfied so that only the range is under test
            if (name.equals("SWITCHBOARD_MAX_FRAME")) {
                env.put("SWITCHBOARD_OUTBOUND_BYTES", String.valueOf(1 << 30));
            }
            if (name.equals("SWITCHBOARD_OUTBOUND_BYTES")) {
                env.put("SWITCHBOARD_MAX_FRAME", "1024");
            }
            if (name.equals("SWITCHBOARD_MAX_FRAME") && value < 1024) {
                continue; // below the separate 1024-byte floor, tested on its own
            }
            if (name.equals("SWITCHBOARD_OUTBOUND_BYTES") && value < 2048) {
                continue; // cannot hold twice the smallest allowed frame, tested on its own
            }
            GatewayConfig config = GatewayConfig.fromEnvironment(env);

            assertThat(config.describe()).as("%s=%d", name, value).containsEntry(name, String.valueOf(value));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"maybe", "2", "tru", "y", "enabled", "-1"})
    @DisplayName("a bad boolean is one problem naming SWITCHBOARD_GUESTS and the value")
    void badBooleanIsOneProblem(String value) {
        ConfigException e = refused(Map.of("SWITCHBOARD_GUESTS", value));

        assertThat(e.problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_GUESTS=" + value)
                .contains("true or false");
    }

    @Test
    @DisplayName("a frame limit under 1024 bytes is one problem naming the variable and the value")
    void maxFrameUnder1024IsOneProblem() {
        ConfigException e = refused(Map.of("SWITCHBOARD_MAX_FRAME", "1023"));

        assertThat(e.problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_MAX_FRAME=1023")
                .contains("1024");
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_MAX_FRAME", "1024"))
                        .maxFrame())
                .isEqualTo(1024);
    }

    @ParameterizedTest(name = "<{0}>")
    @ValueSource(strings = {"gw 1", "gw/1", "gw\u00e91", "node:1"})
    @DisplayName("a node id with a character outside A-Z a-z 0-9 _ . - is one problem naming it")
    void badNodeIdIsOneProblem(String value) {
        ConfigException e = refused(Map.of("SWITCHBOARD_NODE_ID", value));

        assertThat(e.problems()).singleElement(STRING).contains("SWITCHBOARD_NODE_ID=" + value);
    }

    @Test
    @DisplayName("a node id longer than 64 characters is refused, 64 is accepted")
    void nodeIdLengthLimit() {
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_NODE_ID", "n".repeat(64)))
                        .nodeId())
                .hasSize(64);
        ConfigException e = refused(Map.of("SWITCHBOARD_NODE_ID", "n".repeat(65)));

        assertThat(e.problems()).singleElement(STRING).contains("SWITCHBOARD_NODE_ID=" + "n".repeat(65));
    }

    @Test
    @DisplayName("a blank host is one problem naming SWITCHBOARD_HOST")
    void blankHostIsOneProblem() {
        ConfigException e = refused(Map.of("SWITCHBOARD_HOST", "   "));

        assertThat(e.problems()).singleElement(STRING).contains("SWITCHBOARD_HOST");
    }

    @Test
    @DisplayName("a JWT secret under 32 bytes is one problem that names the variable and its length, not its text")
    void shortJwtSecretIsOneProblemWithoutTheSecret() {
        String shortSecret = "abcdefghijklmnopqrstuvwxyz01234"; // 31 bytes

        ConfigException e = refused(Map.of("SWITCHBOARD_JWT_SECRET", shortSecret));

        assertThat(e.problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_JWT_SECRET")
                .contains("31 bytes")
                .contains("32")
                .doesNotContain(shortSecret);
        assertThat(e.getMessage()).doesNotContain(shortSecret);
    }

    @Test
    @DisplayName("a JWT secret of exactly 32 bytes is accepted; its length is counted in UTF-8 bytes")
    void jwtSecretLengthIsCountedInBytes() {
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_JWT_SECRET", "a".repeat(32)))
                        .tokensEnabled())
                .isTrue();
        String sixteenEAcute = "\u00e9".repeat(16); // 16 characters, 32 bytes
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_JWT_SECRET", sixteenEAcute))
                        .jwtSecret())
                .isEqualTo(sixteenEAcute);
        String fifteenEAcuteAndOne = "\u00e9".repeat(15) + "a"; // 16 characters, 31 bytes
        assertThat(refused(Map.of("SWITCHBOARD_JWT_SECRET", fifteenEAcuteAndOne))
                        .problems())
                .singleElement(STRING)
                .contains("31 bytes");
    }

    @Test
    @DisplayName("an API key under 16 characters is one problem that names the variable, not the key")
    void shortApiKeyIsOneProblemWithoutTheKey() {
        String shortKey = "k-0123456789abc"; // 15 characters

        ConfigException e = refused(Map.of("SWITCHBOARD_API_KEY", shortKey));

        assertThat(e.problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_API_KEY")
                .contains("15")
                .contains("16")
                .doesNotContain(shortKey);
        assertThat(e.getMessage()).doesNotContain(shortKey);
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_API_KEY", shortKey + "d"))
                        .apiEnabled())
                .isTrue();
    }

    @Test
    @DisplayName("docs/protocol.md section 7: outbound bytes under twice the frame limit is one problem naming both")
    void outboundBytesUnderTwiceMaxFrameIsOneProblem() {
        ConfigException e = refused(Map.of("SWITCHBOARD_MAX_FRAME", "65536", "SWITCHBOARD_OUTBOUND_BYTES", "131071"));

        assertThat(e.problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_OUTBOUND_BYTES=131071")
                .contains("SWITCHBOARD_MAX_FRAME=65536")
                .contains("131072");
        GatewayConfig exactlyTwice = GatewayConfig.fromEnvironment(
                Map.of("SWITCHBOARD_MAX_FRAME", "65536", "SWITCHBOARD_OUTBOUND_BYTES", "131072"));
        assertThat(exactlyTwice.outboundBytes()).isEqualTo(131_072);
    }

    @Test
    @DisplayName("a frame limit above half the default outbound bytes contradicts the default and is reported")
    void largeMaxFrameContradictsDefaultOutboundBytes() {
        ConfigException e = refused(Map.of("SWITCHBOARD_MAX_FRAME", "1000000"));

        assertThat(e.problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_OUTBOUND_BYTES=" + GatewayConfig.DEFAULT_OUTBOUND_BYTES)
                .contains("SWITCHBOARD_MAX_FRAME=1000000");
    }

    @Test
    @DisplayName("several bad settings are all reported together, one line each")
    void severalProblemsAreReportedTogether() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PORT", "http");
        env.put("SWITCHBOARD_RATE", "0");
        env.put("SWITCHBOARD_GUESTS", "maybe");
        env.put("SWITCHBOARD_JWT_SECRET", "too-short");
        env.put("SWITCHBOARD_API_KEY", "k3y-XQ");
        env.put("SWITCHBOARD_NODE_ID", "gw 1");
        env.put("SWITCHBOARD_HISTORY_TTL_MS", "-5");

        ConfigException e = refused(env);

        assertThat(e.problems()).hasSize(7);
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).contains("PORT=http"));
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).contains("SWITCHBOARD_RATE=0"));
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).contains("SWITCHBOARD_GUESTS=maybe"));
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).contains("SWITCHBOARD_JWT_SECRET"));
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).contains("SWITCHBOARD_API_KEY"));
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).contains("SWITCHBOARD_NODE_ID=gw 1"));
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).contains("SWITCHBOARD_HISTORY_TTL_MS=-5"));
        assertThat(e.getMessage())
                .contains(e.problems().toArray(String[]::new))
                .doesNotContain("too-short")
                .doesNotContain("k3y-XQ");
    }

    @Test
    @DisplayName("problems() cannot be changed by the caller")
    void problemsAreImmutable() {
        ConfigException e = refused(Map.of("PORT", "x"));

        assertThat(e.problems()).isUnmodifiable();
    }

    @Test
    @DisplayName("the record's constructor checks the same rules as fromEnvironment")
    void constructorValidates() {
        ConfigException e = catchThrowableOfType(
                ConfigException.class,
                () -> new GatewayConfig(
                        "0.0.0.0", 8080, "gw-1", null, null, true, 0, 25_000, 10_000, 65_536, 100, 200, 1000, 100,
                        120_000, 1 << 20, 1 << 20, 30_000, 5_000, 3, 1000, null, 10_000, null, null, List.of(), null,
                        null, 1000, null));

        assertThat(e).isNotNull();
        assertThat(e.problems()).singleElement(STRING).contains("SWITCHBOARD_HELLO_TIMEOUT_MS=0");
    }

    @Test
    @DisplayName("SWITCHBOARD_PRESENCE_EVENTS_MAX is 1000 by default, read from 0 to 1000000, refused outside")
    void presenceEventsMaxIsReadAndBounded() {
        assertThat(GatewayConfig.defaults().presenceEventsMax())
                .isEqualTo(GatewayConfig.DEFAULT_PRESENCE_EVENTS_MAX)
                .isEqualTo(1000);
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_PRESENCE_EVENTS_MAX", "0"))
                        .presenceEventsMax())
                .isZero();
        assertThat(refused(Map.of("SWITCHBOARD_PRESENCE_EVENTS_MAX", "-1")).problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_PRESENCE_EVENTS_MAX=-1")
                .contains("0 to 1000000");
    }

    @Test
    @DisplayName("SWITCHBOARD_MAX_BLOCKS is 1000 by default, read from 1 to 100000, and refused outside with one line")
    void maxBlocksIsReadAndBounded() {
        assertThat(GatewayConfig.defaults().maxBlocks())
                .isEqualTo(GatewayConfig.DEFAULT_MAX_BLOCKS)
                .isEqualTo(1000);
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_MAX_BLOCKS", "1"))
                        .maxBlocks())
                .isEqualTo(1);
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_MAX_BLOCKS", "100000"))
                        .maxBlocks())
                .isEqualTo(100_000);
        assertThat(refused(Map.of("SWITCHBOARD_MAX_BLOCKS", "0")).problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_MAX_BLOCKS=0")
                .contains("1 to 100000");
    }

    @Test
    @DisplayName("a history budget that cannot hold two largest frames is refused, naming both settings")
    void historyBudgetBelowTwoFramesIsRefused() {
        ConfigException e =
                refused(Map.of("SWITCHBOARD_HISTORY_BUDGET_BYTES", "100000", "SWITCHBOARD_MAX_FRAME", "65536"));

        assertThat(e.problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_HISTORY_BUDGET_BYTES=100000")
                .contains("SWITCHBOARD_MAX_FRAME=65536")
                .contains("131072");
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_HISTORY_BUDGET_BYTES", "131072"))
                        .historyBudgetBytes())
                .isEqualTo(131_072);
    }

    @Test
    @DisplayName("a history budget over half of the maximum heap is refused with one line naming the setting")
    void historyBudgetOverHalfTheHeapIsRefused() {
        long half = Runtime.getRuntime().maxMemory() / 2;

        ConfigException e = refused(Map.of("SWITCHBOARD_HISTORY_BUDGET_BYTES", String.valueOf(half + 1)));

        assertThat(e.problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_HISTORY_BUDGET_BYTES=" + (half + 1))
                .contains("heap")
                .contains("-Xmx");
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_HISTORY_BUDGET_BYTES", String.valueOf(half)))
                        .historyBudgetBytes())
                .isEqualTo(half);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"lots", "-1", "0", "1.5"})
    @DisplayName("a history budget that is not a positive whole number is refused with one line")
    void historyBudgetNotANumberIsRefused(String value) {
        ConfigException e = refused(Map.of("SWITCHBOARD_HISTORY_BUDGET_BYTES", value));

        assertThat(e.problems()).singleElement(STRING).contains("SWITCHBOARD_HISTORY_BUDGET_BYTES=" + value);
    }

    @Test
    @DisplayName("describe() and toString() mask the JWT secret and the API key")
    void describeMasksSecrets() {
        GatewayConfig config =
                GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_JWT_SECRET", SECRET, "SWITCHBOARD_API_KEY", API_KEY));

        assertThat(config.describe())
                .containsEntry("SWITCHBOARD_JWT_SECRET", "****")
                .containsEntry("SWITCHBOARD_API_KEY", "****");
        assertThat(config.describe().values()).noneSatisfy(v -> assertThat(v).contains(SECRET));
        assertThat(config.describe().values()).noneSatisfy(v -> assertThat(v).contains(API_KEY));
        assertThat(config.toString()).doesNotContain(SECRET).doesNotContain(API_KEY);
    }

    @Test
    @DisplayName("describe() names every variable, and says when the secret or the key is unset")
    void describeNamesEveryVariable() {
        Map<String, String> described = GatewayConfig.defaults().describe();

        List<String> expected =
                new ArrayList<>(everyVariable().map(a -> (String) a.get()[0]).toList());
        expected.add("REDIS_URL");
        expected.add("MONGODB_URI");
        expected.addAll(List.of(
                "SWITCHBOARD_RESUME_GRACE_MS",
                "SWITCHBOARD_INTEREST_WAIT_MS",
                "SWITCHBOARD_AVOID_RECENT",
                "SWITCHBOARD_MAX_BLOCKS",
                "SWITCHBOARD_RESUME_SECRET",
                "SWITCHBOARD_DRAIN_MS",
                "SWITCHBOARD_ICE_SERVERS",
                "SWITCHBOARD_TRANSPORT"));
        expected.addAll(EdgeConfig.defaults().describe().keySet());
        expected.addAll(List.of(
                "SWITCHBOARD_HOOK_URL",
                "SWITCHBOARD_HOOKS",
                "SWITCHBOARD_HOOK_KEY",
                "SWITCHBOARD_HOOK_TIMEOUT_MS",
                "SWITCHBOARD_HOOK_CHANNELS",
                "SWITCHBOARD_HOOK_MAX_IN_FLIGHT",
                "SWITCHBOARD_WEBHOOK_URL",
                "SWITCHBOARD_WEBHOOK_SECRET",
                "SWITCHBOARD_WEBHOOK_BACKLOG"));
        assertThat(described.keySet()).containsExactlyInAnyOrderElementsOf(expected);
        assertThat(described.get("SWITCHBOARD_JWT_SECRET")).contains("unset");
        assertThat(described.get("SWITCHBOARD_API_KEY")).contains("unset");
        assertThat(described.get("REDIS_URL")).contains("embedded");
        assertThat(described.get("MONGODB_URI")).contains("in memory");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(
            strings = {
                "mongodb://127.0.0.1:27017",
                "mongodb://u:pw@db1:27017,db2:27017/chat?replicaSet=rs0",
                "mongodb+srv://cluster0.example.net/switchboard"
            })
    @DisplayName("MONGODB_URI is taken as is, mongodb+srv:// included; its database or switchboard")
    void mongoUris(String uri) {
        GatewayConfig config = GatewayConfig.fromEnvironment(Map.of("MONGODB_URI", uri));
        assertThat(config.mongo().uri()).isEqualTo(uri);
        assertThat(config.mongo().database()).isIn("switchboard", "chat");
        assertThat(config.mongo().timeoutMs()).isLessThan(config.helloTimeoutMs());
        assertThat(config.describe())
                .containsKeys(
                        "SWITCHBOARD_MONGODB_TIMEOUT_MS", "SWITCHBOARD_MONGODB_POOL", "SWITCHBOARD_MONGODB_BUFFER");
        assertThat(config.toString()).doesNotContain(":pw@");
    }

    @Test
    @DisplayName("bad MongoDB settings are one line each, naming the setting; the password never shows")
    void badMongoSettings() {
        ConfigException e = catchThrowableOfType(
                ConfigException.class,
                () -> GatewayConfig.fromEnvironment(Map.of(
                        "MONGODB_URI", "mongo://u:hunter2hunter2@h:27017",
                        "SWITCHBOARD_MONGODB_POOL", "0",
                        "SWITCHBOARD_MONGODB_BUFFER", "lots")));
        assertThat(e.problems()).hasSize(3);
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).startsWith("MONGODB_URI is not a MongoDB"));
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).startsWith("SWITCHBOARD_MONGODB_POOL"));
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).startsWith("SWITCHBOARD_MONGODB_BUFFER"));
        assertThat(String.join("\n", e.problems())).doesNotContain("hunter2");

        ConfigException slow = catchThrowableOfType(
                ConfigException.class,
                () -> GatewayConfig.fromEnvironment(
                        Map.of("MONGODB_URI", "mongodb://h", "SWITCHBOARD_MONGODB_TIMEOUT_MS", "20000")));
        assertThat(slow.problems())
                .singleElement(STRING)
                .startsWith(
                        "SWITCHBOARD_MONGODB_TIMEOUT_MS=20000 is not" + " shorter than SWITCHBOARD_HELLO_TIMEOUT_MS");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(
            strings = {
                "redis://127.0.0.1:6379",
                "rediss://cache.example.com:6380/2",
                "redis://:s3cret@localhost:6379",
                "redis-sentinel://127.0.0.1:26379#mymaster",
                "redis-sentinel://h1:26379,h2:26379#main",
                "redis-cluster://127.0.0.1:7000,127.0.0.1:7001",
                "rediss-cluster://user:pw@h1:7000,h2:7000"
            })
    @DisplayName("REDIS_URL of every supported form turns the cluster mode on")
    void redisUrlForms(String url) {
        GatewayConfig config = GatewayConfig.fromEnvironment(Map.of("REDIS_URL", url));

        assertThat(config.clustered()).isTrue();
        assertThat(config.redis().url()).isEqualTo(url);
        assertThat(config.redis().commandTimeoutMs()).isEqualTo(RedisConfig.DEFAULT_COMMAND_TIMEOUT_MS);
        assertThat(config.redis().nodeLeaseMs()).isEqualTo(RedisConfig.DEFAULT_NODE_LEASE_MS);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(
            strings = {
                "http://127.0.0.1:6379",
                "127.0.0.1:6379",
                "redis://",
                "redis-sentinel://127.0.0.1:26379",
                "redis-cluster://127.0.0.1:7000,,127.0.0.1:7001",
                "redis://host:notaport"
            })
    @DisplayName("a REDIS_URL that cannot be used is one line naming it and the forms expected")
    void badRedisUrl(String url) {
        ConfigException e = catchThrowableOfType(
                ConfigException.class, () -> GatewayConfig.fromEnvironment(Map.of("REDIS_URL", url)));

        assertThat(e).isNotNull();
        assertThat(e.problems()).singleElement(STRING).startsWith("REDIS_URL=").contains("expected");
    }

    @Test
    @DisplayName("the password in REDIS_URL never appears in describe() or a problem line")
    void redisPasswordMasked() {
        GatewayConfig config = GatewayConfig.fromEnvironment(Map.of("REDIS_URL", "redis://:hunter2hunter2@h:6379"));
        assertThat(config.describe().get("REDIS_URL")).isEqualTo("redis://:****@h:6379");
        assertThat(config.toString()).doesNotContain("hunter2");

        ConfigException e = catchThrowableOfType(
                ConfigException.class,
                () -> GatewayConfig.fromEnvironment(Map.of("REDIS_URL", "ftp://:hunter2hunter2@h:6379")));
        assertThat(String.join("\n", e.problems())).doesNotContain("hunter2");
    }

    @Test
    @DisplayName("Redis settings that contradict each other or the rest are reported together")
    void contradictoryRedisSettings() {
        ConfigException e = catchThrowableOfType(
                ConfigException.class,
                () -> GatewayConfig.fromEnvironment(Map.of(
                        "REDIS_URL", "redis://127.0.0.1:6379",
                        "SWITCHBOARD_REDIS_CA", "/nonexistent/ca.pem",
                        "SWITCHBOARD_REDIS_TIMEOUT_MS", "20000",
                        "SWITCHBOARD_NODE_LEASE_MS", "90000")));

        assertThat(e.problems()).hasSize(3);
        assertThat(e.problems()).anySatisfy(p -> assertThat(p).startsWith("SWITCHBOARD_REDIS_CA=/nonexistent/ca.pem"));
        assertThat(e.problems())
                .anySatisfy(p -> assertThat(p).contains("does not use TLS").contains("rediss://"));
        assertThat(e.problems())
                .anySatisfy(p -> assertThat(p)
                        .startsWith("SWITCHBOARD_REDIS_TIMEOUT_MS=20000")
                        .contains("SWITCHBOARD_PING_TIMEOUT_MS=10000"));
    }

    @Test
    @DisplayName("a node lease shorter than three Redis timeouts is refused: a slow renewal would look like death")
    void leaseTooShort() {
        ConfigException e = catchThrowableOfType(
                ConfigException.class,
                () -> GatewayConfig.fromEnvironment(
                        Map.of("REDIS_URL", "redis://127.0.0.1:6379", "SWITCHBOARD_NODE_LEASE_MS", "2000")));

        assertThat(e.problems()).singleElement(STRING).startsWith("SWITCHBOARD_NODE_LEASE_MS=2000");
    }

    @Test
    @DisplayName("SWITCHBOARD_REDIS_START_WAIT_MS: 30000 by default, read when set, in describe() in cluster mode")
    void startWait() {
        GatewayConfig byDefault = GatewayConfig.fromEnvironment(Map.of("REDIS_URL", "redis://127.0.0.1:6379"));
        assertThat(byDefault.redis().startWaitMs())
                .isEqualTo(RedisConfig.DEFAULT_START_WAIT_MS)
                .isEqualTo(30_000L);
        assertThat(byDefault.describe()).containsEntry("SWITCHBOARD_REDIS_START_WAIT_MS", "30000");

        GatewayConfig set = GatewayConfig.fromEnvironment(
                Map.of("REDIS_URL", "redis://127.0.0.1:6379", "SWITCHBOARD_REDIS_START_WAIT_MS", "5000"));
        assertThat(set.redis().startWaitMs()).isEqualTo(5_000L);
        GatewayConfig none = GatewayConfig.fromEnvironment(
                Map.of("REDIS_URL", "redis://127.0.0.1:6379", "SWITCHBOARD_REDIS_START_WAIT_MS", "0"));
        assertThat(none.redis().startWaitMs()).as("0: ready at once").isZero();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"-1", "600001", "soon", "1.5"})
    @DisplayName("a SWITCHBOARD_REDIS_START_WAIT_MS that is not a whole number from 0 to 600000 is one line naming it")
    void startWaitOutOfRange(String value) {
        ConfigException e = catchThrowableOfType(
                ConfigException.class,
                () -> GatewayConfig.fromEnvironment(
                        Map.of("REDIS_URL", "redis://127.0.0.1:6379", "SWITCHBOARD_REDIS_START_WAIT_MS", value)));

        assertThat(e.problems())
                .singleElement(STRING)
                .isEqualTo("SWITCHBOARD_REDIS_START_WAIT_MS=" + value + ": expected a whole number from 0 to 600000");
    }

    @Test
    @DisplayName("a start wait shorter than one Redis command could take is refused, naming both settings")
    void startWaitShorterThanACommand() {
        ConfigException e = catchThrowableOfType(
                ConfigException.class,
                () -> GatewayConfig.fromEnvironment(Map.of(
                        "REDIS_URL",
                        "redis://127.0.0.1:6379",
                        "SWITCHBOARD_REDIS_TIMEOUT_MS",
                        "2000",
                        "SWITCHBOARD_REDIS_START_WAIT_MS",
                        "500")));

        assertThat(e.problems())
                .singleElement(STRING)
                .startsWith("SWITCHBOARD_REDIS_START_WAIT_MS=500")
                .contains("SWITCHBOARD_REDIS_TIMEOUT_MS=2000")
                .contains("use 0");
    }

    @Test
    @DisplayName("SWITCHBOARD_REDIS_START_WAIT_MS without REDIS_URL is a mistake worth a line")
    void startWaitWithoutRedis() {
        ConfigException e = catchThrowableOfType(
                ConfigException.class,
                () -> GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_REDIS_START_WAIT_MS", "5000")));

        assertThat(e.problems())
                .singleElement(STRING)
                .startsWith("SWITCHBOARD_REDIS_START_WAIT_MS is set")
                .contains("REDIS_URL is not");
    }

    @Test
    @DisplayName("a RedisConfig made in code is checked the same way as one read from the environment")
    void startWaitCheckedInTheRecord() {
        ConfigException e = catchThrowableOfType(
                ConfigException.class,
                () -> new GatewayConfig(
                        "127.0.0.1",
                        0,
                        "gw-1",
                        null,
                        null,
                        true,
                        10_000,
                        25_000,
                        10_000,
                        65_536,
                        100,
                        200,
                        1000,
                        100,
                        120_000,
                        1 << 20,
                        1 << 20,
                        30_000,
                        5_000,
                        3,
                        1000,
                        null,
                        10_000,
                        new RedisConfig("redis://127.0.0.1:6379", null, 1_000, 10_000, -5),
                        null,
                        List.of(),
                        null,
                        null,
                        1000,
                        null));

        assertThat(e.problems()).singleElement(STRING).startsWith("SWITCHBOARD_REDIS_START_WAIT_MS=-5");
        assertThat(new RedisConfig("redis://127.0.0.1:6379", null, 1_000, 10_000).startWaitMs())
                .isEqualTo(RedisConfig.DEFAULT_START_WAIT_MS);
    }

    @Test
    @DisplayName("SWITCHBOARD_REDIS_CA without REDIS_URL is a mistake worth a line")
    void caWithoutRedis() {
        ConfigException e = catchThrowableOfType(
                ConfigException.class,
                () -> GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_REDIS_CA", "/etc/ca.pem")));

        assertThat(e.problems()).singleElement(STRING).contains("REDIS_URL is not");
    }

    @Test
    @DisplayName("SWITCHBOARD_ICE_SERVERS: none by default; STUN and TURN servers in the RTCIceServer shape, the TURN"
            + " credential masked in describe()")
    void iceServers() {
        assertThat(GatewayConfig.defaults().iceServers()).isEmpty();
        assertThat(GatewayConfig.defaults().describe().get("SWITCHBOARD_ICE_SERVERS"))
                .contains("unset");

        GatewayConfig config = GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_ICE_SERVERS", """
                [{"urls":"stun:stun.example.com:3478"},
                 {"urls":["turn:turn.example.com:3478","turns:turn.example.com:5349"],
                  "username":"alice","credential":"s3cret-pass"}]"""));

        assertThat(config.iceServers())
                .containsExactly(
                        new IceServer(List.of("stun:stun.example.com:3478"), null, null),
                        new IceServer(
                                List.of("turn:turn.example.com:3478", "turns:turn.example.com:5349"),
                                "alice",
                                "s3cret-pass"));
        assertThat(config.iceServers().get(1).toBrowser()).containsEntry("credential", "s3cret-pass");
        assertThat(config.describe().get("SWITCHBOARD_ICE_SERVERS"))
                .contains("stun:stun.example.com:3478", "turn:turn.example.com:3478", "****")
                .doesNotContain("s3cret-pass");
        assertThat(config.toString()).doesNotContain("s3cret-pass");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(
            strings = {
                "stun:x",
                "{\"urls\":\"stun:x\"}",
                "[\"stun:x\"]",
                "[{}]",
                "[{\"urls\":[]}]",
                "[{\"urls\":\"http://x\"}]",
                "[{\"urls\":[\"stun:x\", 3]}]",
                "[{\"urls\":\"turn:x\"}]",
                "[{\"urls\":\"turn:x\",\"username\":\"u\"}]",
                "[{\"urls\":\"turn:x\",\"username\":\"u\",\"credential\":7}]"
            })
    @DisplayName("a bad SWITCHBOARD_ICE_SERVERS is one line naming the setting and the expected shape, no credential")
    void badIceServers(String value) {
        ConfigException e = catchThrowableOfType(
                ConfigException.class, () -> GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_ICE_SERVERS", value)));

        assertThat(e).isNotNull();
        assertThat(e.problems())
                .singleElement(STRING)
                .startsWith("SWITCHBOARD_ICE_SERVERS")
                .contains("expected a JSON array of objects");
    }

    @Test
    @DisplayName("SWITCHBOARD_TRANSPORT: auto by default, resolved to what the machine has and said so at start")
    void transportDefaultsToAuto() {
        GatewayConfig config = GatewayConfig.defaults();

        assertThat(config.transport()).isEqualTo(IoTransport.AUTO);
        assertThat(config.describe().get("SWITCHBOARD_TRANSPORT"))
                .startsWith("auto (")
                .contains(IoTransport.AUTO.resolve().setting());
    }

    @Test
    @DisplayName("SWITCHBOARD_TRANSPORT names any of auto, io_uring, epoll, nio, in any case")
    void transportChoices() {
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_TRANSPORT", "NIO"))
                        .transport())
                .isEqualTo(IoTransport.NIO);
        assertThat(GatewayConfig.fromEnvironment(Map.of("SWITCHBOARD_TRANSPORT", "nio"))
                        .describe())
                .containsEntry("SWITCHBOARD_TRANSPORT", "nio");
    }

    @Test
    @DisplayName("an unknown SWITCHBOARD_TRANSPORT is one line naming the setting and the choices")
    void unknownTransport() {
        ConfigException e = refused(Map.of("SWITCHBOARD_TRANSPORT", "kqueue"));

        assertThat(e.problems())
                .singleElement(STRING)
                .isEqualTo("SWITCHBOARD_TRANSPORT=kqueue: expected auto, io_uring, epoll or nio");
    }

    @Test
    @DisplayName("a transport this machine cannot run is refused at start with the reason, never silently replaced")
    void unavailableTransport() {
        assertThat(GatewayConfig.transportProblems(IoTransport.IO_URING, "io_uring_setup: Operation not permitted"))
                .singleElement(STRING)
                .isEqualTo("SWITCHBOARD_TRANSPORT=io_uring: io_uring is not available on this machine (io_uring_setup:"
                        + " Operation not permitted); expected auto (the best this machine has), epoll or nio");
        for (IoTransport t : IoTransport.values()) {
            if (!t.available()) {
                assertThat(refused(Map.of("SWITCHBOARD_TRANSPORT", t.setting())).problems())
                        .singleElement(STRING)
                        .startsWith("SWITCHBOARD_TRANSPORT=" + t.setting() + ": " + t.setting() + " is not available");
            }
        }
    }
}
