package io.switchboard.loadtest.gatling;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The text frames of PROTOCOL.md that the simulations send, and reading the ones they receive. Written here with
 * Jackson rather than with the project's own codec, so that a codec bug cannot hide from the load tests.
 */
final class Frames {
    /** What the gateway sends as its heartbeat (section 3), and the answer. */
    static final String PONG = "{\"type\":\"pong\"}";
    /** Sent with every hello, so the gateway's logs tell the load tests apart. */
    static final String CLIENT = "switchboard-gatling";

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final String PING_PREFIX = "{\"type\":\"ping\"";

    private Frames() {
    }

    /**
     * The reply to an inbound frame when it is the gateway's ping, else null. The gateway writes the type
     * first; a frame of any other type (a {@code message} whose data holds {@code "type":"ping"} included)
     * starts differently, so no JSON parse is needed on this hot path.
     */
    static String pongFor(String text) {
        if (text.startsWith(PING_PREFIX)) {
            char next = text.length() > PING_PREFIX.length() ? text.charAt(PING_PREFIX.length()) : ' ';
            if (next == '}' || next == ',') {
                return PONG;
            }
        }
        return null;
    }

    static boolean isPing(String text) {
        return pongFor(text) != null;
    }

    static String hello() {
        return write(hello(null));
    }

    /** A hello that resumes the session whose welcome carried {@code resume} (section 2). */
    static String helloResuming(String resume) {
        return write(hello(resume));
    }

    private static ObjectNode hello(String resume) {
        ObjectNode n = frame("hello");
        n.put("v", 1);
        if (resume != null) {
            n.put("resume", resume);
        }
        n.put("client", CLIENT);
        return n;
    }

    static String subscribe(long id, String channel) {
        ObjectNode n = frame("subscribe");
        n.put("id", id);
        n.put("channel", channel);
        return write(n);
    }

    static String unsubscribe(long id, String channel) {
        ObjectNode n = frame("unsubscribe");
        n.put("id", id);
        n.put("channel", channel);
        return write(n);
    }

    static String publish(long id, String channel, ObjectNode data) {
        ObjectNode n = frame("publish");
        n.put("id", id);
        n.put("channel", channel);
        n.set("data", data);
        return write(n);
    }

    /** {@code match.join} without an id: no ack, its answer is the {@code match.found} (or an error). */
    static String matchJoin() {
        return write(frame("match.join"));
    }

    /** {@code match.next} without an id: no ack, its answer is the next {@code match.found} (or an error). */
    static String matchNext() {
        return write(frame("match.next"));
    }

    static String matchLeave(long id) {
        ObjectNode n = frame("match.leave");
        n.put("id", id);
        return write(n);
    }

    static String matchSignal(long id, String match, ObjectNode data) {
        ObjectNode n = frame("match.signal");
        n.put("id", id);
        n.put("match", match);
        n.set("data", data);
        return write(n);
    }

    static ObjectNode object() {
        return NODES.objectNode();
    }

    /** Parses a received frame; a frame that is not a JSON object comes back as an empty object. */
    static JsonNode read(String text) {
        try {
            JsonNode n = MAPPER.readTree(text);
            return n != null && n.isObject() ? n : NODES.objectNode();
        } catch (JsonProcessingException e) {
            return NODES.objectNode();
        }
    }

    static String type(JsonNode frame) {
        return frame.path("type").asText("");
    }

    /** A frame shortened for an error message. */
    static String excerpt(String text) {
        return text.length() <= 200 ? text : text.substring(0, 200) + "...";
    }

    private static ObjectNode frame(String type) {
        ObjectNode n = NODES.objectNode();
        n.put("type", type);
        return n;
    }

    private static String write(ObjectNode n) {
        try {
            return MAPPER.writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write " + n.get("type") + " frame", e);
        }
    }
}
