package io.switchboard.gateway.config;

import com.sun.management.UnixOperatingSystemMXBean;
import io.netty.util.NetUtil;
import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The limits at the gateway's edge, before a WebSocket upgrade (docs/design.md failure model, hostile clients): how
 * long a connection may take to send a request, how many connections one client address and the whole instance
 * hold, how fast an address or a user may connect, which proxies may name the client, and which page origins may
 * open {@code /ws}. The {@code DEFAULT_*} constants are the values used when a variable is not set.
 *
 * @param headerTimeoutMs time a new connection has to send a complete request line and headers, and a request its
 *                        body after them ({@code SWITCHBOARD_HEADER_TIMEOUT_MS})
 * @param idleTimeoutMs time a keep-alive HTTP connection may sit idle between requests
 *                      ({@code SWITCHBOARD_IDLE_TIMEOUT_MS})
 * @param maxConnections open TCP connections of this instance, WebSockets included; beyond it 503
 *                       ({@code SWITCHBOARD_MAX_CONNECTIONS}); below the process's open-file limit
 * @param maxConnectionsPerAddress open connections of one client address; beyond it 429
 *                                 ({@code SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS})
 * @param connectRate WebSocket connects per second per client address ({@code SWITCHBOARD_CONNECT_RATE})
 * @param connectBurst token-bucket size of {@code connectRate} ({@code SWITCHBOARD_CONNECT_BURST})
 * @param userConnectRate {@code hello}s per second per user ({@code SWITCHBOARD_USER_CONNECT_RATE})
 * @param userConnectBurst token-bucket size of {@code userConnectRate} ({@code SWITCHBOARD_USER_CONNECT_BURST})
 * @param rateEntries the most client addresses (and, apart, users) whose connect rate is remembered; beyond it the
 *                    least recently seen is forgotten ({@code SWITCHBOARD_CONNECT_RATE_ENTRIES})
 * @param trustedProxies peers whose {@code X-Forwarded-For} names the client ({@code SWITCHBOARD_TRUSTED_PROXIES});
 *                       none by default, so that a client cannot choose the address it is limited by
 * @param allowedOrigins page origins whose {@code Origin} may open {@code /ws}, lower case
 *                       ({@code SWITCHBOARD_ALLOWED_ORIGINS}); empty: any
 */
public record EdgeConfig(
        long headerTimeoutMs,
        long idleTimeoutMs,
        int maxConnections,
        int maxConnectionsPerAddress,
        int connectRate,
        int connectBurst,
        int userConnectRate,
        int userConnectBurst,
        int rateEntries,
        List<AddressBlock> trustedProxies,
        List<String> allowedOrigins) {
    public static final long DEFAULT_HEADER_TIMEOUT_MS = 5_000;
    public static final long DEFAULT_IDLE_TIMEOUT_MS = 20_000;
    /** Room for a large office or campus behind one NAT address. */
    public static final int DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 1_000;

    public static final int DEFAULT_CONNECT_RATE = 20;
    public static final int DEFAULT_CONNECT_BURST = 200;
    public static final int DEFAULT_USER_CONNECT_RATE = 1;
    public static final int DEFAULT_USER_CONNECT_BURST = 10;
    public static final int DEFAULT_RATE_ENTRIES = 100_000;
    /** {@code SWITCHBOARD_MAX_CONNECTIONS} when the operating system does not tell its open-file limit. */
    public static final int DEFAULT_MAX_CONNECTIONS_UNKNOWN_LIMIT = 10_000;
    /** Descriptors kept for Redis, MongoDB, logs and jars: at least this many, and a tenth of the limit. */
    public static final int RESERVED_DESCRIPTORS = 256;

    private static final String ORIGIN_EXPECTED = "expected origins such as https://app.example.com or "
            + "http://localhost:8080 (scheme, host and optional port; no path), separated by commas";
    private static final String PROXY_EXPECTED = "expected IP addresses or CIDR blocks such as 10.0.0.0/8, "
            + "192.168.1.5 or fd00::/8, separated by commas";

    public EdgeConfig {
        trustedProxies = trustedProxies == null ? List.of() : List.copyOf(trustedProxies);
        allowedOrigins = allowedOrigins == null
                ? List.of()
                : allowedOrigins.stream().map(o -> o.toLowerCase(Locale.ROOT)).toList();
    }

    /** The defaults of every setting. */
    public static EdgeConfig defaults() {
        return new EdgeConfig(
                DEFAULT_HEADER_TIMEOUT_MS,
                DEFAULT_IDLE_TIMEOUT_MS,
                defaultMaxConnections(),
                DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
                DEFAULT_CONNECT_RATE,
                DEFAULT_CONNECT_BURST,
                DEFAULT_USER_CONNECT_RATE,
                DEFAULT_USER_CONNECT_BURST,
                DEFAULT_RATE_ENTRIES,
                List.of(),
                List.of());
    }

    static EdgeConfig read(GatewayConfig.Reader r) {
        long header = r.integer("SWITCHBOARD_HEADER_TIMEOUT_MS", DEFAULT_HEADER_TIMEOUT_MS, 100, 600_000);
        long idle = r.integer("SWITCHBOARD_IDLE_TIMEOUT_MS", DEFAULT_IDLE_TIMEOUT_MS, 100, 3_600_000);
        int max = r.integer("SWITCHBOARD_MAX_CONNECTIONS", defaultMaxConnections(), 1, 10_000_000);
        int perAddress = r.integer(
                "SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS", DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, 1, 10_000_000);
        int rate = r.integer("SWITCHBOARD_CONNECT_RATE", DEFAULT_CONNECT_RATE, 1, 1_000_000);
        int burst = r.integer("SWITCHBOARD_CONNECT_BURST", DEFAULT_CONNECT_BURST, 1, 10_000_000);
        int userRate = r.integer("SWITCHBOARD_USER_CONNECT_RATE", DEFAULT_USER_CONNECT_RATE, 1, 1_000_000);
        int userBurst = r.integer("SWITCHBOARD_USER_CONNECT_BURST", DEFAULT_USER_CONNECT_BURST, 1, 10_000_000);
        int entries = r.integer("SWITCHBOARD_CONNECT_RATE_ENTRIES", DEFAULT_RATE_ENTRIES, 1_000, 10_000_000);
        List<AddressBlock> proxies = parseProxies(r.string("SWITCHBOARD_TRUSTED_PROXIES", null), r.problems);
        List<String> origins = parseOrigins(r.string("SWITCHBOARD_ALLOWED_ORIGINS", null), r.problems);
        return new EdgeConfig(
                header, idle, max, perAddress, rate, burst, userRate, userBurst, entries, proxies, origins);
    }

    /** Every problem with these settings, one line each, naming the variable, the value and what is expected. */
    List<String> problems() {
        List<String> p = new ArrayList<>();
        if (headerTimeoutMs < 100 || idleTimeoutMs < 100) {
            p.add("SWITCHBOARD_HEADER_TIMEOUT_MS=" + headerTimeoutMs + ", SWITCHBOARD_IDLE_TIMEOUT_MS=" + idleTimeoutMs
                    + ": expected at least 100 ms each");
        }
        if (maxConnectionsPerAddress < 1
                || connectRate < 1
                || connectBurst < 1
                || userConnectRate < 1
                || userConnectBurst < 1) {
            p.add("SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS=" + maxConnectionsPerAddress + ", SWITCHBOARD_CONNECT_RATE="
                    + connectRate + ", SWITCHBOARD_CONNECT_BURST=" + connectBurst + ", SWITCHBOARD_USER_CONNECT_RATE="
                    + userConnectRate + ", SWITCHBOARD_USER_CONNECT_BURST=" + userConnectBurst
                    + ": expected at least 1 each");
        }
        if (rateEntries < 1_000) {
            p.add("SWITCHBOARD_CONNECT_RATE_ENTRIES=" + rateEntries + ": expected at least 1000");
        }
        long limit = openFileLimit();
        if (maxConnections < 1) {
            p.add("SWITCHBOARD_MAX_CONNECTIONS=" + maxConnections + ": expected at least 1");
        } else if (limit > 0 && maxConnections > limit - 64) {
            p.add("SWITCHBOARD_MAX_CONNECTIONS=" + maxConnections + " is not below the open-file limit " + limit
                    + " (ulimit -n) less 64 for Redis, MongoDB and logs: expected at most " + (limit - 64)
                    + ", or raise the limit");
        }
        return p;
    }

    /**
     * The default {@code SWITCHBOARD_MAX_CONNECTIONS}: the open-file limit less a tenth of it (at least
     * {@link #RESERVED_DESCRIPTORS}), or {@link #DEFAULT_MAX_CONNECTIONS_UNKNOWN_LIMIT} when the limit is unknown.
     */
    public static int defaultMaxConnections() {
        return defaultMaxConnections(openFileLimit());
    }

    static int defaultMaxConnections(long openFileLimit) {
        if (openFileLimit <= 0) {
            return DEFAULT_MAX_CONNECTIONS_UNKNOWN_LIMIT;
        }
        long reserve = Math.max(RESERVED_DESCRIPTORS, openFileLimit / 10);
        return (int) Math.max(1, Math.min(10_000_000, openFileLimit - reserve));
    }

    /** The process's open-file limit ({@code ulimit -n}), or -1 when the operating system does not tell. */
    public static long openFileLimit() {
        OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof UnixOperatingSystemMXBean unix) {
            return unix.getMaxFileDescriptorCount();
        }
        return -1;
    }

    /** Whether {@code origin} (an {@code Origin} header, or null when the client sent none) may open {@code /ws}. */
    public boolean originAllowed(String origin) {
        return allowedOrigins.isEmpty()
                || origin == null
                || allowedOrigins.contains(origin.trim().toLowerCase(Locale.ROOT));
    }

    /** The settings as name=value lines for the start-up log. */
    Map<String, String> describe() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("SWITCHBOARD_HEADER_TIMEOUT_MS", String.valueOf(headerTimeoutMs));
        m.put("SWITCHBOARD_IDLE_TIMEOUT_MS", String.valueOf(idleTimeoutMs));
        m.put("SWITCHBOARD_MAX_CONNECTIONS", String.valueOf(maxConnections));
        m.put("SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS", String.valueOf(maxConnectionsPerAddress));
        m.put("SWITCHBOARD_CONNECT_RATE", String.valueOf(connectRate));
        m.put("SWITCHBOARD_CONNECT_BURST", String.valueOf(connectBurst));
        m.put("SWITCHBOARD_USER_CONNECT_RATE", String.valueOf(userConnectRate));
        m.put("SWITCHBOARD_USER_CONNECT_BURST", String.valueOf(userConnectBurst));
        m.put("SWITCHBOARD_CONNECT_RATE_ENTRIES", String.valueOf(rateEntries));
        m.put(
                "SWITCHBOARD_TRUSTED_PROXIES",
                trustedProxies.isEmpty()
                        ? "(unset: X-Forwarded-For ignored)"
                        : String.join(
                                ",",
                                trustedProxies.stream()
                                        .map(AddressBlock::toString)
                                        .toList()));
        m.put(
                "SWITCHBOARD_ALLOWED_ORIGINS",
                allowedOrigins.isEmpty() ? "(unset: any origin)" : String.join(",", allowedOrigins));
        return m;
    }

    private static List<AddressBlock> parseProxies(String value, List<String> problems) {
        if (value == null || value.isBlank()) {
            return List.of();
        }
        List<AddressBlock> blocks = new ArrayList<>();
        for (String entry : value.split("[,\\s]+")) {
            if (entry.isEmpty()) {
                continue;
            }
            AddressBlock b = AddressBlock.parse(entry);
            if (b == null) {
                problems.add("SWITCHBOARD_TRUSTED_PROXIES has '" + entry + "': " + PROXY_EXPECTED);
                return List.of();
            }
            blocks.add(b);
        }
        return blocks;
    }

    private static List<String> parseOrigins(String value, List<String> problems) {
        if (value == null || value.isBlank()) {
            return List.of();
        }
        List<String> origins = new ArrayList<>();
        for (String entry : value.split("[,\\s]+")) {
            if (entry.isEmpty()) {
                continue;
            }
            String why = originProblem(entry);
            if (why != null) {
                problems.add("SWITCHBOARD_ALLOWED_ORIGINS has '" + entry + "' (" + why + "): " + ORIGIN_EXPECTED);
                return List.of();
            }
            origins.add(entry.toLowerCase(Locale.ROOT));
        }
        return origins;
    }

    private static String originProblem(String origin) {
        URI uri;
        try {
            uri = new URI(origin);
        } catch (URISyntaxException e) {
            return "not a URI";
        }
        if (!"http".equalsIgnoreCase(uri.getScheme()) && !"https".equalsIgnoreCase(uri.getScheme())) {
            return "the scheme is not http or https";
        }
        if (uri.getHost() == null || uri.getRawUserInfo() != null) {
            return "no host";
        }
        if (!uri.getRawPath().isEmpty() || uri.getRawQuery() != null || uri.getRawFragment() != null) {
            return "a browser's Origin has no path, not even /";
        }
        return null;
    }

    /**
     * An IP address or a CIDR block of them, such as {@code 10.0.0.0/8} or {@code fd00::/8}.
     *
     * @param network the block's first address
     * @param prefix how many leading bits of an address must equal the network's
     */
    public record AddressBlock(InetAddress network, int prefix) {

        /** Parses an address literal or a block; null when it is neither (never looks a name up in DNS). */
        public static AddressBlock parse(String text) {
            String s = text.trim();
            int slash = s.indexOf('/');
            byte[] bytes = NetUtil.createByteArrayFromIpAddressString(slash < 0 ? s : s.substring(0, slash));
            if (bytes == null) {
                return null;
            }
            int bits = bytes.length * 8;
            int prefix = bits;
            if (slash >= 0) {
                try {
                    prefix = Integer.parseInt(s.substring(slash + 1));
                } catch (NumberFormatException e) {
                    return null;
                }
                if (prefix < 0 || prefix > bits) {
                    return null;
                }
            }
            try {
                return new AddressBlock(InetAddress.getByAddress(mask(bytes, prefix)), prefix);
            } catch (UnknownHostException e) {
                return null;
            }
        }

        /** Whether {@code address} is in this block; an IPv4 address is never in an IPv6 block, nor the reverse. */
        public boolean contains(InetAddress address) {
            byte[] a = address.getAddress();
            byte[] n = network.getAddress();
            return a.length == n.length && Arrays.equals(mask(a, prefix), n);
        }

        private static byte[] mask(byte[] address, int prefix) {
            byte[] out = address.clone();
            for (int i = 0; i < out.length; i++) {
                int keep = Math.max(0, Math.min(8, prefix - i * 8));
                out[i] = (byte) (out[i] & (0xff00 >> keep));
            }
            return out;
        }

        @Override
        public String toString() {
            return NetUtil.toAddressString(network) + "/" + prefix;
        }
    }
}
