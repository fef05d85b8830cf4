package io.switchboard.gateway.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One STUN or TURN server that the demo page hands to {@code RTCPeerConnection}, in the browser's
 * {@code RTCIceServer} shape ({@code SWITCHBOARD_ICE_SERVERS}). The gateway itself never contacts it.
 *
 * @param urls one or more {@code stun:}, {@code stuns:}, {@code turn:} or {@code turns:} URLs
 * @param username the TURN user name, or null
 * @param credential the TURN password, or null; masked in {@link GatewayConfig#describe()}
 */
public record IceServer(List<String> urls, String username, String credential) {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> SCHEMES = List.of("stun:", "stuns:", "turn:", "turns:");
    static final String VARIABLE = "SWITCHBOARD_ICE_SERVERS";
    static final String EXPECTED = "expected a JSON array of objects like [{\"urls\":\"stun:stun.example.com:3478\"},"
            + " {\"urls\":[\"turn:turn.example.com:3478\"],\"username\":\"u\",\"credential\":\"p\"}]";

    public IceServer {
        urls = List.copyOf(urls);
    }

    /** Whether one of the URLs is a TURN server (which needs a user name and a credential). */
    public boolean turn() {
        return urls.stream().anyMatch(u -> u.startsWith("turn:") || u.startsWith("turns:"));
    }

    /** The server in the browser's shape, the credential included: for the page, never for a log. */
    public Map<String, Object> toBrowser() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("urls", urls);
        if (username != null) {
            m.put("username", username);
        }
        if (credential != null) {
            m.put("credential", credential);
        }
        return m;
    }

    /** The server for a log line: its URLs, the user name, the credential masked. */
    public String masked() {
        return String.join(",", urls) + (username == null ? "" : " (username " + username + ", credential ****)");
    }

    /**
     * Reads {@code SWITCHBOARD_ICE_SERVERS}; null or blank is none. A bad value adds one problem line to
     * {@code problems}, naming the setting and the first thing wrong (never a credential), and gives none.
     */
    static List<IceServer> parse(String value, List<String> problems) {
        if (value == null || value.isBlank()) {
            return List.of();
        }
        JsonNode root;
        try {
            root = JSON.readTree(value);
        } catch (JsonProcessingException e) {
            problems.add(VARIABLE + " is not valid JSON (" + e.getOriginalMessage() + "): " + EXPECTED);
            return List.of();
        }
        if (root == null || !root.isArray()) {
            problems.add(VARIABLE + " is not a JSON array: " + EXPECTED);
            return List.of();
        }
        List<IceServer> servers = new ArrayList<>();
        for (int i = 0; i < root.size(); i++) {
            String problem = check(root.get(i));
            if (problem != null) {
                problems.add(VARIABLE + ": server " + i + " " + problem + "; " + EXPECTED);
                return List.of();
            }
            JsonNode s = root.get(i);
            List<String> urls = new ArrayList<>();
            if (s.get("urls").isTextual()) {
                urls.add(s.get("urls").asText());
            } else {
                s.get("urls").forEach(u -> urls.add(u.asText()));
            }
            servers.add(new IceServer(urls, text(s, "username"), text(s, "credential")));
        }
        return List.copyOf(servers);
    }

    /** What is wrong with one entry, or null. */
    private static String check(JsonNode s) {
        if (!s.isObject()) {
            return "is not an object";
        }
        JsonNode urls = s.get("urls");
        List<String> list = new ArrayList<>();
        if (urls != null && urls.isTextual()) {
            list.add(urls.asText());
        } else if (urls != null && urls.isArray() && !urls.isEmpty()) {
            for (JsonNode u : urls) {
                if (!u.isTextual()) {
                    return "has a urls entry that is not a string";
                }
                list.add(u.asText());
            }
        } else {
            return "has no urls (a string or a non-empty array of strings)";
        }
        for (String u : list) {
            if (SCHEMES.stream().noneMatch(u::startsWith) || u.indexOf(':') == u.length() - 1) {
                return "has the URL " + u + ", which does not start with stun:, stuns:, turn: or turns:";
            }
        }
        for (String field : List.of("username", "credential")) {
            if (s.has(field) && !s.get(field).isTextual()) {
                return "has a " + field + " that is not a string";
            }
        }
        if (s.has("username") != s.has("credential")) {
            return "has a username without a credential or a credential without a username: give both or neither";
        }
        boolean turn = list.stream().anyMatch(u -> u.startsWith("turn:") || u.startsWith("turns:"));
        if (turn && !s.has("username")) {
            return "is a TURN server without username and credential";
        }
        return null;
    }

    private static String text(JsonNode s, String field) {
        return s.hasNonNull(field) ? s.get(field).asText() : null;
    }
}
