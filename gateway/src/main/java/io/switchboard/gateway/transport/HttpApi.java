package io.switchboard.gateway.transport;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.switchboard.gateway.channel.ChannelService;
import io.switchboard.gateway.channel.Publication;
import io.switchboard.gateway.inbox.InboxService;
import io.switchboard.gateway.presence.PresenceService;
import io.switchboard.gateway.session.SessionRegistry;
import io.switchboard.gateway.store.MatchRecord;
import io.switchboard.gateway.store.UserStore;
import io.switchboard.protocol.Channels;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.Limits;
import io.switchboard.protocol.ServerFrame;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.netty.http.server.HttpServerRequest;
import reactor.netty.http.server.HttpServerResponse;

/**
 * The server-side HTTP API (docs/protocol.md sections 9 and 10): publish to a channel, send to a user's inbox,
 * disconnect a user, read a user's matches, a channel's presence and whether users are online. Every call needs {@code Authorization: Bearer <api key>}; without a configured key every call answers
 * 401. Bodies are JSON objects, bounded in size; a bad one gets 400 with the field named, and nothing happens.
 */
public final class HttpApi {
    private static final Logger log = LoggerFactory.getLogger(HttpApi.class);
    private static final ObjectMapper MAPPER = FrameCodec.mapper();
    private static final int MAX_USER_ID = Limits.MAX_CHANNEL_LENGTH - Channels.INBOX_PREFIX.length();
    /** Matches {@code /api/matches} answers when no {@code limit} is given. */
    public static final int DEFAULT_MATCHES_LIMIT = 20;
    /** Most users one {@code /api/online} call asks about. */
    public static final int MAX_ONLINE_USERS = 100;
    /** Suggested wait before retrying when a dependency is down. */
    private static final long RETRY_AFTER_SECONDS = 1;

    private final byte[] apiKey;
    private final int maxBody;
    private final ChannelService channels;
    private final InboxService inbox;
    private final SessionRegistry registry;
    private final BiFunction<String, Integer, Mono<List<MatchRecord>>> matchHistory;
    private final PresenceService presence;

    /**
     * @param apiKey the bearer key, or null to refuse every call
     * @param matchHistory a user's matches, newest first, at most the limit given; fails when the store is down
     */
    public HttpApi(
            String apiKey,
            int maxBody,
            ChannelService channels,
            InboxService inbox,
            SessionRegistry registry,
            BiFunction<String, Integer, Mono<List<MatchRecord>>> matchHistory,
            PresenceService presence) {
        this.matchHistory = matchHistory;
        this.presence = presence;
        this.apiKey = apiKey == null ? null : apiKey.getBytes(StandardCharsets.UTF_8);
        this.maxBody = maxBody;
        this.channels = channels;
        this.inbox = inbox;
        this.registry = registry;
    }

    /** {@code POST /api/publish {"channel","data"}} → {@code {"offset","epoch"}}. */
    public Mono<Void> publish(HttpServerRequest req, HttpServerResponse res) {
        return call(req, res, body -> {
            String channel = requireString(body, "channel");
            String problem = Channels.problem(channel);
            if (problem != null) {
                throw new BadRequest("channel", problem);
            }
            if (Channels.isInbox(channel)) {
                throw new BadRequest("channel", "user: channels are inboxes; use /api/send");
            }
            String data = requireData(body);
            return channels.publish(channel, Publication.MESSAGE, null, data).map(p -> {
                ObjectNode out = MAPPER.createObjectNode();
                out.put("offset", p.offset());
                out.put("epoch", p.epoch());
                return out;
            });
        });
    }

    /** {@code POST /api/send {"to","data"}} → {@code {"delivered"}}. */
    public Mono<Void> send(HttpServerRequest req, HttpServerResponse res) {
        return call(req, res, body -> {
            String to = requireUser(body, "to");
            String data = requireData(body);
            return inbox.send(null, to, data).map(delivered -> {
                ObjectNode out = MAPPER.createObjectNode();
                out.put("delivered", delivered);
                return out;
            });
        });
    }

    /** {@code POST /api/disconnect {"user"}} → {@code {"disconnected"}}: closes the user's connection with 4002. */
    public Mono<Void> disconnect(HttpServerRequest req, HttpServerResponse res) {
        return call(req, res, body -> {
            String user = requireUser(body, "user");
            return registry.disconnect(user).map(found -> {
                ObjectNode out = MAPPER.createObjectNode();
                out.put("disconnected", found);
                return out;
            });
        });
    }

    /**
     * {@code GET /api/matches?user=ID&limit=N} → {@code {"user","matches":[...]}}: the user's matches, newest
     * first; {@code limit} 1 to {@link UserStore#MAX_LIMIT}, default {@link #DEFAULT_MATCHES_LIMIT}. 503 while the
     * store (MongoDB) is down.
     */
    public Mono<Void> matches(HttpServerRequest req, HttpServerResponse res) {
        return query(req, res, "the match history store (MongoDB)", parameters -> {
            List<String> users = parameters.getOrDefault("user", List.of());
            if (users.size() != 1 || users.get(0).isEmpty() || users.get(0).length() > MAX_USER_ID) {
                throw new BadRequest(
                        "user",
                        "query parameter 'user' must be given once, a user id of 1 to " + MAX_USER_ID + " characters");
            }
            String user = users.get(0);
            List<String> limits = parameters.getOrDefault("limit", List.of());
            int limit = DEFAULT_MATCHES_LIMIT;
            if (!limits.isEmpty()) {
                try {
                    limit = limits.size() == 1 ? Integer.parseInt(limits.get(0)) : -1;
                } catch (NumberFormatException e) {
                    limit = -1;
                }
                if (limit < 1 || limit > UserStore.MAX_LIMIT) {
                    throw new BadRequest(
                            "limit", "query parameter 'limit' must be an integer from 1 to " + UserStore.MAX_LIMIT);
                }
            }
            return matchHistory.apply(user, limit).map(records -> {
                ObjectNode out = MAPPER.createObjectNode();
                out.put("user", user);
                ArrayNode list = out.putArray("matches");
                for (MatchRecord r : records) {
                    ObjectNode m = list.addObject();
                    m.put("match", r.match());
                    m.put("partner", r.partnerOf(user));
                    m.put("initiator", r.users().get(0));
                    ArrayNode interests = m.putArray("interests");
                    r.interests().forEach(interests::add);
                    m.put("started", r.started().toString());
                    m.put("ended", r.ended() == null ? null : r.ended().toString());
                    m.put("reason", r.reason());
                    m.put("node", r.node());
                }
                return out;
            });
        });
    }

    /**
     * {@code GET /api/presence?channel=C} → {@code {"channel","count","users":[{"user","info"}],"truncated"}}: the
     * same answer as the {@code presence} request, at most {@link Limits#MAX_PRESENCE_USERS} users. 503 while
     * Redis is down.
     */
    public Mono<Void> presence(HttpServerRequest req, HttpServerResponse res) {
        return query(req, res, "presence (Redis)", parameters -> {
            List<String> channels = parameters.getOrDefault("channel", List.of());
            if (channels.size() != 1) {
                throw new BadRequest("channel", "query parameter 'channel' must be given once");
            }
            String channel = channels.get(0);
            String problem = Channels.problem(channel);
            if (problem != null) {
                throw new BadRequest("channel", problem);
            }
            if (Channels.isInbox(channel)) {
                throw new BadRequest("channel", "user: channels have no presence");
            }
            return presence.list(channel).map(roster -> {
                ObjectNode out = MAPPER.createObjectNode();
                out.put("channel", channel);
                out.put("count", roster.count());
                ArrayNode users = out.putArray("users");
                for (ServerFrame.PresentUser u : roster.users()) {
                    ObjectNode e = users.addObject();
                    e.put("user", u.user());
                    e.set("info", info(u.info()));
                }
                out.put("truncated", roster.truncated());
                return out;
            });
        });
    }

    /**
     * {@code GET /api/online?user=ID&user=ID2} → {@code {"online":{"ID":true,"ID2":false}}}: whether each user (at
     * most {@link #MAX_ONLINE_USERS}) has a connection, or a dropped one within the resume grace, anywhere.
     */
    public Mono<Void> online(HttpServerRequest req, HttpServerResponse res) {
        return query(req, res, "the session registry (Redis)", parameters -> {
            List<String> users = parameters.getOrDefault("user", List.of());
            if (users.isEmpty() || users.size() > MAX_ONLINE_USERS) {
                throw new BadRequest(
                        "user", "query parameter 'user' must be given 1 to " + MAX_ONLINE_USERS + " times");
            }
            for (String u : users) {
                if (u.isEmpty() || u.length() > MAX_USER_ID) {
                    throw new BadRequest(
                            "user", "each 'user' must be a user id of 1 to " + MAX_USER_ID + " characters");
                }
            }
            List<String> distinct = List.copyOf(new LinkedHashSet<>(users));
            return Flux.fromIterable(distinct)
                    .flatMapSequential(u -> registry.isConnected(u))
                    .collectList()
                    .map(answers -> {
                        ObjectNode out = MAPPER.createObjectNode();
                        ObjectNode online = out.putObject("online");
                        for (int i = 0; i < distinct.size(); i++) {
                            online.put(distinct.get(i), answers.get(i));
                        }
                        return out;
                    });
        });
    }

    private static JsonNode info(String json) {
        try {
            return MAPPER.readTree(json);
        } catch (IOException e) {
            return MAPPER.createObjectNode();
        }
    }

    /**
     * A GET answered from its query parameters: a bad escape or a {@link BadRequest} is a 400 naming the
     * parameter; a failure of {@code what} is a 503.
     */
    private Mono<Void> query(
            HttpServerRequest req,
            HttpServerResponse res,
            String what,
            Function<Map<String, List<String>>, Mono<ObjectNode>> action) {
        Mono<Void> refused = authorize(req, res);
        if (refused != null) {
            return refused;
        }
        Map<String, List<String>> parameters;
        try {
            parameters = new QueryStringDecoder(req.uri()).parameters();
        } catch (IllegalArgumentException e) {
            String field = badlyEscaped(req.uri());
            return error(
                    res,
                    HttpResponseStatus.BAD_REQUEST,
                    "bad_request",
                    field,
                    "query parameter '" + field + "' has a bad escape: expected % and two hex digits, such as %20");
        }
        Mono<ObjectNode> result;
        try {
            result = action.apply(parameters);
        } catch (BadRequest e) {
            return error(res, HttpResponseStatus.BAD_REQUEST, "bad_request", e.field, e.getMessage());
        }
        return result.flatMap(out -> json(res, HttpResponseStatus.OK, out)).onErrorResume(e -> {
            log.debug("{} {} failed: {}", req.method(), req.uri(), e.toString());
            res.header(HttpHeaderNames.RETRY_AFTER, String.valueOf(RETRY_AFTER_SECONDS));
            return error(
                    res,
                    HttpResponseStatus.SERVICE_UNAVAILABLE,
                    "unavailable",
                    null,
                    what + " is unavailable, try again");
        });
    }

    /** The name of the first query parameter whose name or value cannot be decoded, or "query" when unclear. */
    private static String badlyEscaped(String uri) {
        int q = uri.indexOf('?');
        if (q < 0) {
            return "query";
        }
        for (String pair : uri.substring(q + 1).split("&")) {
            int eq = pair.indexOf('=');
            String name;
            try {
                name = QueryStringDecoder.decodeComponent(eq < 0 ? pair : pair.substring(0, eq));
            } catch (IllegalArgumentException e) {
                return "query";
            }
            try {
                QueryStringDecoder.decodeComponent(eq < 0 ? "" : pair.substring(eq + 1));
            } catch (IllegalArgumentException e) {
                return name.length() > 64 ? "query" : name;
            }
        }
        return "query";
    }

    /** Null when the request carries the API key; else the 401 answer. */
    private Mono<Void> authorize(HttpServerRequest req, HttpServerResponse res) {
        if (apiKey == null) {
            return unauthorized(res, "the HTTP API is disabled: SWITCHBOARD_API_KEY is not set on this gateway");
        }
        String header = req.requestHeaders().get(HttpHeaderNames.AUTHORIZATION);
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, "Bearer ".length())) {
            return unauthorized(res, "missing Authorization: Bearer <api key>");
        }
        byte[] given = header.substring("Bearer ".length()).trim().getBytes(StandardCharsets.UTF_8);
        if (!MessageDigest.isEqual(given, apiKey)) {
            return unauthorized(res, "wrong API key");
        }
        return null;
    }

    private Mono<Void> call(
            HttpServerRequest req, HttpServerResponse res, Function<JsonNode, Mono<ObjectNode>> action) {
        Mono<Void> refused = authorize(req, res);
        if (refused != null) {
            return refused;
        }
        return readBody(req)
                .flatMap(bytes -> {
                    JsonNode body;
                    try {
                        body = MAPPER.readTree(bytes);
                    } catch (IOException e) {
                        return error(
                                res, HttpResponseStatus.BAD_REQUEST, "bad_request", "body", "body is not valid JSON");
                    }
                    if (body == null || !body.isObject()) {
                        return error(
                                res,
                                HttpResponseStatus.BAD_REQUEST,
                                "bad_request",
                                "body",
                                "body must be a JSON object");
                    }
                    Mono<ObjectNode> result;
                    try {
                        result = action.apply(body);
                    } catch (BadRequest e) {
                        return error(res, HttpResponseStatus.BAD_REQUEST, "bad_request", e.field, e.getMessage());
                    }
                    return result.flatMap(out -> json(res, HttpResponseStatus.OK, out))
                            .onErrorResume(e -> {
                                log.debug("{} {} failed: {}", req.method(), req.uri(), e.toString());
                                res.header(HttpHeaderNames.RETRY_AFTER, String.valueOf(RETRY_AFTER_SECONDS));
                                return error(
                                        res,
                                        HttpResponseStatus.SERVICE_UNAVAILABLE,
                                        "unavailable",
                                        null,
                                        "a dependency is unavailable, try again");
                            });
                })
                .onErrorResume(
                        BodyTooLarge.class,
                        e -> error(
                                res,
                                HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE,
                                "bad_request",
                                "body",
                                "body is larger than " + maxBody + " bytes"));
    }

    private Mono<byte[]> readBody(HttpServerRequest req) {
        return req.receive()
                .reduceWith(ByteArrayOutputStream::new, (acc, buf) -> append(acc, buf))
                .map(ByteArrayOutputStream::toByteArray)
                .defaultIfEmpty(new byte[0]);
    }

    private ByteArrayOutputStream append(ByteArrayOutputStream acc, ByteBuf buf) {
        int n = buf.readableBytes();
        if (acc.size() + n > maxBody) {
            throw new BodyTooLarge();
        }
        byte[] bytes = new byte[n];
        buf.readBytes(bytes);
        acc.writeBytes(bytes);
        return acc;
    }

    private static String requireString(JsonNode body, String field) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) {
            throw new BadRequest(field, "missing field '" + field + "'");
        }
        if (!n.isTextual()) {
            throw new BadRequest(field, "field '" + field + "' must be a string");
        }
        return n.textValue();
    }

    private static String requireUser(JsonNode body, String field) {
        String user = requireString(body, field);
        if (user.isEmpty() || user.length() > MAX_USER_ID) {
            throw new BadRequest(
                    field, "field '" + field + "' must be a user id of 1 to " + MAX_USER_ID + " characters");
        }
        return user;
    }

    private static String requireData(JsonNode body) {
        JsonNode data = body.get("data");
        if (data == null) {
            throw new BadRequest("data", "missing field 'data' (any JSON value)");
        }
        try {
            return MAPPER.writeValueAsString(data);
        } catch (JsonProcessingException e) {
            throw new BadRequest("data", "field 'data' cannot be encoded: " + e.getOriginalMessage());
        }
    }

    private static Mono<Void> unauthorized(HttpServerResponse res, String message) {
        res.header(HttpHeaderNames.WWW_AUTHENTICATE, "Bearer");
        return error(res, HttpResponseStatus.UNAUTHORIZED, "unauthorized", null, message);
    }

    static Mono<Void> error(
            HttpServerResponse res, HttpResponseStatus status, String code, String field, String message) {
        ObjectNode out = MAPPER.createObjectNode();
        out.put("error", code);
        if (field != null) {
            out.put("field", field);
        }
        out.put("message", message);
        return json(res, status, out);
    }

    static Mono<Void> json(HttpServerResponse res, HttpResponseStatus status, JsonNode body) {
        byte[] bytes;
        try {
            bytes = MAPPER.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            return Mono.error(e);
        }
        return res.status(status)
                .header(HttpHeaderNames.CONTENT_TYPE, "application/json")
                .sendByteArray(Mono.just(bytes))
                .then();
    }

    /** A request body field that is missing or wrong; {@code field} is named in the 400 answer. */
    private static final class BadRequest extends RuntimeException {
        final String field;

        BadRequest(String field, String message) {
            super(message, null, false, false);
            this.field = field;
        }
    }

    private static final class BodyTooLarge extends RuntimeException {
        BodyTooLarge() {
            super(null, null, false, false);
        }
    }
}
