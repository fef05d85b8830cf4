package io.switchboard.protocol;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns JSON text into frames and frames into JSON text, both directions. Decoding validates precisely (field
 * types, id range, channel names) and says which field is wrong; unknown fields are ignored. A frame's
 * {@code data} is kept as its raw JSON text, never re-serialized, so it is relayed byte for byte.
 */
public final class FrameCodec {

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(
                    StreamReadConstraints.builder().maxNestingDepth(64).build())
            .build();
    private static final ObjectMapper MAPPER = JsonMapper.builder(FACTORY).build();

    private FrameCodec() {}

    /** The shared JSON mapper, for callers that need plain JSON (HTTP bodies, tests). */
    public static ObjectMapper mapper() {
        return MAPPER;
    }

    // ---------------------------------------------------------------- decoding

    /** Decodes a frame a client sent (the server's side). */
    public static ClientFrame decodeClient(String text) throws FrameDecodeException {
        Fields f = Fields.read(text);
        String type = f.type();
        Long id = f.id();
        return switch (type) {
            case ClientFrame.Hello.TYPE ->
                new ClientFrame.Hello(
                        f.requireInt("v", id),
                        f.optString("token", id),
                        f.optString("resume", id),
                        f.optPosition("inboxSince", id),
                        f.optString("client", id));
            case ClientFrame.Pong.TYPE -> new ClientFrame.Pong();
            case ClientFrame.Subscribe.TYPE ->
                new ClientFrame.Subscribe(
                        id,
                        f.requireChannel(id),
                        f.optPosition("since", id),
                        f.optFlag("presence", id),
                        f.optFlag("joinLeave", id));
            case ClientFrame.Unsubscribe.TYPE -> new ClientFrame.Unsubscribe(id, f.requireChannel(id));
            case ClientFrame.Publish.TYPE -> new ClientFrame.Publish(id, f.requireChannel(id), f.requireData(id));
            case ClientFrame.Send.TYPE -> new ClientFrame.Send(id, f.requireUserId("to", id), f.requireData(id));
            case ClientFrame.MatchJoin.TYPE -> new ClientFrame.MatchJoin(id, f.optStringList("interests", id));
            case ClientFrame.MatchSignal.TYPE ->
                new ClientFrame.MatchSignal(id, f.requireString("match", id), f.requireData(id));
            case ClientFrame.MatchNext.TYPE -> new ClientFrame.MatchNext(id);
            case ClientFrame.MatchLeave.TYPE -> new ClientFrame.MatchLeave(id);
            case ClientFrame.Block.TYPE -> new ClientFrame.Block(id, f.requireUserId("user", id));
            case ClientFrame.Presence.TYPE -> new ClientFrame.Presence(id, f.requireChannel(id));
            case ClientFrame.PresenceCount.TYPE -> new ClientFrame.PresenceCount(id, f.requireChannel(id));
            case ClientFrame.MatchStats.TYPE -> new ClientFrame.MatchStats(id);
            case ClientFrame.Rpc.TYPE -> new ClientFrame.Rpc(id, f.requireMethod(id), f.requireData(id));
            default ->
                throw new FrameDecodeException(
                        ErrorCodes.UNKNOWN_TYPE, id, "unknown frame type '" + truncate(type) + "'");
        };
    }

    /** Decodes a frame a server sent (the client's side). */
    public static ServerFrame decodeServer(String text) throws FrameDecodeException {
        Fields f = Fields.read(text);
        String type = f.type();
        return switch (type) {
            case ServerFrame.Welcome.TYPE -> {
                JsonNode ping = f.node("ping");
                JsonNode limits = f.node("limits");
                yield new ServerFrame.Welcome(
                        f.requireString("session", null),
                        f.requireString("user", null),
                        f.optBool("guest"),
                        f.optString("resume", null),
                        f.optBool("resumed"),
                        f.optBool("recovered"),
                        f.optPosition("inbox", null),
                        ping == null ? 0 : ping.path("interval").asLong(),
                        ping == null ? 0 : ping.path("timeout").asLong(),
                        limits == null
                                ? Limits.DEFAULTS
                                : new Limits(
                                        limits.path("maxFrame").asInt(),
                                        limits.path("rate").asInt(),
                                        limits.path("burst").asInt(),
                                        limits.path("maxSubscriptions").asInt()),
                        f.optString("node", null));
            }
            case ServerFrame.Ping.TYPE -> new ServerFrame.Ping();
            case ServerFrame.Ack.TYPE ->
                f.node("count") != null
                        ? new ServerFrame.PresenceAck(
                                f.requireLong("id"),
                                f.requireString("channel", null),
                                f.requireLong("count"),
                                f.optUsers("users"),
                                f.optBoolean("truncated"))
                        : f.node("result") != null
                                ? new ServerFrame.RpcAck(
                                        f.requireLong("id"), f.node("result").toString())
                                : f.node("online") != null
                                        ? new ServerFrame.StatsAck(
                                                f.requireLong("id"), f.requireLong("online"), f.requireLong("waiting"))
                                        : new ServerFrame.Ack(
                                                f.requireLong("id"),
                                                f.optString("channel", null),
                                                f.optLong("offset"),
                                                f.optString("epoch", null),
                                                f.optBoolean("recovered"),
                                                f.optBoolean("delivered"),
                                                f.optBoolean("queued"));
            case ServerFrame.Error.TYPE ->
                new ServerFrame.Error(
                        f.optLong("id"),
                        f.requireString("code", null),
                        f.optString("message", null),
                        f.optLong("retryAfter"));
            case ServerFrame.Message.TYPE ->
                new ServerFrame.Message(
                        f.requireString("channel", null),
                        f.requireLong("offset"),
                        f.optString("epoch", null),
                        f.optString("from", null),
                        f.requireData(null));
            case ServerFrame.Direct.TYPE ->
                new ServerFrame.Direct(
                        f.optString("from", null),
                        f.requireData(null),
                        f.requireLong("offset"),
                        f.optString("epoch", null));
            case ServerFrame.MatchFound.TYPE ->
                new ServerFrame.MatchFound(
                        f.requireString("match", null),
                        f.requireString("partner", null),
                        f.optBool("initiator"),
                        f.optStringList("interests", null),
                        f.requireLong("offset"),
                        f.optString("epoch", null));
            case ServerFrame.MatchSignal.TYPE ->
                new ServerFrame.MatchSignal(
                        f.requireString("match", null),
                        f.optString("from", null),
                        f.requireData(null),
                        f.requireLong("offset"),
                        f.optString("epoch", null));
            case ServerFrame.MatchEnded.TYPE ->
                new ServerFrame.MatchEnded(
                        f.requireString("match", null),
                        f.optString("reason", null),
                        f.requireLong("offset"),
                        f.optString("epoch", null));
            case ServerFrame.MatchPartner.TYPE ->
                new ServerFrame.MatchPartner(f.requireString("match", null), f.requireString("state", null));
            case ServerFrame.Join.TYPE ->
                new ServerFrame.Join(
                        f.requireString("channel", null), f.requireString("user", null), f.rawOrEmpty("info"));
            case ServerFrame.Subscribed.TYPE ->
                new ServerFrame.Subscribed(
                        f.requireString("channel", null), f.requireLong("offset"), f.optString("epoch", null));
            case ServerFrame.Leave.TYPE ->
                new ServerFrame.Leave(f.requireString("channel", null), f.requireString("user", null));
            default ->
                throw new FrameDecodeException(
                        ErrorCodes.UNKNOWN_TYPE, null, "unknown frame type '" + truncate(type) + "'");
        };
    }

    /** Whether {@code text} is one syntactically valid JSON value (for {@code data} given by API callers). */
    public static boolean isJsonValue(String text) {
        try (JsonParser p = FACTORY.createParser(text)) {
            if (p.nextToken() == null) {
                return false;
            }
            p.skipChildren();
            return p.nextToken() == null;
        } catch (IOException e) {
            return false;
        }
    }

    // ---------------------------------------------------------------- encoding

    /** Encodes a server frame as JSON text. */
    public static String encode(ServerFrame frame) {
        StringWriter w = new StringWriter(128);
        write(frame, w);
        return w.toString();
    }

    /** Encodes a server frame as UTF-8 JSON, the form written to sockets. */
    public static byte[] encodeUtf8(ServerFrame frame) {
        try (ByteArrayBuilder bb = new ByteArrayBuilder(256);
                JsonGenerator g = FACTORY.createGenerator(bb)) {
            writeServer(frame, g);
            g.flush();
            return bb.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Encodes a server frame as UTF-8 JSON onto {@code out}, which is closed afterwards. */
    public static void encodeTo(ServerFrame frame, OutputStream out) {
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            writeServer(frame, g);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void write(ServerFrame frame, Writer w) {
        try (JsonGenerator g = FACTORY.createGenerator(w)) {
            writeServer(frame, g);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void writeServer(ServerFrame frame, JsonGenerator g) throws IOException {
        g.writeStartObject();
        g.writeStringField("type", frame.type());
        if (frame instanceof ServerFrame.Welcome w) {
            g.writeStringField("session", w.session());
            g.writeStringField("user", w.user());
            g.writeBooleanField("guest", w.guest());
            optField(g, "resume", w.resume());
            g.writeBooleanField("resumed", w.resumed());
            g.writeBooleanField("recovered", w.recovered());
            if (w.inbox() != null) {
                g.writeObjectFieldStart("inbox");
                writePosition(g, w.inbox());
                g.writeEndObject();
            }
            g.writeObjectFieldStart("ping");
            g.writeNumberField("interval", w.pingInterval());
            g.writeNumberField("timeout", w.pingTimeout());
            g.writeEndObject();
            g.writeObjectFieldStart("limits");
            g.writeNumberField("maxFrame", w.limits().maxFrame());
            g.writeNumberField("rate", w.limits().rate());
            g.writeNumberField("burst", w.limits().burst());
            g.writeNumberField("maxSubscriptions", w.limits().maxSubscriptions());
            g.writeEndObject();
            optField(g, "node", w.node());
        } else if (frame instanceof ServerFrame.Ack a) {
            g.writeNumberField("id", a.id());
            optField(g, "channel", a.channel());
            if (a.offset() != null) {
                g.writeNumberField("offset", a.offset());
            }
            optField(g, "epoch", a.epoch());
            optField(g, "recovered", a.recovered());
            optField(g, "delivered", a.delivered());
            optField(g, "queued", a.queued());
        } else if (frame instanceof ServerFrame.Error e) {
            if (e.id() != null) {
                g.writeNumberField("id", e.id());
            }
            g.writeStringField("code", e.code());
            optField(g, "message", e.message());
            if (e.retryAfter() != null) {
                g.writeNumberField("retryAfter", e.retryAfter());
            }
        } else if (frame instanceof ServerFrame.Message m) {
            g.writeStringField("channel", m.channel());
            g.writeNumberField("offset", m.offset());
            g.writeStringField("epoch", m.epoch());
            optField(g, "from", m.from());
            writeData(g, m.data());
        } else if (frame instanceof ServerFrame.Direct d) {
            optField(g, "from", d.from());
            writeData(g, d.data());
            g.writeNumberField("offset", d.offset());
            g.writeStringField("epoch", d.epoch());
        } else if (frame instanceof ServerFrame.MatchFound m) {
            g.writeStringField("match", m.match());
            g.writeStringField("partner", m.partner());
            g.writeBooleanField("initiator", m.initiator());
            writeStrings(g, "interests", m.interests());
            g.writeNumberField("offset", m.offset());
            g.writeStringField("epoch", m.epoch());
        } else if (frame instanceof ServerFrame.MatchSignal m) {
            g.writeStringField("match", m.match());
            optField(g, "from", m.from());
            writeData(g, m.data());
            g.writeNumberField("offset", m.offset());
            g.writeStringField("epoch", m.epoch());
        } else if (frame instanceof ServerFrame.MatchEnded m) {
            g.writeStringField("match", m.match());
            g.writeStringField("reason", m.reason());
            g.writeNumberField("offset", m.offset());
            g.writeStringField("epoch", m.epoch());
        } else if (frame instanceof ServerFrame.MatchPartner m) {
            g.writeStringField("match", m.match());
            g.writeStringField("state", m.state());
        } else if (frame instanceof ServerFrame.PresenceAck a) {
            g.writeNumberField("id", a.id());
            g.writeStringField("channel", a.channel());
            g.writeNumberField("count", a.count());
            if (a.users() != null) {
                g.writeArrayFieldStart("users");
                for (ServerFrame.PresentUser u : a.users()) {
                    g.writeStartObject();
                    g.writeStringField("user", u.user());
                    g.writeFieldName("info");
                    g.writeRawValue(u.info());
                    g.writeEndObject();
                }
                g.writeEndArray();
            }
            optField(g, "truncated", a.truncated());
        } else if (frame instanceof ServerFrame.StatsAck a) {
            g.writeNumberField("id", a.id());
            g.writeNumberField("online", a.online());
            g.writeNumberField("waiting", a.waiting());
        } else if (frame instanceof ServerFrame.RpcAck a) {
            g.writeNumberField("id", a.id());
            g.writeFieldName("result");
            g.writeRawValue(a.result());
        } else if (frame instanceof ServerFrame.Subscribed sub) {
            g.writeStringField("channel", sub.channel());
            g.writeNumberField("offset", sub.offset());
            g.writeStringField("epoch", sub.epoch());
        } else if (frame instanceof ServerFrame.Join j) {
            g.writeStringField("channel", j.channel());
            g.writeStringField("user", j.user());
            g.writeFieldName("info");
            g.writeRawValue(j.info());
        } else if (frame instanceof ServerFrame.Leave l) {
            g.writeStringField("channel", l.channel());
            g.writeStringField("user", l.user());
        }
        g.writeEndObject();
    }

    /** Encodes a client frame as JSON text. */
    public static String encode(ClientFrame frame) {
        StringWriter w = new StringWriter(128);
        try (JsonGenerator g = FACTORY.createGenerator(w)) {
            g.writeStartObject();
            g.writeStringField("type", frame.type());
            if (frame.id() != null) {
                g.writeNumberField("id", frame.id());
            }
            if (frame instanceof ClientFrame.Hello h) {
                g.writeNumberField("v", h.v());
                optField(g, "token", h.token());
                optField(g, "resume", h.resume());
                if (h.inboxSince() != null) {
                    g.writeObjectFieldStart("inboxSince");
                    writePosition(g, h.inboxSince());
                    g.writeEndObject();
                }
                optField(g, "client", h.client());
            } else if (frame instanceof ClientFrame.Subscribe s) {
                g.writeStringField("channel", s.channel());
                if (s.since() != null) {
                    g.writeObjectFieldStart("since");
                    writePosition(g, s.since());
                    g.writeEndObject();
                }
                if (s.presence()) {
                    g.writeBooleanField("presence", true);
                }
                if (s.joinLeave()) {
                    g.writeBooleanField("joinLeave", true);
                }
            } else if (frame instanceof ClientFrame.Rpc r) {
                g.writeStringField("method", r.method());
                writeData(g, r.data());
            } else if (frame instanceof ClientFrame.Presence p) {
                g.writeStringField("channel", p.channel());
            } else if (frame instanceof ClientFrame.PresenceCount p) {
                g.writeStringField("channel", p.channel());
            } else if (frame instanceof ClientFrame.Unsubscribe u) {
                g.writeStringField("channel", u.channel());
            } else if (frame instanceof ClientFrame.Publish p) {
                g.writeStringField("channel", p.channel());
                writeData(g, p.data());
            } else if (frame instanceof ClientFrame.Send s) {
                g.writeStringField("to", s.to());
                writeData(g, s.data());
            } else if (frame instanceof ClientFrame.MatchJoin j) {
                if (!j.interests().isEmpty()) {
                    writeStrings(g, "interests", j.interests());
                }
            } else if (frame instanceof ClientFrame.MatchSignal s) {
                g.writeStringField("match", s.match());
                writeData(g, s.data());
            } else if (frame instanceof ClientFrame.Block b) {
                g.writeStringField("user", b.user());
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return w.toString();
    }

    private static void writeData(JsonGenerator g, String rawJson) throws IOException {
        g.writeFieldName("data");
        g.writeRawValue(rawJson);
    }

    private static void writeStrings(JsonGenerator g, String name, List<String> values) throws IOException {
        g.writeArrayFieldStart(name);
        for (String v : values) {
            g.writeString(v);
        }
        g.writeEndArray();
    }

    /** A JSON string literal for {@code s}, quotes included. */
    public static String quote(String s) {
        return "\"" + new String(JsonStringEncoder.getInstance().quoteAsString(s)) + "\"";
    }

    private static void writePosition(JsonGenerator g, StreamPosition p) throws IOException {
        g.writeNumberField("offset", p.offset());
        g.writeStringField("epoch", p.epoch());
    }

    private static void optField(JsonGenerator g, String name, String value) throws IOException {
        if (value != null) {
            g.writeStringField(name, value);
        }
    }

    private static void optField(JsonGenerator g, String name, Boolean value) throws IOException {
        if (value != null) {
            g.writeBooleanField(name, value);
        }
    }

    private static String truncate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "...";
    }

    /** The top-level fields of one frame, read once; accessors validate and name the field in their errors. */
    private static final class Fields {
        private final Map<String, JsonNode> nodes = new HashMap<>(8);
        private String data;

        static Fields read(String text) throws FrameDecodeException {
            Fields f = new Fields();
            try (JsonParser p = FACTORY.createParser(text)) {
                JsonToken first = p.nextToken();
                if (first != JsonToken.START_OBJECT) {
                    throw bad(null, "a frame must be a JSON object");
                }
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String name = p.currentName();
                    JsonToken value = p.nextToken();
                    if (f.nodes.containsKey(name) || name.equals("data") && f.data != null) {
                        // Read last-wins, a repeated field would let a proxy and the gateway see different frames.
                        throw bad(f.idOrNull(), "field '" + truncate(name) + "' appears more than once");
                    }
                    if (name.equals("data")) {
                        f.data = raw(p, value, text);
                    } else {
                        f.nodes.put(name, MAPPER.readTree(p));
                    }
                }
                if (p.nextToken() != null) {
                    throw bad(null, "unexpected text after the JSON object");
                }
            } catch (JsonProcessingException e) {
                throw bad(null, "malformed JSON: " + e.getOriginalMessage());
            } catch (IOException e) {
                throw bad(null, "unreadable frame: " + e.getMessage());
            }
            return f;
        }

        private static String raw(JsonParser p, JsonToken token, String text) throws IOException {
            return switch (token) {
                case START_OBJECT, START_ARRAY -> {
                    int start = (int) p.currentTokenLocation().getCharOffset();
                    p.skipChildren();
                    int end = (int) p.currentLocation().getCharOffset();
                    yield text.substring(start, end);
                }
                case VALUE_STRING -> quote(p.getText());
                case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> p.getText();
                case VALUE_TRUE -> "true";
                case VALUE_FALSE -> "false";
                case VALUE_NULL -> "null";
                default -> throw new IOException("unexpected token " + token);
            };
        }

        String type() throws FrameDecodeException {
            JsonNode t = nodes.get("type");
            Long id = idOrNull();
            if (t == null) {
                throw bad(id, "missing field 'type'");
            }
            if (!t.isTextual()) {
                throw bad(id, "field 'type' must be a string");
            }
            return t.textValue();
        }

        /** The id when it is valid, else null; used to correlate errors found before the id is checked. */
        private Long idOrNull() {
            JsonNode n = nodes.get("id");
            if (n != null && n.isIntegralNumber() && n.canConvertToLong()) {
                long v = n.longValue();
                if (v >= 1 && v <= Limits.MAX_ID) {
                    return v;
                }
            }
            return null;
        }

        Long id() throws FrameDecodeException {
            JsonNode n = nodes.get("id");
            if (n == null || n.isNull()) {
                return null;
            }
            Long id = idOrNull();
            if (id == null) {
                throw bad(null, "field 'id' must be an integer from 1 to " + Limits.MAX_ID);
            }
            return id;
        }

        JsonNode node(String name) {
            return nodes.get(name);
        }

        String requireString(String name, Long id) throws FrameDecodeException {
            String s = optString(name, id);
            if (s == null) {
                throw bad(id, "missing field '" + name + "'");
            }
            return s;
        }

        String optString(String name, Long id) throws FrameDecodeException {
            JsonNode n = nodes.get(name);
            if (n == null || n.isNull()) {
                return null;
            }
            if (!n.isTextual()) {
                throw bad(id, "field '" + name + "' must be a string");
            }
            return n.textValue();
        }

        String requireChannel(Long id) throws FrameDecodeException {
            String channel = requireString("channel", id);
            String problem = Channels.problem(channel);
            if (problem != null) {
                throw bad(id, "field 'channel': " + problem);
            }
            return channel;
        }

        /** An rpc {@code method}: 1 to {@link Limits#MAX_METHOD_LENGTH} characters of A-Z a-z 0-9 _ - . : */
        String requireMethod(Long id) throws FrameDecodeException {
            String m = requireString("method", id);
            boolean ok = !m.isEmpty() && m.length() <= Limits.MAX_METHOD_LENGTH;
            for (int i = 0; ok && i < m.length(); i++) {
                char c = m.charAt(i);
                ok = c >= 'A' && c <= 'Z'
                        || c >= 'a' && c <= 'z'
                        || c >= '0' && c <= '9'
                        || c == '_'
                        || c == '-'
                        || c == '.'
                        || c == ':';
            }
            if (!ok) {
                throw bad(
                        id,
                        "field 'method' must be 1 to " + Limits.MAX_METHOD_LENGTH
                                + " characters of A-Z a-z 0-9 _ - . :");
            }
            return m;
        }

        String requireUserId(String name, Long id) throws FrameDecodeException {
            String user = requireString(name, id);
            if (user.isEmpty() || user.length() > Limits.MAX_CHANNEL_LENGTH - Channels.INBOX_PREFIX.length()) {
                throw bad(
                        id,
                        "field '" + name + "' must be a user id of 1 to "
                                + (Limits.MAX_CHANNEL_LENGTH - Channels.INBOX_PREFIX.length()) + " characters");
            }
            return user;
        }

        String requireData(Long id) throws FrameDecodeException {
            if (data == null) {
                throw bad(id, "missing field 'data'");
            }
            return data;
        }

        int requireInt(String name, Long id) throws FrameDecodeException {
            JsonNode n = nodes.get(name);
            if (n == null) {
                throw bad(id, "missing field '" + name + "'");
            }
            if (!n.isIntegralNumber() || !n.canConvertToInt()) {
                throw bad(id, "field '" + name + "' must be an integer");
            }
            return n.intValue();
        }

        long requireLong(String name) throws FrameDecodeException {
            Long v = optLong(name);
            if (v == null) {
                throw bad(null, "missing integer field '" + name + "'");
            }
            return v;
        }

        Long optLong(String name) {
            JsonNode n = nodes.get(name);
            return n != null && n.isIntegralNumber() && n.canConvertToLong() ? n.longValue() : null;
        }

        boolean optBool(String name) {
            JsonNode n = nodes.get(name);
            return n != null && n.asBoolean(false);
        }

        /** An optional boolean request field: absent or null is false; anything but a boolean is refused. */
        boolean optFlag(String name, Long id) throws FrameDecodeException {
            JsonNode n = nodes.get(name);
            if (n == null || n.isNull()) {
                return false;
            }
            if (!n.isBoolean()) {
                throw bad(id, "field '" + name + "' must be true or false");
            }
            return n.booleanValue();
        }

        /** A JSON field as raw JSON text; {@code {}} when absent. */
        String rawOrEmpty(String name) {
            JsonNode n = nodes.get(name);
            return n == null || n.isNull() ? "{}" : n.toString();
        }

        /** The {@code users} of a presence reply, or null when absent. */
        List<ServerFrame.PresentUser> optUsers(String name) throws FrameDecodeException {
            JsonNode n = nodes.get(name);
            if (n == null || n.isNull()) {
                return null;
            }
            if (!n.isArray()) {
                throw bad(null, "field '" + name + "' must be an array");
            }
            List<ServerFrame.PresentUser> out = new ArrayList<>(n.size());
            for (JsonNode e : n) {
                JsonNode user = e.get("user");
                if (user == null || !user.isTextual()) {
                    throw bad(null, "each of '" + name + "' must have a string 'user'");
                }
                JsonNode info = e.get("info");
                out.add(new ServerFrame.PresentUser(
                        user.textValue(), info == null || info.isNull() ? "{}" : info.toString()));
            }
            return out;
        }

        Boolean optBoolean(String name) {
            JsonNode n = nodes.get(name);
            return n != null && n.isBoolean() ? n.booleanValue() : null;
        }

        StreamPosition optPosition(String name, Long id) throws FrameDecodeException {
            JsonNode n = nodes.get(name);
            if (n == null || n.isNull()) {
                return null;
            }
            JsonNode offset = n.get("offset");
            JsonNode epoch = n.get("epoch");
            if (!n.isObject()
                    || offset == null
                    || !offset.isIntegralNumber()
                    || !offset.canConvertToLong()
                    || offset.longValue() < 0
                    || epoch == null
                    || !epoch.isTextual()) {
                throw bad(id, "field '" + name + "' must be {\"offset\": integer >= 0, \"epoch\": string}");
            }
            return new StreamPosition(offset.longValue(), epoch.textValue());
        }

        List<String> optStringList(String name, Long id) throws FrameDecodeException {
            JsonNode n = nodes.get(name);
            if (n == null || n.isNull()) {
                return List.of();
            }
            if (!n.isArray()) {
                throw bad(id, "field '" + name + "' must be an array of strings");
            }
            List<String> out = new ArrayList<>(n.size());
            for (JsonNode e : n) {
                if (!e.isTextual()) {
                    throw bad(id, "field '" + name + "' must be an array of strings");
                }
                out.add(e.textValue());
            }
            return out;
        }

        private static FrameDecodeException bad(Long id, String message) {
            return new FrameDecodeException(ErrorCodes.BAD_REQUEST, id, message);
        }
    }
}
