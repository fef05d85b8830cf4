package io.switchboard.gateway.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.assertj.core.api.InstanceOfAssertFactories.STRING;

import io.switchboard.gateway.config.EdgeConfig.AddressBlock;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The edge's settings (docs/operations.md, "Security limits"): defaults, reading, and one problem line per bad setting. */
class EdgeConfigUnitTests {

    private static ConfigException refused(Map<String, String> env) {
        ConfigException e = catchThrowableOfType(ConfigException.class, () -> GatewayConfig.fromEnvironment(env));
        assertThat(e).as("configuration %s must be refused", env).isNotNull();
        return e;
    }

    private static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    @DisplayName("without variables every edge setting is its documented default, and describe() lists them all")
    void defaultsAreTheDocumentedValues() {
        EdgeConfig edge = GatewayConfig.defaults().edge();

        assertThat(edge.headerTimeoutMs())
                .isEqualTo(EdgeConfig.DEFAULT_HEADER_TIMEOUT_MS)
                .isEqualTo(5_000);
        assertThat(edge.idleTimeoutMs())
                .isEqualTo(EdgeConfig.DEFAULT_IDLE_TIMEOUT_MS)
                .isEqualTo(20_000);
        assertThat(edge.maxConnectionsPerAddress()).isEqualTo(1_000);
        assertThat(edge.connectRate()).isEqualTo(20);
        assertThat(edge.connectBurst()).isEqualTo(200);
        assertThat(edge.userConnectRate()).isEqualTo(1);
        assertThat(edge.userConnectBurst()).isEqualTo(10);
        assertThat(edge.rateEntries()).isEqualTo(100_000);
        assertThat(edge.trustedProxies()).isEmpty();
        assertThat(edge.allowedOrigins()).isEmpty();
        assertThat(edge.maxConnections()).isEqualTo(EdgeConfig.defaultMaxConnections());
        long limit = EdgeConfig.openFileLimit();
        if (limit > 0) {
            assertThat((long) edge.maxConnections())
                    .as("below the open-file limit %d", limit)
                    .isLessThan(limit - 64);
        }
        assertThat(GatewayConfig.defaults().describe())
                .containsKeys(
                        "SWITCHBOARD_HEADER_TIMEOUT_MS",
                        "SWITCHBOARD_IDLE_TIMEOUT_MS",
                        "SWITCHBOARD_MAX_CONNECTIONS",
                        "SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS",
                        "SWITCHBOARD_CONNECT_RATE",
                        "SWITCHBOARD_CONNECT_BURST",
                        "SWITCHBOARD_USER_CONNECT_RATE",
                        "SWITCHBOARD_USER_CONNECT_BURST",
                        "SWITCHBOARD_CONNECT_RATE_ENTRIES",
                        "SWITCHBOARD_TRUSTED_PROXIES",
                        "SWITCHBOARD_ALLOWED_ORIGINS");
    }

    @Test
    @DisplayName("the default total cap keeps a tenth of the open-file limit, at least 256, for everything else")
    void defaultTotalCapIsBelowTheDescriptorLimit() {
        assertThat(EdgeConfig.defaultMaxConnections(1_024)).isEqualTo(768);
        assertThat(EdgeConfig.defaultMaxConnections(20_000)).isEqualTo(18_000);
        assertThat(EdgeConfig.defaultMaxConnections(1_048_576)).isEqualTo(943_719);
        assertThat(EdgeConfig.defaultMaxConnections(-1)).isEqualTo(EdgeConfig.DEFAULT_MAX_CONNECTIONS_UNKNOWN_LIMIT);
    }

    @Test
    @DisplayName("every edge variable is read")
    void everyVariableIsRead() {
        GatewayConfig config = GatewayConfig.fromEnvironment(Map.ofEntries(
                Map.entry("SWITCHBOARD_HEADER_TIMEOUT_MS", "3000"),
                Map.entry("SWITCHBOARD_IDLE_TIMEOUT_MS", "9000"),
                Map.entry("SWITCHBOARD_MAX_CONNECTIONS", "500"),
                Map.entry("SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS", "50"),
                Map.entry("SWITCHBOARD_CONNECT_RATE", "5"),
                Map.entry("SWITCHBOARD_CONNECT_BURST", "7"),
                Map.entry("SWITCHBOARD_USER_CONNECT_RATE", "2"),
                Map.entry("SWITCHBOARD_USER_CONNECT_BURST", "3"),
                Map.entry("SWITCHBOARD_CONNECT_RATE_ENTRIES", "5000"),
                Map.entry("SWITCHBOARD_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.5 fd00::/8"),
                Map.entry("SWITCHBOARD_ALLOWED_ORIGINS", "https://App.example.com,http://localhost:8080")));
        EdgeConfig edge = config.edge();

        assertThat(edge)
                .isEqualTo(new EdgeConfig(
                        3_000,
                        9_000,
                        500,
                        50,
                        5,
                        7,
                        2,
                        3,
                        5_000,
                        List.of(
                                AddressBlock.parse("10.0.0.0/8"),
                                AddressBlock.parse("192.168.1.5"),
                                AddressBlock.parse("fd00::/8")),
                        List.of("https://app.example.com", "http://localhost:8080")));
        assertThat(config.describe())
                .containsEntry(
                        "SWITCHBOARD_TRUSTED_PROXIES",
                        "10.0.0.0/8,192.168.1.5/32,fd00:0:0:0:0:0:0:0/8".replace("fd00:0:0:0:0:0:0:0", "fd00::"))
                .containsEntry("SWITCHBOARD_ALLOWED_ORIGINS", "https://app.example.com,http://localhost:8080");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"example.com", "10.0.0.0/33", "10.0.0/8", "fd00::/129", "1.2.3.4/x"})
    @DisplayName("a trusted proxy that is not an address or a CIDR block is one problem naming the setting and"
            + " the entry; no name is looked up")
    void badTrustedProxyIsOneProblem(String entry) {
        ConfigException e = refused(Map.of("SWITCHBOARD_TRUSTED_PROXIES", "10.0.0.1, " + entry));

        assertThat(e.problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_TRUSTED_PROXIES", "'" + entry + "'", "CIDR");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(
            strings = {
                "app.example.com",
                "https://app.example.com/",
                "ftp://app.example.com",
                "https://app.example.com/page",
                "https://user@app.example.com"
            })
    @DisplayName("an allowed origin that a browser would never send is one problem naming the setting and the entry")
    void badOriginIsOneProblem(String entry) {
        ConfigException e = refused(Map.of("SWITCHBOARD_ALLOWED_ORIGINS", entry));

        assertThat(e.problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_ALLOWED_ORIGINS", "'" + entry + "'", "https://app.example.com");
    }

    @Test
    @DisplayName("a total cap at or above the open-file limit is refused, naming the limit")
    void totalCapAboveTheDescriptorLimitIsRefused() {
        long limit = EdgeConfig.openFileLimit();
        if (limit <= 0 || limit > 10_000_000) {
            return; // the operating system does not tell, or allows more than the setting's range
        }
        ConfigException e = refused(Map.of("SWITCHBOARD_MAX_CONNECTIONS", String.valueOf(limit)));

        assertThat(e.problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_MAX_CONNECTIONS=" + limit, "open-file limit " + limit, "ulimit -n");
    }

    @Test
    @DisplayName("bad numbers are reported all at once, one line each")
    void badNumbersAreEachOneProblem() {
        ConfigException e = refused(Map.of(
                "SWITCHBOARD_HEADER_TIMEOUT_MS",
                "0",
                "SWITCHBOARD_CONNECT_RATE",
                "fast",
                "SWITCHBOARD_CONNECT_RATE_ENTRIES",
                "10"));

        assertThat(e.problems()).hasSize(3);
        assertThat(e.problems())
                .anySatisfy(p -> assertThat(p).startsWith("SWITCHBOARD_HEADER_TIMEOUT_MS=0:"))
                .anySatisfy(p -> assertThat(p).startsWith("SWITCHBOARD_CONNECT_RATE=fast:"))
                .anySatisfy(p -> assertThat(p).startsWith("SWITCHBOARD_CONNECT_RATE_ENTRIES=10:"));
    }

    @Test
    @DisplayName("an address block holds the addresses of its prefix and nothing of the other family")
    void addressBlockContains() {
        AddressBlock v4 = AddressBlock.parse("10.1.2.3/8");
        AddressBlock v6 = AddressBlock.parse("2001:db8::/32");
        AddressBlock one = AddressBlock.parse("192.168.1.5");

        assertThat(v4.toString()).isEqualTo("10.0.0.0/8");
        assertThat(v4.contains(ip("10.255.0.1"))).isTrue();
        assertThat(v4.contains(ip("11.0.0.1"))).isFalse();
        assertThat(v6.contains(ip("2001:db8:ffff::1"))).isTrue();
        assertThat(v6.contains(ip("2001:db9::1"))).isFalse();
        assertThat(v6.contains(ip("10.0.0.1"))).isFalse();
        assertThat(one.contains(ip("192.168.1.5"))).isTrue();
        assertThat(one.contains(ip("192.168.1.6"))).isFalse();
        assertThat(AddressBlock.parse("0.0.0.0/0").contains(ip("8.8.8.8"))).isTrue();
    }

    @Test
    @DisplayName("origins: any when none are listed; else only the listed ones, and clients that send no Origin")
    void originAllowed() {
        EdgeConfig any = EdgeConfig.defaults();
        EdgeConfig listed = GatewayConfig.fromEnvironment(
                        Map.of("SWITCHBOARD_ALLOWED_ORIGINS", "https://app.example.com"))
                .edge();

        assertThat(any.originAllowed("https://evil.example.com")).isTrue();
        assertThat(listed.originAllowed("https://app.example.com")).isTrue();
        assertThat(listed.originAllowed("HTTPS://APP.EXAMPLE.COM")).isTrue();
        assertThat(listed.originAllowed(null)).isTrue();
        assertThat(listed.originAllowed("https://evil.example.com")).isFalse();
        assertThat(listed.originAllowed("null")).isFalse();
    }
}
