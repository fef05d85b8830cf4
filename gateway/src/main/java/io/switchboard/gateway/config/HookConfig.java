package io.switchboard.gateway.config;

import io.switchboard.gateway.auth.ChannelPatterns;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The application's backend (docs/protocol.md section 11): the proxy hooks the gateway asks synchronously, and the
 * webhook it sends events to. Both are off unless their URL is set. The {@code DEFAULT_*} constants are the values
 * used when a variable is not set.
 *
 * @param url base URL of the proxy hooks; each is POSTed to {@code <url>/<hook>} ({@code SWITCHBOARD_HOOK_URL});
 *            null: no proxy hooks
 * @param hooks which of {@link #HOOK_NAMES} are proxied ({@code SWITCHBOARD_HOOKS}); all four when the URL is set
 *              and this is not
 * @param key sent as {@code Authorization: Bearer <key>} to the hooks when set ({@code SWITCHBOARD_HOOK_KEY})
 * @param timeoutMs how long a hook may take before the request answers {@code unavailable}
 *                  ({@code SWITCHBOARD_HOOK_TIMEOUT_MS})
 * @param channels channel patterns (exact names, or prefixes ending in {@code *}) whose subscribe and publish go
 *                 through the hooks ({@code SWITCHBOARD_HOOK_CHANNELS}); null: every channel but {@code public:}
 * @param maxInFlight hook requests in flight at once on this instance; beyond it a request answers
 *                    {@code unavailable} at once ({@code SWITCHBOARD_HOOK_MAX_IN_FLIGHT})
 * @param webhookUrl where batches of events are POSTed ({@code SWITCHBOARD_WEBHOOK_URL}); null: no events
 * @param webhookSecret the HMAC-SHA256 key of the events' signature ({@code SWITCHBOARD_WEBHOOK_SECRET})
 * @param webhookBacklog events kept undelivered at most; beyond it the oldest are dropped
 *                       ({@code SWITCHBOARD_WEBHOOK_BACKLOG})
 */
public record HookConfig(
        URI url,
        Set<String> hooks,
        String key,
        long timeoutMs,
        ChannelPatterns channels,
        int maxInFlight,
        URI webhookUrl,
        String webhookSecret,
        int webhookBacklog) {
    public static final String CONNECT = "connect";
    public static final String SUBSCRIBE = "subscribe";
    public static final String PUBLISH = "publish";
    public static final String RPC = "rpc";
    public static final List<String> HOOK_NAMES = List.of(CONNECT, SUBSCRIBE, PUBLISH, RPC);
    public static final long DEFAULT_TIMEOUT_MS = 1_000;
    public static final int DEFAULT_MAX_IN_FLIGHT = 256;
    public static final int DEFAULT_WEBHOOK_BACKLOG = 100_000;
    /** A webhook secret shorter than this is refused: HMAC-SHA256 wants a key of at least 256 bits. */
    public static final int MIN_WEBHOOK_SECRET_BYTES = 32;

    public HookConfig {
        hooks = hooks == null ? Set.of() : Set.copyOf(hooks);
    }

    /** Nothing configured: no hooks, no events. */
    public static HookConfig none() {
        return new HookConfig(
                null,
                Set.of(),
                null,
                DEFAULT_TIMEOUT_MS,
                null,
                DEFAULT_MAX_IN_FLIGHT,
                null,
                null,
                DEFAULT_WEBHOOK_BACKLOG);
    }

    /** Whether {@code hook} (one of {@link #HOOK_NAMES}) is proxied. */
    public boolean proxies(String hook) {
        return url != null && hooks.contains(hook);
    }

    /** Whether a subscribe or publish to {@code channel} goes through the hooks (given the hook is on). */
    public boolean covers(String channel) {
        return channels == null ? !channel.startsWith("public:") : channels.matches(channel);
    }

    public boolean webhooks() {
        return webhookUrl != null;
    }

    static HookConfig read(GatewayConfig.Reader r) {
        URI url = parseUrl("SWITCHBOARD_HOOK_URL", r.string("SWITCHBOARD_HOOK_URL", null), r.problems);
        String hooksSet = r.string("SWITCHBOARD_HOOKS", null);
        Set<String> hooks = parseHooks(hooksSet, url != null, r.problems);
        String key = r.string("SWITCHBOARD_HOOK_KEY", null);
        long timeout = r.integer("SWITCHBOARD_HOOK_TIMEOUT_MS", DEFAULT_TIMEOUT_MS, 1, 600_000);
        ChannelPatterns channels = parsePatterns(r.string("SWITCHBOARD_HOOK_CHANNELS", null), r.problems);
        int inFlight = r.integer("SWITCHBOARD_HOOK_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT, 1, 100_000);
        URI webhook = parseUrl("SWITCHBOARD_WEBHOOK_URL", r.string("SWITCHBOARD_WEBHOOK_URL", null), r.problems);
        String secret = r.string("SWITCHBOARD_WEBHOOK_SECRET", null);
        int backlog = r.integer("SWITCHBOARD_WEBHOOK_BACKLOG", DEFAULT_WEBHOOK_BACKLOG, 1, 100_000_000);
        if (url == null && r.string("SWITCHBOARD_HOOK_URL", null) == null) {
            for (String name : List.of("SWITCHBOARD_HOOKS", "SWITCHBOARD_HOOK_KEY", "SWITCHBOARD_HOOK_CHANNELS")) {
                if (r.string(name, null) != null) {
                    r.problems.add(name + " is set but SWITCHBOARD_HOOK_URL is not: set the backend's base URL,"
                            + " such as http://app:3000/switchboard, or unset it");
                }
            }
        }
        if (webhook == null && r.string("SWITCHBOARD_WEBHOOK_URL", null) == null && secret != null) {
            r.problems.add("SWITCHBOARD_WEBHOOK_SECRET is set but SWITCHBOARD_WEBHOOK_URL is not: set the URL events"
                    + " are POSTed to, or unset it");
        }
        return new HookConfig(url, hooks, key, timeout, channels, inFlight, webhook, secret, backlog);
    }

    /** Every problem with these settings, one line each, naming the variable, the value and what is expected. */
    List<String> problems() {
        List<String> p = new ArrayList<>();
        if (webhookUrl != null) {
            if (webhookSecret == null) {
                p.add("SWITCHBOARD_WEBHOOK_URL is set but SWITCHBOARD_WEBHOOK_SECRET is not: events are always"
                        + " signed; set a secret of at least " + MIN_WEBHOOK_SECRET_BYTES + " bytes");
            } else if (webhookSecret.getBytes(StandardCharsets.UTF_8).length < MIN_WEBHOOK_SECRET_BYTES) {
                p.add("SWITCHBOARD_WEBHOOK_SECRET is " + webhookSecret.getBytes(StandardCharsets.UTF_8).length
                        + " bytes long: expected at least " + MIN_WEBHOOK_SECRET_BYTES + " bytes");
            }
        }
        if (timeoutMs < 1) {
            p.add("SWITCHBOARD_HOOK_TIMEOUT_MS=" + timeoutMs + ": expected a whole number from 1 to 600000");
        }
        if (maxInFlight < 1) {
            p.add("SWITCHBOARD_HOOK_MAX_IN_FLIGHT=" + maxInFlight + ": expected a whole number from 1 to 100000");
        }
        if (webhookBacklog < 1) {
            p.add("SWITCHBOARD_WEBHOOK_BACKLOG=" + webhookBacklog + ": expected a whole number from 1 to 100000000");
        }
        return p;
    }

    /** The settings as the start-up lines show them, secrets masked. */
    Map<String, String> describe() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("SWITCHBOARD_HOOK_URL", url == null ? "(unset: no proxy hooks)" : url.toString());
        m.put("SWITCHBOARD_HOOKS", url == null ? "(none)" : String.join(",", ordered(hooks)));
        m.put("SWITCHBOARD_HOOK_KEY", key == null ? "(unset)" : "****");
        m.put("SWITCHBOARD_HOOK_TIMEOUT_MS", String.valueOf(timeoutMs));
        m.put(
                "SWITCHBOARD_HOOK_CHANNELS",
                channels == null ? "(unset: every channel but public:)" : String.join(",", channels.patterns()));
        m.put("SWITCHBOARD_HOOK_MAX_IN_FLIGHT", String.valueOf(maxInFlight));
        m.put("SWITCHBOARD_WEBHOOK_URL", webhookUrl == null ? "(unset: no events)" : webhookUrl.toString());
        m.put("SWITCHBOARD_WEBHOOK_SECRET", webhookSecret == null ? "(unset)" : "****");
        m.put("SWITCHBOARD_WEBHOOK_BACKLOG", String.valueOf(webhookBacklog));
        return m;
    }

    private static List<String> ordered(Set<String> hooks) {
        return HOOK_NAMES.stream().filter(hooks::contains).toList();
    }

    private static URI parseUrl(String name, String value, List<String> problems) {
        if (value == null) {
            return null;
        }
        try {
            URI u = new URI(value.trim());
            String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
            if ((scheme.equals("http") || scheme.equals("https"))
                    && u.getHost() != null
                    && u.getQuery() == null
                    && u.getFragment() == null) {
                String s = u.toString();
                return URI.create(s.endsWith("/") ? s.substring(0, s.length() - 1) : s);
            }
        } catch (URISyntaxException e) {
            // said below
        }
        problems.add(name + "=" + value + ": expected an http:// or https:// URL with a host and no query, such as"
                + " http://app:3000/switchboard");
        return null;
    }

    private static Set<String> parseHooks(String value, boolean urlSet, List<String> problems) {
        if (value == null) {
            return urlSet ? Set.copyOf(HOOK_NAMES) : Set.of();
        }
        Set<String> out = new LinkedHashSet<>();
        for (String part : value.split(",")) {
            String h = part.trim().toLowerCase(Locale.ROOT);
            if (h.isEmpty()) {
                continue;
            }
            if (!HOOK_NAMES.contains(h)) {
                problems.add("SWITCHBOARD_HOOKS=" + value + ": '" + part.trim() + "' is not a hook; expected some of "
                        + String.join(", ", HOOK_NAMES) + ", separated by commas");
                return Set.of();
            }
            out.add(h);
        }
        return out;
    }

    private static ChannelPatterns parsePatterns(String value, List<String> problems) {
        if (value == null) {
            return null;
        }
        List<String> out = new ArrayList<>();
        for (String part : value.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            if (!ChannelPatterns.valid(p)) {
                problems.add("SWITCHBOARD_HOOK_CHANNELS=" + value + ": '" + p + "' is not a channel pattern; expected"
                        + " channel names or prefixes ending in *, such as room:*,private:chat, separated by commas");
                return null;
            }
            out.add(p);
        }
        return new ChannelPatterns(out);
    }
}
