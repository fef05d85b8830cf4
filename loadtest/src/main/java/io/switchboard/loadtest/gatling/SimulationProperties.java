package io.switchboard.loadtest.gatling;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * Reads a simulation's settings from system properties. Every simulation takes {@code -Dgateway} (the gateway's
 * base URL, default {@value #DEFAULT_GATEWAY}; its WebSocket is {@code ws://host:port/ws}, or {@code wss://}
 * for {@code https}) and {@code -Dquick=true}, which switches every size and duration to its quick default (an
 * explicit property still wins). Wrong values are collected and {@link #check} reports all of them at once,
 * each naming the property, the value and what was expected.
 */
final class SimulationProperties {
    public static final String GATEWAY = "gateway";
    public static final String DEFAULT_GATEWAY = "http://127.0.0.1:8080";
    public static final String QUICK = "quick";
    /** The path of the gateway's WebSocket (docs/protocol.md section 1). */
    public static final String WS_PATH = "/ws";

    private final Map<String, String> properties;
    private final boolean quick;
    private final List<String> problems = new ArrayList<>();

    SimulationProperties(Map<String, String> properties) {
        this.properties = Map.copyOf(properties);
        String q = this.properties.getOrDefault(QUICK, "false");
        quick = bool(QUICK, q);
    }

    /** The JVM's system properties, as Gatling's forked JVM received them. */
    static SimulationProperties fromSystem() {
        Properties system = System.getProperties();
        Map<String, String> copy = new TreeMap<>();
        for (String name : system.stringPropertyNames()) {
            copy.put(name, system.getProperty(name));
        }
        return new SimulationProperties(copy);
    }

    boolean quick() {
        return quick;
    }

    /**
     * The base URL of the gateway's WebSocket, such as {@code ws://127.0.0.1:8080} ({@link #WS_PATH} is
     * appended by the connect action); a path in {@code -Dgateway} is kept as a prefix.
     */
    String webSocketBase() {
        String raw = properties.getOrDefault(GATEWAY, DEFAULT_GATEWAY).strip();
        try {
            URI uri = new URI(raw);
            String scheme = uri.getScheme() == null ? "" : uri.getScheme();
            String ws = switch (scheme) {
                case "http", "ws" -> "ws";
                case "https", "wss" -> "wss";
                default -> null;
            };
            if (ws == null || uri.getHost() == null) {
                problems.add("-D" + GATEWAY + "=" + raw + ": expected http://host:port (or https, ws, wss)");
                return "ws://invalid";
            }
            String path = uri.getRawPath() == null ? "" : uri.getRawPath().replaceAll("/+$", "");
            if (path.endsWith(WS_PATH)) {
                path = path.substring(0, path.length() - WS_PATH.length());
            }
            return ws + "://" + uri.getRawAuthority() + path;
        } catch (URISyntaxException e) {
            problems.add("-D" + GATEWAY + "=" + raw + ": not a URL (" + e.getReason() + ")");
            return "ws://invalid";
        }
    }

    /** A whole number in {@code [min, max]}: {@code normal}, or {@code quick} in quick mode, when not set. */
    int integer(String name, int normal, int quickValue, int min, int max) {
        String raw = properties.get(name);
        if (raw == null) {
            return quick ? quickValue : normal;
        }
        try {
            int n = Integer.parseInt(raw.strip());
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        problems.add("-D" + name + "=" + raw + ": expected a whole number from " + min + " to " + max);
        return min;
    }

    /** A duration in whole seconds, {@code [min, max]}. */
    Duration seconds(String name, int normal, int quickValue, int min, int max) {
        return Duration.ofSeconds(integer(name, normal, quickValue, min, max));
    }

    /** A fraction in {@code [0, 1]}. */
    double fraction(String name, double normal) {
        String raw = properties.get(name);
        if (raw == null) {
            return normal;
        }
        try {
            double d = Double.parseDouble(raw.strip());
            if (d >= 0 && d <= 1) {
                return d;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        problems.add("-D" + name + "=" + raw + ": expected a number from 0 to 1");
        return normal;
    }

    private boolean bool(String name, String raw) {
        return switch (raw.strip()) {
            case "true", "" -> true;
            case "false" -> false;
            default -> {
                problems.add("-D" + name + "=" + raw + ": expected true or false");
                yield false;
            }
        };
    }

    /** Records a problem found by a simulation's own cross-checks. */
    void problem(String problem) {
        problems.add(problem);
    }

    /** Throws one exception listing every problem, if there is any. */
    void check(String simulation) {
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(
                    simulation + ": " + problems.size() + " bad setting(s): " + String.join("; ", problems));
        }
    }
}
