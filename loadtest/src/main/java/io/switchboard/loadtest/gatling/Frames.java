package io.switchboard.loadtest.gatling;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.FrameCodec;
import java.util.List;

/**
 * The text frames of docs/protocol.md that the simulations send (written by the protocol module's {@link FrameCodec},
 * as every Java client's are), and reading the ones they receive.
 */
final class Frames {
    /** What the gateway sends as its heartbeat (section 3), and the answer. */
    static final String PONG = "{\"type\":\"pong\"}";
    /** Sent with every hello, so the gateway's logs tell the load tests apart. */
    static final String CLIENT = "switchboard-gatling";

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final String PING_PREFIX = "{\"type\":\"ping\"";

    private Frames() {}

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
        return hello(null);
    }

    /** A hello that resumes the session whose welcome carried {@code resume} (section 2). */
    static String helloResuming(String resume) {
        return hello(resume);
    }

    private static String hello(String resume) {
        return FrameCodec.encode(new ClientFrame.Hello(1, null, resume, null, CLIENT));
    }

    static String subscribe(long id, String channel) {
        return FrameCodec.encode(new ClientFrame.Subscribe(id, channel, null));
    }

    static String unsubscribe(long id, String channel) {
        return FrameCodec.encode(new ClientFrame.Unsubscribe(id, channel));
    }

    static String publish(long id, String channel, ObjectNode data) {
        return FrameCodec.encode(new ClientFrame.Publish(id, channel, data.toString()));
    }

    /** {@code match.join} without an id: no ack, its answer is the {@code match.found} (or an error). */
    static String matchJoin() {
        return FrameCodec.encode(new ClientFrame.MatchJoin(null, List.of()));
    }

    /** {@code match.next} without an id: no ack, its answer is the next {@code match.found} (or an error). */
    static String matchNext() {
        return FrameCodec.encode(new ClientFrame.MatchNext(null));
    }

    static String matchLeave(long id) {
        return FrameCodec.encode(new ClientFrame.MatchLeave(id));
    }

    static String matchSignal(long id, String match, ObjectNode data) {
        return FrameCodec.encode(new ClientFrame.MatchSignal(id, match, data.toString()));
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
}
