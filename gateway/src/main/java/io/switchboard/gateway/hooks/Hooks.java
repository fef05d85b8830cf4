package io.switchboard.gateway.hooks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.util.RawValue;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.channel.EventLoopGroup;
import io.switchboard.gateway.auth.ChannelPatterns;
import io.switchboard.gateway.auth.UserIds;
import io.switchboard.gateway.config.HookConfig;
import io.switchboard.gateway.health.spi.DependencyCheck;
import io.switchboard.protocol.Channels;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.Limits;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * The proxy hooks as the sessions use them (docs/backend.md): which requests go to the backend, the request bodies,
 * and the answers read and checked. An answer that is readable but breaks a rule (a user id of the wrong
 * characters, an {@code info} over 1 KiB, a replacement larger than a frame) refuses the request it answers; its
 * first occurrence per hook and field is one WARN line, the others DEBUG. Without a hook URL nothing is proxied and
 * nothing is started.
 */
public final class Hooks implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Hooks.class);
    /** Patterns and channels one {@code connect} answer may give, per list. */
    public static final int MAX_LIST = 1_000;
    /** The longest refusal message passed on to a client; longer ones are cut. */
    public static final int MAX_MESSAGE = 512;
    /** The {@code retryAfter} of a refusal whose code calls for one ({@code rate_limited}, {@code unavailable}). */
    public static final long REFUSAL_RETRY_MS = 1_000;

    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;
    /** The codes a refusal may not pass to a client as they are: they mean something else there. */
    private static final Set<String> NOT_PASSED = Set.of(ErrorCodes.SESSION_REPLACED, ErrorCodes.UNKNOWN_TYPE);

    private final HookConfig config;
    private final String node;
    private final int maxFrame;
    private final int maxSubscriptions;
    private final HookClient client;
    private final Set<String> warned = ConcurrentHashMap.newKeySet();

    private Hooks(HookConfig config, String node, int maxFrame, int maxSubscriptions, HookClient client) {
        this.config = config;
        this.node = node;
        this.maxFrame = maxFrame;
        this.maxSubscriptions = maxSubscriptions;
        this.client = client;
    }

    /** No hook configured: nothing proxied. */
    public static Hooks none() {
        return new Hooks(HookConfig.none(), null, Limits.DEFAULT_MAX_FRAME, 0, null);
    }

    /**
     * The hooks {@code config} sets up (none without a URL), calling the backend on {@code loops}; replacements
     * and results up to {@code maxFrame} bytes, server-side channels up to {@code maxSubscriptions}.
     */
    public static Hooks create(
            HookConfig config,
            String node,
            int maxFrame,
            int maxSubscriptions,
            EventLoopGroup loops,
            MeterRegistry meters) {
        if (config.url() == null || config.hooks().isEmpty()) {
            return none();
        }
        return new Hooks(config, node, maxFrame, maxSubscriptions, new HookClient(config, loops, maxFrame, meters));
    }

    /** Whether {@code hook} (one of {@link HookConfig#HOOK_NAMES}) goes to the backend. */
    public boolean proxies(String hook) {
        return client != null && config.proxies(hook);
    }

    /** Whether a {@code subscribe} or {@code publish} ({@code hook}) to {@code channel} goes to the backend. */
    public boolean asks(String hook, String channel) {
        return proxies(hook) && config.covers(channel);
    }

    /** What {@code /health} lists as {@code hooks}; empty when no hook is configured. */
    public Optional<DependencyCheck> dependency() {
        return Optional.ofNullable(client);
    }

    // ---------------------------------------------------------------- the hooks

    /**
     * Asks {@code connect} about a connection of {@code user} (null: a guest when guests are off), a {@code guest}
     * or not, on session {@code session}, whose {@code hello.client} is {@code clientName}.
     */
    public Mono<ConnectAnswer> connect(
            String user, boolean guest, String session, String clientName, ClientHeaders headers) {
        ClientHeaders h = headers == null ? ClientHeaders.NONE : headers;
        ObjectNode body = JSON.objectNode();
        body.put("user", user);
        body.put("guest", guest);
        body.put("session", session);
        body.put("node", node);
        body.put("client", clientName);
        ObjectNode hs = body.putObject("headers");
        hs.put("cookie", h.cookie());
        hs.put("origin", h.origin());
        hs.put("user-agent", h.userAgent());
        hs.put("x-forwarded-for", h.forwardedFor());
        return client.call(HookConfig.CONNECT, body).map(answer -> readConnect(answer, user));
    }

    /** Asks {@code subscribe} whether {@code user} on {@code session} may subscribe to {@code channel}. */
    public Mono<Verdict> subscribe(String user, String session, String channel) {
        ObjectNode body = JSON.objectNode();
        body.put("user", user);
        body.put("session", session);
        body.put("channel", channel);
        return client.call(HookConfig.SUBSCRIBE, body).map(answer -> readVerdict(HookConfig.SUBSCRIBE, answer));
    }

    /** Asks {@code publish} whether {@code user} may publish {@code data} (raw JSON) to {@code channel}. */
    public Mono<Verdict> publish(String user, String session, String channel, String data) {
        ObjectNode body = JSON.objectNode();
        body.put("user", user);
        body.put("session", session);
        body.put("channel", channel);
        body.putRawValue("data", new RawValue(data));
        return client.call(HookConfig.PUBLISH, body).map(answer -> readVerdict(HookConfig.PUBLISH, answer));
    }

    /** Calls {@code rpc} with {@code method} and its {@code data} (raw JSON) for {@code user}. */
    public Mono<RpcAnswer> rpc(String user, String session, String method, String data) {
        ObjectNode body = JSON.objectNode();
        body.put("user", user);
        body.put("session", session);
        body.put("method", method);
        body.putRawValue("data", new RawValue(data));
        return client.call(HookConfig.RPC, body).map(this::readRpc);
    }

    // ---------------------------------------------------------------- answers

    private ConnectAnswer readConnect(ObjectNode answer, String user) {
        if (!answer.get("allow").asBoolean()) {
            return ConnectAnswer.refused(refusal(answer, ErrorCodes.UNAUTHORIZED));
        }
        try {
            String newUser = null;
            JsonNode u = answer.get("user");
            if (u != null && !u.isNull()) {
                if (!u.isTextual()) {
                    throw new Invalid("user", "'user' must be a string, the connection's user id");
                }
                newUser = u.asText();
                String problem = UserIds.problem(newUser, "'user'");
                if (problem != null) {
                    throw new Invalid("user", problem);
                }
                if (UserIds.isGuest(newUser) && !newUser.equals(user)) {
                    throw new Invalid(
                            "user",
                            "'user' starts with " + UserIds.GUEST_PREFIX
                                    + ", which is reserved for the ids the gateway gives guests");
                }
            }
            String info = null;
            JsonNode i = answer.get("info");
            if (i != null && !i.isNull()) {
                String json = i.toString();
                int bytes = json.getBytes(StandardCharsets.UTF_8).length;
                if (!i.isObject() || bytes > Limits.MAX_INFO_BYTES) {
                    throw new Invalid(
                            "info",
                            "'info' must be a JSON object of at most " + Limits.MAX_INFO_BYTES + " bytes, not "
                                    + (i.isObject()
                                            ? bytes + " bytes"
                                            : i.getNodeType().toString().toLowerCase(Locale.ROOT)));
                }
                info = json;
            }
            List<String> channels = names(answer, "channels", false);
            if (channels.size() > maxSubscriptions) {
                throw new Invalid(
                        "channels",
                        "'channels' has " + channels.size() + " channels, more than the " + maxSubscriptions
                                + " subscriptions a connection may have");
            }
            return new ConnectAnswer(
                    null, newUser, info, names(answer, "subscribe", true), names(answer, "publish", true), channels);
        } catch (Invalid e) {
            return ConnectAnswer.refused(invalid(HookConfig.CONNECT, e, ErrorCodes.UNAUTHORIZED));
        }
    }

    private Verdict readVerdict(String hook, ObjectNode answer) {
        if (!answer.get("allow").asBoolean()) {
            return new Verdict(refusal(answer, ErrorCodes.FORBIDDEN), null);
        }
        JsonNode data = answer.get("data");
        if (!HookConfig.PUBLISH.equals(hook) || data == null) {
            return Verdict.ALLOW;
        }
        String json = data.toString();
        int bytes = json.getBytes(StandardCharsets.UTF_8).length;
        if (bytes > maxFrame) {
            return new Verdict(
                    invalid(
                            hook,
                            new Invalid(
                                    "data",
                                    "the replacement 'data' is " + bytes + " bytes of JSON, more than the " + maxFrame
                                            + " of a frame"),
                            ErrorCodes.INTERNAL),
                    null);
        }
        return new Verdict(null, json);
    }

    private RpcAnswer readRpc(ObjectNode answer) {
        JsonNode error = answer.get("error");
        if (error != null) {
            return new RpcAnswer(refusal(error, ErrorCodes.BAD_REQUEST), null);
        }
        return new RpcAnswer(null, answer.get("result").toString());
    }

    /**
     * The refusal in {@code from}'s {@code code} and {@code message}. The codes of docs/protocol.md section 4 pass
     * as they are (but {@code session_replaced} and {@code unknown_type}, which mean something else to a client);
     * any other code becomes {@code fallback}, and the backend's code leads the message so that nothing is lost.
     */
    static HookRefusal refusal(JsonNode from, String fallback) {
        String code = from.path("code").isTextual() ? from.get("code").asText() : null;
        String message = from.path("message").isTextual() ? from.get("message").asText() : null;
        String passed = code != null && ErrorCodes.ALL.contains(code) && !NOT_PASSED.contains(code) ? code : fallback;
        if (code != null && !passed.equals(code)) {
            message = code + (message == null ? "" : ": " + message);
        }
        if (message == null || message.isEmpty()) {
            message = "refused by the application's backend";
        }
        if (message.length() > MAX_MESSAGE) {
            message = message.substring(0, MAX_MESSAGE) + "...";
        }
        boolean retry = passed.equals(ErrorCodes.RATE_LIMITED) || passed.equals(ErrorCodes.UNAVAILABLE);
        return new HookRefusal(passed, message, retry ? REFUSAL_RETRY_MS : null);
    }

    /** A readable answer that breaks a rule: refused with {@code code}, said once per hook and field. */
    private HookRefusal invalid(String hook, Invalid e, String code) {
        if (warned.add(hook + " " + e.field)) {
            log.warn(
                    "The backend's answer to {} is not valid, the request is refused (said once; the next ones at"
                            + " DEBUG): {}",
                    hook,
                    e.getMessage());
        } else {
            log.debug("The backend's answer to {} is not valid, the request is refused: {}", hook, e.getMessage());
        }
        return new HookRefusal(
                code, "the application's backend answered " + hook + " wrongly: " + e.getMessage(), null);
    }

    /** The strings of array {@code field} (absent: none): channel names, or with {@code patterns} patterns. */
    private static List<String> names(ObjectNode answer, String field, boolean patterns) throws Invalid {
        JsonNode list = answer.get(field);
        if (list == null || list.isNull()) {
            return List.of();
        }
        String what = patterns ? "channel patterns (names, or prefixes ending in *)" : "channel names";
        if (!list.isArray() || list.size() > MAX_LIST) {
            throw new Invalid(field, "'" + field + "' must be an array of at most " + MAX_LIST + " " + what);
        }
        List<String> out = new ArrayList<>(list.size());
        for (JsonNode n : list) {
            String s = n.isTextual() ? n.asText() : null;
            boolean ok = s != null
                    && (patterns ? ChannelPatterns.valid(s) : Channels.problem(s) == null && !Channels.isInbox(s));
            if (!ok) {
                throw new Invalid(
                        field,
                        "'" + field + "' must hold " + what + (patterns ? "" : " outside user:") + ", not "
                                + (s == null
                                        ? n.getNodeType().toString().toLowerCase(Locale.ROOT)
                                        : "'" + cut(s) + "'"));
            }
            out.add(s);
        }
        return out;
    }

    private static String cut(String s) {
        return s.length() > 140 ? s.substring(0, 140) + "..." : s;
    }

    @Override
    public void close() {
        if (client != null) {
            client.close();
        }
    }

    /** What is wrong with an answer, and in which field. */
    private static final class Invalid extends Exception {
        final String field;

        Invalid(String field, String message) {
            super(message, null, false, false);
            this.field = field;
        }
    }
}
