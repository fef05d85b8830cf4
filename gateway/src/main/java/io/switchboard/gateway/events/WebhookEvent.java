package io.switchboard.gateway.events;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.switchboard.protocol.FrameCodec;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Collection;

/**
 * One event as the backend receives it, encoded once: {@code {"id","type","at","node", ...fields}}.
 *
 * @param id unique per event and the same when it is sent again ({@code ev_...}): receivers deduplicate by it
 * @param type {@code user.connected}, {@code match.started}, ...
 * @param atMillis when it happened, on the producing instance's clock
 * @param key what orders it: events with the same key are delivered in the order they were stored (a user, a
 *            match, a channel)
 * @param json the whole event
 */
public record WebhookEvent(String id, String type, long atMillis, String key, String json) {
    public static final String USER_CONNECTED = "user.connected";
    public static final String USER_DISCONNECTED = "user.disconnected";
    public static final String MATCH_STARTED = "match.started";
    public static final String MATCH_ENDED = "match.ended";
    public static final String USER_BLOCKED = "user.blocked";
    public static final String CHANNEL_OCCUPIED = "channel.occupied";
    public static final String CHANNEL_VACATED = "channel.vacated";

    /** The reasons of {@code user.disconnected}. */
    public static final String CLOSED = "closed";

    public static final String TIMEOUT = "timeout";
    public static final String REPLACED = "replaced";
    public static final String KICKED = "kicked";
    public static final String NODE_LOST = "node_lost";

    private static final DateTimeFormatter AT =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    /** {@code atMillis} as the events show it: ISO-8601 UTC with milliseconds. */
    public static String at(long atMillis) {
        return AT.format(Instant.ofEpochMilli(atMillis));
    }

    /** The start of an event: the envelope every type has. */
    static ObjectNode envelope(String id, String type, long atMillis, String node) {
        ObjectNode n = FrameCodec.mapper().createObjectNode();
        n.put("id", id);
        n.put("type", type);
        n.put("at", at(atMillis));
        n.put("node", node);
        return n;
    }

    static WebhookEvent of(ObjectNode n, long atMillis, String key) {
        return new WebhookEvent(n.get("id").asText(), n.get("type").asText(), atMillis, key, n.toString());
    }

    static ArrayNode strings(ObjectNode n, String field, Collection<String> values) {
        ArrayNode a = n.putArray(field);
        values.forEach(a::add);
        return a;
    }

    /** The event back from its JSON (as a stream entry holds it). */
    public static WebhookEvent parse(String json, long atMillis, String key) {
        try {
            ObjectNode n = (ObjectNode) FrameCodec.mapper().readTree(json);
            return new WebhookEvent(n.path("id").asText(), n.path("type").asText(), atMillis, key, json);
        } catch (Exception e) {
            throw new IllegalArgumentException("not a webhook event: " + e.getMessage(), e);
        }
    }
}
