package io.switchboard.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Unit tests of {@link FrameCodec} against docs/protocol.md. */
class FrameCodecUnitTests {

    // ---------------------------------------------------------------- helpers

    static JsonNode tree(String json) {
        try {
            return FrameCodec.mapper().readTree(json);
        } catch (Exception e) {
            throw new AssertionError("not JSON: " + json, e);
        }
    }

    static void assertSameJson(String actual, String expected) {
        assertThat(tree(actual)).as("JSON %s vs expected %s", actual, expected).isEqualTo(tree(expected));
    }

    static ClientFrame decode(String text) {
        try {
            return FrameCodec.decodeClient(text);
        } catch (FrameDecodeException e) {
            throw new AssertionError("unexpected " + e.code() + ": " + e.getMessage() + " for " + text, e);
        }
    }

    static ServerFrame decodeServer(String text) {
        try {
            return FrameCodec.decodeServer(text);
        } catch (FrameDecodeException e) {
            throw new AssertionError("unexpected " + e.code() + ": " + e.getMessage() + " for " + text, e);
        }
    }

    static FrameDecodeException decodeFails(String text) {
        try {
            ClientFrame f = FrameCodec.decodeClient(text);
            return fail("expected FrameDecodeException for %s but decoded %s", text, f);
        } catch (FrameDecodeException e) {
            return e;
        }
    }

    static void assertBadRequest(String text, String fieldMention, Long expectedId) {
        FrameDecodeException e = decodeFails(text);
        assertThat(e.code()).as("code for %s", text).isEqualTo(ErrorCodes.BAD_REQUEST);
        assertThat(e.getMessage()).as("message for %s", text).contains(fieldMention);
        assertThat(e.id()).as("id for %s", text).isEqualTo(expectedId);
    }

    static String repeat(char c, int n) {
        return String.valueOf(c).repeat(n);
    }

    // ---------------------------------------------------------------- decodeClient, every frame type

    @Nested
    @DisplayName("section 10: presence frames")
    class PresenceFrames {

        @Test
        @DisplayName("subscribe reads presence and joinLeave; absent or null is false")
        void subscribeFlags() {
            assertThat(decode("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"public:lobby\",\"presence\":true,"
                            + "\"joinLeave\":true}"))
                    .isEqualTo(new ClientFrame.Subscribe(1L, "public:lobby", null, true, true));
            assertThat(decode("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"public:lobby\",\"presence\":null}"))
                    .isEqualTo(new ClientFrame.Subscribe(1L, "public:lobby", null, false, false));
        }

        @Test
        @DisplayName("a presence or joinLeave that is not a boolean is a bad_request naming the field, with the id")
        void nonBooleanFlagsAreRefused() {
            for (String field : List.of("presence", "joinLeave")) {
                for (String value : List.of("\"yes\"", "1", "{}")) {
                    FrameDecodeException e = org.assertj.core.api.Assertions.catchThrowableOfType(
                            FrameDecodeException.class,
                            () -> FrameCodec.decodeClient("{\"type\":\"subscribe\",\"id\":7,\"channel\":"
                                    + "\"public:lobby\",\"" + field + "\":" + value + "}"));
                    assertThat(e).as("%s=%s", field, value).isNotNull();
                    assertThat(e.code()).isEqualTo(ErrorCodes.BAD_REQUEST);
                    assertThat(e.id()).isEqualTo(7L);
                    assertThat(e.getMessage()).contains("'" + field + "'");
                }
            }
        }

        @Test
        @DisplayName("presence and presence.count need a valid channel")
        void readsNeedAChannel() {
            assertThat(decode("{\"type\":\"presence\",\"id\":2,\"channel\":\"public:lobby\"}"))
                    .isEqualTo(new ClientFrame.Presence(2L, "public:lobby"));
            assertThat(decode("{\"type\":\"presence.count\",\"id\":3,\"channel\":\"public:lobby\"}"))
                    .isEqualTo(new ClientFrame.PresenceCount(3L, "public:lobby"));
            assertThat(decode("{\"type\":\"match.stats\",\"id\":4}")).isEqualTo(new ClientFrame.MatchStats(4L));
            for (String bad : List.of(
                    "{\"type\":\"presence\",\"id\":2}",
                    "{\"type\":\"presence.count\",\"id\":2,\"channel\":\"bad channel\"}")) {
                FrameDecodeException e = org.assertj.core.api.Assertions.catchThrowableOfType(
                        FrameDecodeException.class, () -> FrameCodec.decodeClient(bad));
                assertThat(e).as(bad).isNotNull();
                assertThat(e.getMessage()).contains("channel");
            }
        }

        @Test
        @DisplayName("the presence reply, join and leave are written exactly as the protocol's examples")
        void wireForm() {
            assertSameJson(
                    FrameCodec.encode(new ServerFrame.PresenceAck(
                            2,
                            "public:lobby",
                            2,
                            List.of(
                                    new ServerFrame.PresentUser("g_Qm3v", "{}"),
                                    new ServerFrame.PresentUser("u_ann", "{\"name\":\"Ann\"}")),
                            false)),
                    "{\"type\":\"ack\",\"id\":2,\"channel\":\"public:lobby\",\"count\":2,\"users\":[{\"user\":"
                            + "\"g_Qm3v\",\"info\":{}},{\"user\":\"u_ann\",\"info\":{\"name\":\"Ann\"}}],"
                            + "\"truncated\":false}");
            assertSameJson(
                    FrameCodec.encode(new ServerFrame.PresenceAck(3, "public:lobby", 2, null, null)),
                    "{\"type\":\"ack\",\"id\":3,\"channel\":\"public:lobby\",\"count\":2}");
            assertSameJson(
                    FrameCodec.encode(new ServerFrame.Join("public:lobby", "u_bob", "{\"name\":\"Bob\"}")),
                    "{\"type\":\"join\",\"channel\":\"public:lobby\",\"user\":\"u_bob\",\"info\":{\"name\":\"Bob\"}}");
            assertSameJson(
                    FrameCodec.encode(new ServerFrame.Leave("public:lobby", "u_bob")),
                    "{\"type\":\"leave\",\"channel\":\"public:lobby\",\"user\":\"u_bob\"}");
            assertSameJson(
                    FrameCodec.encode(new ServerFrame.StatsAck(4, 1234, 17)),
                    "{\"type\":\"ack\",\"id\":4,\"online\":1234,\"waiting\":17}");
        }
    }

    @Nested
    @DisplayName("decodeClient: every client frame type")
    class DecodeClientTypes {

        @Test
        @DisplayName("section 2: hello with token, resume, inboxSince and client")
        void helloWithAllFields() {
            ClientFrame f = decode("{\"type\":\"hello\",\"v\":1,\"token\":\"a.b.c\",\"resume\":\"r-tok\","
                    + "\"inboxSince\":{\"offset\":41,\"epoch\":\"k2x9\"},\"client\":\"switchboard-js/1.0\"}");
            assertThat(f)
                    .isEqualTo(new ClientFrame.Hello(
                            1, "a.b.c", "r-tok", new StreamPosition(41, "k2x9"), "switchboard-js/1.0"));
            ClientFrame.Hello h = (ClientFrame.Hello) f;
            assertThat(h.v()).isEqualTo(1);
            assertThat(h.token()).isEqualTo("a.b.c");
            assertThat(h.resume()).isEqualTo("r-tok");
            assertThat(h.inboxSince().offset()).isEqualTo(41);
            assertThat(h.inboxSince().epoch()).isEqualTo("k2x9");
            assertThat(h.client()).isEqualTo("switchboard-js/1.0");
            assertThat(h.type()).isEqualTo("hello");
            assertThat(h.id()).isNull();
        }

        @Test
        @DisplayName("section 2: hello without token (guest), resume, inboxSince or client")
        void helloMinimal() {
            assertThat(decode("{\"type\":\"hello\",\"v\":1}"))
                    .isEqualTo(new ClientFrame.Hello(1, null, null, null, null));
        }

        @Test
        @DisplayName("section 2: hello with explicit nulls for optional fields is the same as absent")
        void helloNullOptionals() {
            assertThat(decode("{\"type\":\"hello\",\"v\":1,\"token\":null,\"resume\":null,\"inboxSince\":null,"
                            + "\"client\":null}"))
                    .isEqualTo(new ClientFrame.Hello(1, null, null, null, null));
        }

        @Test
        @DisplayName("section 2: hello with resume and inboxSince but no token, offset 0")
        void helloResumeNoToken() {
            assertThat(decode("{\"type\":\"hello\",\"v\":1,\"resume\":\"x\",\"inboxSince\":{\"offset\":0,"
                            + "\"epoch\":\"e\"}}"))
                    .isEqualTo(new ClientFrame.Hello(1, null, "x", new StreamPosition(0, "e"), null));
        }

        @Test
        @DisplayName("section 2: hello v other than 1 is passed through so the gateway can reject it")
        void helloOtherVersionDecodes() {
            assertThat(((ClientFrame.Hello) decode("{\"type\":\"hello\",\"v\":2}")).v())
                    .isEqualTo(2);
        }

        @Test
        @DisplayName("section 3: pong")
        void pong() {
            ClientFrame f = decode("{\"type\":\"pong\"}");
            assertThat(f).isEqualTo(new ClientFrame.Pong());
            assertThat(f.id()).isNull();
            assertThat(f.type()).isEqualTo("pong");
        }

        @Test
        @DisplayName("section 5: subscribe with since")
        void subscribeWithSince() {
            ClientFrame f = decode("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"public:lobby\","
                    + "\"since\":{\"offset\":17,\"epoch\":\"a1b2\"}}");
            assertThat(f).isEqualTo(new ClientFrame.Subscribe(1L, "public:lobby", new StreamPosition(17, "a1b2")));
            ClientFrame.Subscribe s = (ClientFrame.Subscribe) f;
            assertThat(s.id()).isEqualTo(1L);
            assertThat(s.channel()).isEqualTo("public:lobby");
            assertThat(s.since().offset()).isEqualTo(17L);
            assertThat(s.since().epoch()).isEqualTo("a1b2");
        }

        @Test
        @DisplayName("section 5: subscribe without since (and without id)")
        void subscribeWithoutSince() {
            assertThat(decode("{\"type\":\"subscribe\",\"channel\":\"public:lobby\"}"))
                    .isEqualTo(new ClientFrame.Subscribe(null, "public:lobby", null));
            assertThat(decode("{\"type\":\"subscribe\",\"id\":4,\"channel\":\"public:lobby\",\"since\":null}"))
                    .isEqualTo(new ClientFrame.Subscribe(4L, "public:lobby", null));
        }

        @Test
        @DisplayName("section 5: unsubscribe")
        void unsubscribe() {
            assertThat(decode("{\"type\":\"unsubscribe\",\"id\":3,\"channel\":\"public:lobby\"}"))
                    .isEqualTo(new ClientFrame.Unsubscribe(3L, "public:lobby"));
        }

        @Test
        @DisplayName("section 5: publish")
        void publish() {
            ClientFrame f = decode(
                    "{\"type\":\"publish\",\"id\":2,\"channel\":\"public:lobby\"," + "\"data\":{\"text\":\"hi\"}}");
            assertThat(f).isEqualTo(new ClientFrame.Publish(2L, "public:lobby", "{\"text\":\"hi\"}"));
        }

        @Test
        @DisplayName("section 5: send")
        void send() {
            ClientFrame f = decode("{\"type\":\"send\",\"id\":4,\"to\":\"u_bob\",\"data\":{\"text\":\"psst\"}}");
            assertThat(f).isEqualTo(new ClientFrame.Send(4L, "u_bob", "{\"text\":\"psst\"}"));
        }

        @Test
        @DisplayName("section 5: send 'to' of 123 characters (user:<id> fits in 128) is accepted")
        void sendLongestTo() {
            String to = repeat('u', 128 - "user:".length());
            assertThat(((ClientFrame.Send) decode("{\"type\":\"send\",\"to\":\"" + to + "\",\"data\":1}")).to())
                    .isEqualTo(to);
        }

        @Test
        @DisplayName("section 6: match.join with interests")
        void matchJoinWithInterests() {
            assertThat(decode("{\"type\":\"match.join\",\"id\":5,\"interests\":[\"music\",\"chess\"]}"))
                    .isEqualTo(new ClientFrame.MatchJoin(5L, List.of("music", "chess")));
        }

        @Test
        @DisplayName("section 6: match.join without interests gives an empty list")
        void matchJoinWithoutInterests() {
            assertThat(decode("{\"type\":\"match.join\",\"id\":5}"))
                    .isEqualTo(new ClientFrame.MatchJoin(5L, List.of()));
            assertThat(decode("{\"type\":\"match.join\",\"interests\":null}"))
                    .isEqualTo(new ClientFrame.MatchJoin(null, List.of()));
            assertThat(decode("{\"type\":\"match.join\",\"interests\":[]}"))
                    .isEqualTo(new ClientFrame.MatchJoin(null, List.of()));
        }

        @Test
        @DisplayName("section 6: match.signal")
        void matchSignal() {
            assertThat(decode("{\"type\":\"match.signal\",\"id\":6,\"match\":\"m_x1\",\"data\":{\"sdp\":\"...\"}}"))
                    .isEqualTo(new ClientFrame.MatchSignal(6L, "m_x1", "{\"sdp\":\"...\"}"));
        }

        @Test
        @DisplayName("section 6: match.next")
        void matchNext() {
            assertThat(decode("{\"type\":\"match.next\",\"id\":7}")).isEqualTo(new ClientFrame.MatchNext(7L));
            assertThat(decode("{\"type\":\"match.next\"}")).isEqualTo(new ClientFrame.MatchNext(null));
        }

        @Test
        @DisplayName("section 6: match.leave")
        void matchLeave() {
            assertThat(decode("{\"type\":\"match.leave\",\"id\":8}")).isEqualTo(new ClientFrame.MatchLeave(8L));
            assertThat(decode("{\"type\":\"match.leave\"}")).isEqualTo(new ClientFrame.MatchLeave(null));
        }

        @Test
        @DisplayName("section 6: block")
        void block() {
            assertThat(decode("{\"type\":\"block\",\"id\":9,\"user\":\"u_bob\"}"))
                    .isEqualTo(new ClientFrame.Block(9L, "u_bob"));
        }

        @Test
        @DisplayName("section 4: id 2^53-1 is the largest accepted id; 1 the smallest")
        void idBounds() {
            assertThat(decode("{\"type\":\"match.next\",\"id\":9007199254740991}")
                            .id())
                    .isEqualTo(Limits.MAX_ID);
            assertThat(Limits.MAX_ID).isEqualTo(9007199254740991L);
            assertThat(decode("{\"type\":\"match.next\",\"id\":1}").id()).isEqualTo(1L);
        }

        @Test
        @DisplayName("section 4: id null is the same as no id")
        void idNull() {
            assertThat(decode("{\"type\":\"match.next\",\"id\":null}").id()).isNull();
        }

        @Test
        @DisplayName("section 1: whitespace around tokens and around the object is allowed")
        void whitespace() {
            assertThat(decode(" \n\t{ \"type\" : \"subscribe\" ,\n \"id\" : 1 , \"channel\" : \"public:a\" }\r\n "))
                    .isEqualTo(new ClientFrame.Subscribe(1L, "public:a", null));
        }

        @Test
        @DisplayName("section 5: channel with every allowed character class")
        void channelAllowedCharacters() {
            String ch = "AZaz09_-.:@";
            assertThat(((ClientFrame.Subscribe) decode("{\"type\":\"subscribe\",\"channel\":\"" + ch + "\"}"))
                            .channel())
                    .isEqualTo(ch);
        }

        @Test
        @DisplayName("section 5: a 128-character channel name is valid")
        void channel128() {
            String ch = repeat('c', 128);
            assertThat(decode("{\"type\":\"unsubscribe\",\"channel\":\"" + ch + "\"}"))
                    .isEqualTo(new ClientFrame.Unsubscribe(null, ch));
            assertThat(decode("{\"type\":\"publish\",\"channel\":\"" + ch + "\",\"data\":1}"))
                    .isEqualTo(new ClientFrame.Publish(null, ch, "1"));
        }
    }

    // ---------------------------------------------------------------- raw data

    @Nested
    @DisplayName("section 5: data is any JSON value, relayed byte for byte")
    class RawData {

        static Stream<String> objectsAndArrays() {
            return Stream.of(
                    "{}",
                    "[]",
                    "{\"text\":\"hi\"}",
                    "[1,\"two\",[3],{\"four\":4},null,true,false]",
                    "{\"a\":{\"b\":[1,{\"c\":null}],\"d\":{\"e\":{\"f\":[[[]]]}}},\"g\":\"x\"}",
                    "{ \"a\" :\n [ 1 ,\t2 ] ,\r\n  \"b\" : { } }",
                    "[ ]",
                    "{\"s\":\"\\u00e9\"}",
                    "{\"s\":\"\\ud83d\\ude00 and \u00e9 and \ud83d\ude00\"}",
                    "{\"big\":123456789012345678901234567890}",
                    "{\"f\":1.0,\"g\":1e400,\"h\":-0.0,\"i\":1E-7,\"j\":-12}",
                    "[123456789012345678901234567890, 1.0, 1e400]",
                    "{\"tricky\":\"}]{[\\\"\\\\\",\"k}\":\"{\"}",
                    "{\"type\":\"not the frame type\",\"data\":{\"id\":-1}}",
                    "{\"dup\":1,\"dup\":2}",
                    "{\"esc\":\"\\n\\t\\/\\b\\f\\r\"}");
        }

        @ParameterizedTest(name = "publish data {0}")
        @MethodSource("objectsAndArrays")
        @DisplayName("section 5: object and array data kept exactly as sent (publish)")
        void publishKeepsRawText(String data) {
            ClientFrame.Publish p = (ClientFrame.Publish)
                    decode("{\"type\":\"publish\",\"id\":2,\"channel\":\"public:lobby\",\"data\":" + data + "}");
            assertThat(p.data()).isEqualTo(data);
            assertThat(p.channel()).isEqualTo("public:lobby");
            assertThat(p.id()).isEqualTo(2L);
        }

        @ParameterizedTest(name = "send data {0}")
        @MethodSource("objectsAndArrays")
        @DisplayName("section 5: object and array data kept exactly as sent (send, data before type)")
        void sendKeepsRawTextDataFirst(String data) {
            ClientFrame.Send s =
                    (ClientFrame.Send) decode("{\"data\":" + data + ",\"type\":\"send\",\"to\":\"u_bob\",\"id\":4}");
            assertThat(s.data()).isEqualTo(data);
            assertThat(s.to()).isEqualTo("u_bob");
            assertThat(s.id()).isEqualTo(4L);
        }

        @ParameterizedTest(name = "match.signal data {0}")
        @MethodSource("objectsAndArrays")
        @DisplayName("section 6: match.signal data kept exactly as sent, with whitespace around it")
        void signalKeepsRawText(String data) {
            ClientFrame.MatchSignal s = (ClientFrame.MatchSignal)
                    decode("{\"type\":\"match.signal\",\"match\":\"m_x1\",\"data\" :  " + data + "  ,\"id\":6 }");
            assertThat(s.data()).isEqualTo(data);
        }

        @Test
        @DisplayName("section 5: data before and after type and other fields decodes the same")
        void dataPosition() {
            String data = "{\"x\":[1,2,{\"y\":\"z\"}]}";
            ClientFrame expected = new ClientFrame.Publish(3L, "public:x", data);
            assertThat(decode("{\"data\":" + data + ",\"type\":\"publish\",\"channel\":\"public:x\",\"id\":3}"))
                    .isEqualTo(expected);
            assertThat(decode("{\"type\":\"publish\",\"data\":" + data + ",\"channel\":\"public:x\",\"id\":3}"))
                    .isEqualTo(expected);
            assertThat(decode("{\"type\":\"publish\",\"channel\":\"public:x\",\"id\":3,\"data\":" + data + "}"))
                    .isEqualTo(expected);
        }

        @Test
        @DisplayName("section 5: data offsets stay right after non-ASCII and surrogate-pair text earlier in the frame")
        void dataAfterNonAscii() {
            String data = "{\"a\":\"\u00e9\ud83d\ude00\"}";
            ClientFrame.Publish p = (ClientFrame.Publish) decode("{\"type\":\"publish\",\"note\":\"\u00e9\u00e9\ud83d"
                    + "\ude00\\u00e9\",\"channel\":\"public:x\",\"data\":" + data + "}");
            assertThat(p.data()).isEqualTo(data);
        }

        @Test
        @DisplayName("section 7: data in a frame near maxFrame (beyond parser buffer sizes) is still exact")
        void largeFrame() {
            StringBuilder sb =
                    new StringBuilder("{\"pad\":\"").append(repeat('p', 40_000)).append("\",\"list\":[");
            for (int i = 0; i < 1000; i++) {
                sb.append(i == 0 ? "" : ",").append(i);
            }
            sb.append("]}");
            String data = sb.toString();
            String frame = "{\"type\":\"publish\",\"skip\":\"" + repeat('s', 10_000) + "\",\"channel\":\"public:x\","
                    + "\"data\":" + data + ",\"id\":77}";
            assertThat(frame.length()).isLessThan(Limits.DEFAULT_MAX_FRAME);
            ClientFrame.Publish p = (ClientFrame.Publish) decode(frame);
            assertThat(p.data()).isEqualTo(data);
            assertThat(p.id()).isEqualTo(77L);
        }

        @ParameterizedTest(name = "string data {0}")
        @ValueSource(
                strings = {
                    "\"hi\"",
                    "\"\"",
                    "\"h\\u00e9llo\"",
                    "\"h\u00e9llo\"",
                    "\"q\\\"uote\\\\back\\nline\"",
                    "\"\\ud83d\\ude00\"",
                    "\"\\u0000\\u001f\"",
                    "\"\\/\""
                })
        @DisplayName("section 5: scalar string data becomes equivalent JSON")
        void stringData(String data) {
            String got = ((ClientFrame.Publish)
                            decode("{\"type\":\"publish\",\"channel\":\"public:x\",\"data\":" + data + "}"))
                    .data();
            assertThat(FrameCodec.isJsonValue(got)).isTrue();
            assertThat(tree(got).isTextual()).isTrue();
            assertThat(tree(got)).isEqualTo(tree(data));
        }

        @ParameterizedTest(name = "number data {0}")
        @ValueSource(
                strings = {
                    "0",
                    "-1",
                    "42",
                    "123456789012345678901234567890",
                    "-123456789012345678901234567890",
                    "1.0",
                    "1e400",
                    "-1E-400",
                    "3.141592653589793238462643383279",
                    "0.1",
                    "9007199254740993"
                })
        @DisplayName("section 5: scalar number data becomes equivalent JSON without losing precision")
        void numberData(String data) {
            String got = ((ClientFrame.Send) decode("{\"type\":\"send\",\"to\":\"u\",\"data\":" + data + "}")).data();
            assertThat(FrameCodec.isJsonValue(got)).isTrue();
            assertThat(new BigDecimal(got)).isEqualByComparingTo(new BigDecimal(data));
        }

        @ParameterizedTest(name = "literal data {0}")
        @ValueSource(strings = {"true", "false", "null"})
        @DisplayName("section 5: true, false and null data are kept (null data is a value, not missing)")
        void literalData(String data) {
            assertThat(((ClientFrame.MatchSignal)
                                    decode("{\"type\":\"match.signal\",\"match\":\"m\",\"data\":" + data + "}"))
                            .data())
                    .isEqualTo(data);
        }
    }

    // ---------------------------------------------------------------- bad_request

    @Nested
    @DisplayName("section 1 and 4: invalid frames are bad_request naming the problem")
    class BadRequest {

        @ParameterizedTest(name = "[{index}] {0}")
        @ValueSource(
                strings = {
                    "{",
                    "{\"type\":\"ping\"",
                    "{\"type\":\"ping\",}",
                    "{\"type\":ping}",
                    "{'type':'ping'}",
                    "{type:\"ping\"}",
                    "{\"type\" \"ping\"}",
                    "{\"type\":\"publish\",\"channel\":\"public:x\",\"data\":{\"a\":}}",
                    "{\"type\":\"publish\",\"channel\":\"public:x\",\"data\":[1,2}",
                    "{\"type\":\"publish\",\"channel\":\"public:x\",\"data\":NaN}",
                    "not json"
                })
        @DisplayName("section 1: malformed JSON")
        void malformed(String text) {
            FrameDecodeException e = decodeFails(text);
            assertThat(e.code()).isEqualTo(ErrorCodes.BAD_REQUEST);
            assertThat(e.getMessage()).isNotBlank();
            assertThat(e.id()).isNull();
        }

        @ParameterizedTest(name = "[{index}] {0}")
        @ValueSource(
                strings = {
                    "{\"type\":\"ping\"} x",
                    "{\"type\":\"ping\"}}",
                    "{\"type\":\"ping\"}]",
                    "{\"type\":\"ping\"}{}",
                    "{\"type\":\"ping\"}{\"type\":\"ping\"}",
                    "{\"type\":\"ping\"} 1",
                    "{\"type\":\"ping\"}\"s\"",
                    "{\"type\":\"ping\",\"id\":5} null"
                })
        @DisplayName("section 1: trailing text after the one JSON object")
        void trailingGarbage(String text) {
            FrameDecodeException e = decodeFails(text);
            assertThat(e.code()).isEqualTo(ErrorCodes.BAD_REQUEST);
            assertThat(e.getMessage()).isNotBlank();
        }

        @ParameterizedTest(name = "[{index}] <{0}>")
        @ValueSource(
                strings = {
                    "[]",
                    "[{\"type\":\"ping\"}]",
                    "\"ping\"",
                    "42",
                    "1.5",
                    "true",
                    "false",
                    "null",
                    "",
                    " ",
                    "\n\t "
                })
        @DisplayName("section 1: text that is not a JSON object (array, string, number, literal, empty)")
        void notAnObject(String text) {
            FrameDecodeException e = decodeFails(text);
            assertThat(e.code()).isEqualTo(ErrorCodes.BAD_REQUEST);
            assertThat(e.getMessage()).contains("object");
            assertThat(e.id()).isNull();
        }

        @Test
        @DisplayName("section 1: missing type, id carried when valid")
        void missingType() {
            assertBadRequest("{}", "'type'", null);
            assertBadRequest("{\"id\":7}", "'type'", 7L);
            assertBadRequest("{\"id\":7,\"channel\":\"public:x\",\"data\":{\"type\":\"ping\"}}", "'type'", 7L);
            assertBadRequest("{\"Type\":\"ping\"}", "'type'", null);
        }

        @ParameterizedTest(name = "type {0}")
        @ValueSource(strings = {"1", "1.5", "{\"name\":\"ping\"}", "[\"ping\"]", "null", "true"})
        @DisplayName("section 1: type that is not a string (number, object, array, null, boolean)")
        void nonStringType(String type) {
            assertBadRequest("{\"type\":" + type + "}", "'type'", null);
            assertBadRequest("{\"type\":" + type + ",\"id\":3}", "'type'", 3L);
        }

        @ParameterizedTest(name = "id {0}")
        @ValueSource(
                strings = {
                    "0",
                    "-1",
                    "9007199254740992",
                    "18446744073709551616",
                    "1.5",
                    "7.0",
                    "1e3",
                    "\"7\"",
                    "true",
                    "{}",
                    "[7]"
                })
        @DisplayName("section 4: id outside 1..2^53-1 or not an integer; exception id is null")
        void invalidId(String id) {
            assertBadRequest("{\"type\":\"ping\",\"id\":" + id + "}", "'id'", null);
            assertBadRequest("{\"type\":\"subscribe\",\"id\":" + id + ",\"channel\":\"public:x\"}", "'id'", null);
        }

        @Test
        @DisplayName("section 4: invalid id together with another wrong field still has a null exception id")
        void invalidIdAndWrongField() {
            assertThat(decodeFails("{\"type\":\"subscribe\",\"id\":-1,\"channel\":5}")
                            .id())
                    .isNull();
            assertThat(decodeFails("{\"type\":\"subscribe\",\"id\":0,\"channel\":\"bad name\"}")
                            .id())
                    .isNull();
            assertThat(decodeFails("{\"type\":\"publish\",\"id\":\"2\",\"channel\":\"public:x\"}")
                            .id())
                    .isNull();
        }

        @ParameterizedTest(name = "channel {0}")
        @ValueSource(strings = {"5", "true", "{}", "[\"public:x\"]"})
        @DisplayName("section 5: channel that is not a string, exception carries the valid id")
        void channelNotString(String channel) {
            assertBadRequest("{\"type\":\"subscribe\",\"id\":11,\"channel\":" + channel + "}", "'channel'", 11L);
            assertBadRequest("{\"type\":\"unsubscribe\",\"id\":12,\"channel\":" + channel + "}", "'channel'", 12L);
            assertBadRequest(
                    "{\"type\":\"publish\",\"id\":13,\"channel\":" + channel + ",\"data\":1}", "'channel'", 13L);
        }

        @Test
        @DisplayName("section 5: missing channel")
        void missingChannel() {
            assertBadRequest("{\"type\":\"subscribe\",\"id\":1}", "'channel'", 1L);
            assertBadRequest("{\"type\":\"subscribe\",\"id\":1,\"channel\":null}", "'channel'", 1L);
            assertBadRequest("{\"type\":\"unsubscribe\"}", "'channel'", null);
            assertBadRequest("{\"type\":\"publish\",\"id\":2,\"data\":{}}", "'channel'", 2L);
        }

        static Stream<Arguments> invalidChannels() {
            return Stream.of(
                    Arguments.of("empty", ""),
                    Arguments.of("129 chars", repeat('a', 129)),
                    Arguments.of("space", "public:a b"),
                    Arguments.of("slash", "public/lobby"),
                    Arguments.of("unicode", "public:caf\u00e9"),
                    Arguments.of("escaped unicode", "public:caf\\u00e9"),
                    Arguments.of("emoji", "public:\ud83d\ude00"),
                    Arguments.of("asterisk", "public:*"),
                    Arguments.of("hash", "room#1"),
                    Arguments.of("tab", "a\\tb"),
                    Arguments.of("newline", "a\\nb"),
                    Arguments.of("nul", "a\\u0000"),
                    Arguments.of("plus", "a+b"));
        }

        @ParameterizedTest(name = "{0}")
        @MethodSource("invalidChannels")
        @DisplayName("section 5: invalid channel names are bad_request naming 'channel', with the id")
        void invalidChannel(String what, String channelJson) {
            assertBadRequest(
                    "{\"type\":\"subscribe\",\"id\":21,\"channel\":\"" + channelJson + "\"}", "'channel'", 21L);
            assertBadRequest("{\"type\":\"unsubscribe\",\"channel\":\"" + channelJson + "\"}", "'channel'", null);
            assertBadRequest(
                    "{\"type\":\"publish\",\"id\":22,\"channel\":\"" + channelJson + "\",\"data\":{}}",
                    "'channel'",
                    22L);
        }

        @ParameterizedTest(name = "since {0}")
        @ValueSource(
                strings = {
                    "5",
                    "\"a1b2:17\"",
                    "[17,\"a1b2\"]",
                    "true",
                    "{}",
                    "{\"offset\":17}",
                    "{\"epoch\":\"a1b2\"}",
                    "{\"offset\":-1,\"epoch\":\"a1b2\"}",
                    "{\"offset\":1.5,\"epoch\":\"a1b2\"}",
                    "{\"offset\":\"17\",\"epoch\":\"a1b2\"}",
                    "{\"offset\":17,\"epoch\":5}",
                    "{\"offset\":17,\"epoch\":null}",
                    "{\"offset\":null,\"epoch\":\"a\"}",
                    "{\"offset\":18446744073709551616,\"epoch\":\"a\"}"
                })
        @DisplayName("section 5: since not {offset: integer >= 0, epoch: string}")
        void badSince(String since) {
            assertBadRequest(
                    "{\"type\":\"subscribe\",\"id\":31,\"channel\":\"public:x\",\"since\":" + since + "}",
                    "'since'",
                    31L);
        }

        @ParameterizedTest(name = "inboxSince {0}")
        @ValueSource(
                strings = {
                    "5",
                    "{}",
                    "{\"offset\":-1,\"epoch\":\"e\"}",
                    "{\"offset\":2.5,\"epoch\":\"e\"}",
                    "{\"offset\":1,\"epoch\":1}"
                })
        @DisplayName("section 2: hello inboxSince not a stream position")
        void badInboxSince(String since) {
            assertBadRequest("{\"type\":\"hello\",\"v\":1,\"inboxSince\":" + since + "}", "'inboxSince'", null);
        }

        @ParameterizedTest(name = "v {0}")
        @ValueSource(strings = {"1.5", "1.0", "\"1\"", "true", "null", "{}", "[1]", "4294967296"})
        @DisplayName("section 2: hello v not an integer")
        void badVersion(String v) {
            assertBadRequest("{\"type\":\"hello\",\"v\":" + v + "}", "'v'", null);
        }

        @Test
        @DisplayName("section 2: hello without v")
        void missingVersion() {
            assertBadRequest("{\"type\":\"hello\"}", "'v'", null);
            assertBadRequest("{\"type\":\"hello\",\"token\":\"t\"}", "'v'", null);
        }

        @Test
        @DisplayName("section 2: hello token, resume, client not strings")
        void helloStringFields() {
            assertBadRequest("{\"type\":\"hello\",\"v\":1,\"token\":5}", "'token'", null);
            assertBadRequest("{\"type\":\"hello\",\"v\":1,\"resume\":{}}", "'resume'", null);
            assertBadRequest("{\"type\":\"hello\",\"v\":1,\"client\":[\"js\"]}", "'client'", null);
        }

        @ParameterizedTest(name = "interests {0}")
        @ValueSource(
                strings = {
                    "\"music\"",
                    "5",
                    "{\"music\":true}",
                    "[\"music\",5]",
                    "[null]",
                    "[[\"music\"]]",
                    "[{}]",
                    "true"
                })
        @DisplayName("section 6: interests not an array of strings")
        void badInterests(String interests) {
            assertBadRequest("{\"type\":\"match.join\",\"id\":41,\"interests\":" + interests + "}", "'interests'", 41L);
        }

        @Test
        @DisplayName("section 5: publish and send without data")
        void missingData() {
            assertBadRequest("{\"type\":\"publish\",\"id\":51,\"channel\":\"public:x\"}", "'data'", 51L);
            assertBadRequest("{\"type\":\"publish\",\"channel\":\"public:x\"}", "'data'", null);
            assertBadRequest("{\"type\":\"send\",\"id\":52,\"to\":\"u_bob\"}", "'data'", 52L);
            assertBadRequest("{\"type\":\"publish\",\"id\":53,\"channel\":\"public:x\",\"Data\":{}}", "'data'", 53L);
        }

        @Test
        @DisplayName("section 6: match.signal without match or data, or match not a string")
        void badMatchSignal() {
            assertBadRequest("{\"type\":\"match.signal\",\"id\":61,\"data\":{}}", "'match'", 61L);
            assertBadRequest("{\"type\":\"match.signal\",\"id\":62,\"match\":\"m_x1\"}", "'data'", 62L);
            assertBadRequest("{\"type\":\"match.signal\",\"id\":63,\"match\":1,\"data\":{}}", "'match'", 63L);
        }

        @Test
        @DisplayName("section 5: send 'to' missing, not a string, empty or too long")
        void badSendTo() {
            assertBadRequest("{\"type\":\"send\",\"id\":71,\"data\":{}}", "'to'", 71L);
            assertBadRequest("{\"type\":\"send\",\"id\":72,\"to\":5,\"data\":{}}", "'to'", 72L);
            assertBadRequest("{\"type\":\"send\",\"id\":73,\"to\":\"\",\"data\":{}}", "'to'", 73L);
            assertBadRequest(
                    "{\"type\":\"send\",\"id\":74,\"to\":\"" + repeat('u', 124) + "\",\"data\":{}}", "'to'", 74L);
        }

        @Test
        @DisplayName("section 6: block 'user' missing, not a string, or empty")
        void badBlockUser() {
            assertBadRequest("{\"type\":\"block\",\"id\":81}", "'user'", 81L);
            assertBadRequest("{\"type\":\"block\",\"id\":82,\"user\":[]}", "'user'", 82L);
            assertBadRequest("{\"type\":\"block\",\"id\":83,\"user\":\"\"}", "'user'", 83L);
        }

        @Test
        @DisplayName("section 1: nesting deeper than the codec allows is bad_request, not a crash")
        void tooDeep() {
            String deep = "[".repeat(200) + "]".repeat(200);
            FrameDecodeException e =
                    decodeFails("{\"type\":\"publish\",\"channel\":\"public:x\",\"data\":" + deep + "}");
            assertThat(e.code()).isEqualTo(ErrorCodes.BAD_REQUEST);
            e = decodeFails("{\"type\":\"ping\",\"x\":" + deep + "}");
            assertThat(e.code()).isEqualTo(ErrorCodes.BAD_REQUEST);
        }
    }

    // ---------------------------------------------------------------- unknown_type

    @Nested
    @DisplayName("section 1: unknown type is unknown_type")
    class UnknownType {

        @ParameterizedTest(name = "type {0}")
        @ValueSource(
                strings = {
                    "nope",
                    "",
                    "ping",
                    "Ping",
                    "PUBLISH",
                    "welcome",
                    "ack",
                    "message",
                    "match.found",
                    "match",
                    "match.join ",
                    "hello2"
                })
        @DisplayName("section 1: unknown types without id")
        void withoutId(String type) {
            FrameDecodeException e = decodeFails("{\"type\":\"" + type + "\"}");
            assertThat(e.code()).isEqualTo(ErrorCodes.UNKNOWN_TYPE);
            assertThat(e.id()).isNull();
            assertThat(e.getMessage()).contains(type);
        }

        @Test
        @DisplayName("section 1 and 4: unknown type carries the id when present")
        void withId() {
            FrameDecodeException e = decodeFails("{\"type\":\"frobnicate\",\"id\":9,\"whatever\":[1,2]}");
            assertThat(e.code()).isEqualTo(ErrorCodes.UNKNOWN_TYPE);
            assertThat(e.id()).isEqualTo(9L);
            assertThat(e.getMessage()).contains("frobnicate");
            e = decodeFails("{\"id\":9007199254740991,\"type\":\"x\"}");
            assertThat(e.code()).isEqualTo(ErrorCodes.UNKNOWN_TYPE);
            assertThat(e.id()).isEqualTo(Limits.MAX_ID);
        }

        @Test
        @DisplayName("section 1: a very long unknown type is truncated in the message")
        void longTypeTruncated() {
            String type = repeat('t', 10_000);
            FrameDecodeException e = decodeFails("{\"type\":\"" + type + "\"}");
            assertThat(e.code()).isEqualTo(ErrorCodes.UNKNOWN_TYPE);
            assertThat(e.getMessage().length()).isLessThan(200);
        }

        @Test
        @DisplayName("section 1: decodeServer also reports unknown_type")
        void serverSide() throws Exception {
            try {
                FrameCodec.decodeServer("{\"type\":\"subscribe\",\"channel\":\"public:x\"}");
                fail("expected unknown_type");
            } catch (FrameDecodeException e) {
                assertThat(e.code()).isEqualTo(ErrorCodes.UNKNOWN_TYPE);
            }
        }
    }

    // ---------------------------------------------------------------- forward compatibility

    @Nested
    @DisplayName("section 1: unknown extra fields are ignored")
    class ForwardCompatibility {

        @Test
        @DisplayName("section 1: scalar unknown fields ignored on every frame type")
        void scalarExtras() {
            String extra = ",\"x\":1,\"y\":\"s\",\"z\":null,\"w\":true,\"big\":123456789012345678901234567890,"
                    + "\"f\":1e400";
            assertThat(decode("{\"type\":\"hello\",\"v\":1" + extra + "}"))
                    .isEqualTo(new ClientFrame.Hello(1, null, null, null, null));
            assertThat(decode("{\"type\":\"pong\"" + extra + "}")).isEqualTo(new ClientFrame.Pong());
            assertThat(decode("{\"type\":\"subscribe\",\"channel\":\"public:a\"" + extra + "}"))
                    .isEqualTo(new ClientFrame.Subscribe(null, "public:a", null));
            assertThat(decode("{\"type\":\"unsubscribe\",\"channel\":\"public:a\"" + extra + "}"))
                    .isEqualTo(new ClientFrame.Unsubscribe(null, "public:a"));
            assertThat(decode("{\"type\":\"publish\",\"channel\":\"public:a\",\"data\":[]" + extra + "}"))
                    .isEqualTo(new ClientFrame.Publish(null, "public:a", "[]"));
            assertThat(decode("{\"type\":\"send\",\"to\":\"u\",\"data\":{}" + extra + "}"))
                    .isEqualTo(new ClientFrame.Send(null, "u", "{}"));
            assertThat(decode("{\"type\":\"match.join\"" + extra + "}"))
                    .isEqualTo(new ClientFrame.MatchJoin(null, List.of()));
            assertThat(decode("{\"type\":\"match.signal\",\"match\":\"m\",\"data\":1" + extra + "}"))
                    .isEqualTo(new ClientFrame.MatchSignal(null, "m", "1"));
            assertThat(decode("{\"type\":\"match.next\"" + extra + "}")).isEqualTo(new ClientFrame.MatchNext(null));
            assertThat(decode("{\"type\":\"match.leave\"" + extra + "}")).isEqualTo(new ClientFrame.MatchLeave(null));
            assertThat(decode("{\"type\":\"block\",\"user\":\"u\"" + extra + "}"))
                    .isEqualTo(new ClientFrame.Block(null, "u"));
        }

        @Test
        @DisplayName("section 1: large and nested unknown fields, before and after known ones, are ignored")
        void largeNestedExtras() {
            StringBuilder big = new StringBuilder("[");
            for (int i = 0; i < 5000; i++) {
                big.append(i == 0 ? "" : ",").append("{\"k\":").append(i).append(",\"type\":\"x\",\"id\":-1}");
            }
            big.append("]");
            String nested = "{\"a\":".repeat(40) + "{\"type\":\"unknown\",\"data\":{\"id\":0}}" + "}".repeat(40);
            String frame = "{\"meta\":" + nested + ",\"type\":\"publish\",\"list\":" + big + ",\"id\":5,"
                    + "\"channel\":\"public:a\",\"data\":{\"v\":1},\"trace\":" + nested + "}";
            assertThat(decode(frame)).isEqualTo(new ClientFrame.Publish(5L, "public:a", "{\"v\":1}"));
        }

        @Test
        @DisplayName("section 1: a data field on a frame that has no data is ignored")
        void dataOnFrameWithoutData() {
            assertThat(decode("{\"type\":\"match.next\",\"id\":3,\"data\":{\"x\":1}}"))
                    .isEqualTo(new ClientFrame.MatchNext(3L));
            assertThat(decode("{\"type\":\"subscribe\",\"channel\":\"public:a\",\"data\":\"x\"}"))
                    .isEqualTo(new ClientFrame.Subscribe(null, "public:a", null));
        }

        @Test
        @DisplayName("section 1: unknown fields inside since are ignored")
        void extrasInsideSince() {
            assertThat(decode("{\"type\":\"subscribe\",\"channel\":\"public:a\",\"since\":{\"offset\":3,"
                            + "\"epoch\":\"e\",\"future\":[1]}}"))
                    .isEqualTo(new ClientFrame.Subscribe(null, "public:a", new StreamPosition(3, "e")));
        }

        @Test
        @DisplayName("section 1: unknown fields are ignored by decodeServer too")
        void serverExtras() {
            assertThat(decodeServer("{\"type\":\"ack\",\"id\":3,\"future\":{\"x\":[1,2]}}"))
                    .isEqualTo(ServerFrame.Ack.of(3));
        }
    }

    // ---------------------------------------------------------------- encode(ServerFrame)

    @Nested
    @DisplayName("encode(ServerFrame) produces the docs/protocol.md shapes")
    class EncodeServer {

        static Stream<Arguments> examples() {
            return Stream.of(
                    Arguments.of(
                            "section 2: welcome",
                            new ServerFrame.Welcome(
                                    "s_8fK2",
                                    "g_Qm3v",
                                    true,
                                    "<opaque signed token>",
                                    false,
                                    false,
                                    new StreamPosition(0, "k2x9"),
                                    25000,
                                    10000,
                                    Limits.DEFAULTS,
                                    "gw-1"),
                            "{\"type\":\"welcome\",\"session\":\"s_8fK2\",\"user\":\"g_Qm3v\",\"guest\":true,"
                                    + "\"resume\":\"<opaque signed token>\",\"resumed\":false,\"recovered\":false,"
                                    + "\"inbox\":{\"offset\":0,\"epoch\":\"k2x9\"},"
                                    + "\"ping\":{\"interval\":25000,\"timeout\":10000},"
                                    + "\"limits\":{\"maxFrame\":65536,\"rate\":100,\"burst\":200,"
                                    + "\"maxSubscriptions\":1000},\"node\":\"gw-1\"}"),
                    Arguments.of(
                            "section 2: welcome without resume, inbox, node",
                            new ServerFrame.Welcome(
                                    "s", "u_1", false, null, true, true, null, 1, 2, new Limits(1, 2, 3, 4), null),
                            "{\"type\":\"welcome\",\"session\":\"s\",\"user\":\"u_1\",\"guest\":false,"
                                    + "\"resumed\":true,\"recovered\":true,\"ping\":{\"interval\":1,\"timeout\":2},"
                                    + "\"limits\":{\"maxFrame\":1,\"rate\":2,\"burst\":3,\"maxSubscriptions\":4}}"),
                    Arguments.of("section 3: ping", new ServerFrame.Ping(), "{\"type\":\"ping\"}"),
                    Arguments.of(
                            "section 5: subscribe ack",
                            new ServerFrame.Ack(1, "public:lobby", 20L, "a1b2", true, null, null),
                            "{\"type\":\"ack\",\"id\":1,\"channel\":\"public:lobby\",\"offset\":20,\"epoch\":\"a1b2\","
                                    + "\"recovered\":true}"),
                    Arguments.of(
                            "section 5: subscribe ack offset 0 not recovered",
                            new ServerFrame.Ack(1, "public:lobby", 0L, "a1b2", false, null, null),
                            "{\"type\":\"ack\",\"id\":1,\"channel\":\"public:lobby\",\"offset\":0,\"epoch\":\"a1b2\","
                                    + "\"recovered\":false}"),
                    Arguments.of(
                            "section 5: publish ack",
                            new ServerFrame.Ack(2, null, 21L, "a1b2", null, null, null),
                            "{\"type\":\"ack\",\"id\":2,\"offset\":21,\"epoch\":\"a1b2\"}"),
                    Arguments.of("section 5: plain ack", ServerFrame.Ack.of(3), "{\"type\":\"ack\",\"id\":3}"),
                    Arguments.of(
                            "section 5: send ack",
                            new ServerFrame.Ack(4, null, null, null, null, true, null),
                            "{\"type\":\"ack\",\"id\":4,\"delivered\":true}"),
                    Arguments.of(
                            "section 5: send ack not delivered",
                            new ServerFrame.Ack(4, null, null, null, null, false, null),
                            "{\"type\":\"ack\",\"id\":4,\"delivered\":false}"),
                    Arguments.of(
                            "section 6: match.join ack",
                            new ServerFrame.Ack(5, null, null, null, null, null, true),
                            "{\"type\":\"ack\",\"id\":5,\"queued\":true}"),
                    Arguments.of(
                            "section 4: ack with largest id",
                            ServerFrame.Ack.of(Limits.MAX_ID),
                            "{\"type\":\"ack\",\"id\":9007199254740991}"),
                    Arguments.of(
                            "section 4: error with id",
                            ServerFrame.Error.of(7L, "forbidden", "cannot publish to room:1"),
                            "{\"type\":\"error\",\"id\":7,\"code\":\"forbidden\","
                                    + "\"message\":\"cannot publish to room:1\"}"),
                    Arguments.of(
                            "section 2: session_replaced error",
                            ServerFrame.Error.of(null, ErrorCodes.SESSION_REPLACED, null),
                            "{\"type\":\"error\",\"code\":\"session_replaced\"}"),
                    Arguments.of(
                            "section 4 and 7: rate_limited carries retryAfter",
                            new ServerFrame.Error(8L, ErrorCodes.RATE_LIMITED, "slow down", 250L),
                            "{\"type\":\"error\",\"id\":8,\"code\":\"rate_limited\",\"message\":\"slow down\","
                                    + "\"retryAfter\":250}"),
                    Arguments.of(
                            "section 4: unavailable carries retryAfter without id",
                            new ServerFrame.Error(null, ErrorCodes.UNAVAILABLE, null, 1000L),
                            "{\"type\":\"error\",\"code\":\"unavailable\",\"retryAfter\":1000}"),
                    Arguments.of(
                            "section 5: message",
                            new ServerFrame.Message("public:lobby", 21, "a1b2", "g_Qm3v", "{\"text\":\"hi\"}"),
                            "{\"type\":\"message\",\"channel\":\"public:lobby\",\"offset\":21,\"epoch\":\"a1b2\","
                                    + "\"from\":\"g_Qm3v\",\"data\":{\"text\":\"hi\"}}"),
                    Arguments.of(
                            "section 5: message from the HTTP API has no from",
                            new ServerFrame.Message("public:lobby", 22, "a1b2", null, "[1,2]"),
                            "{\"type\":\"message\",\"channel\":\"public:lobby\",\"offset\":22,\"epoch\":\"a1b2\","
                                    + "\"data\":[1,2]}"),
                    Arguments.of(
                            "section 5: direct",
                            new ServerFrame.Direct("u_alice", "{\"text\":\"psst\"}", 3, "k2x9"),
                            "{\"type\":\"direct\",\"from\":\"u_alice\",\"data\":{\"text\":\"psst\"},\"offset\":3,"
                                    + "\"epoch\":\"k2x9\"}"),
                    Arguments.of(
                            "section 5: direct from the HTTP API has no from",
                            new ServerFrame.Direct(null, "\"psst\"", 4, "k2x9"),
                            "{\"type\":\"direct\",\"data\":\"psst\",\"offset\":4,\"epoch\":\"k2x9\"}"),
                    Arguments.of(
                            "section 6: match.found",
                            new ServerFrame.MatchFound("m_x1", "u_bob", true, List.of("music"), 4, "k2x9"),
                            "{\"type\":\"match.found\",\"match\":\"m_x1\",\"partner\":\"u_bob\",\"initiator\":true,"
                                    + "\"interests\":[\"music\"],\"offset\":4,\"epoch\":\"k2x9\"}"),
                    Arguments.of(
                            "section 6: match.found with no shared interests",
                            new ServerFrame.MatchFound("m_x1", "u_alice", false, List.of(), 5, "q7"),
                            "{\"type\":\"match.found\",\"match\":\"m_x1\",\"partner\":\"u_alice\","
                                    + "\"initiator\":false,\"interests\":[],\"offset\":5,\"epoch\":\"q7\"}"),
                    Arguments.of(
                            "section 6: match.signal",
                            new ServerFrame.MatchSignal("m_x1", "u_alice", "{\"sdp\":\"...\"}", 9, "q7"),
                            "{\"type\":\"match.signal\",\"match\":\"m_x1\",\"from\":\"u_alice\","
                                    + "\"data\":{\"sdp\":\"...\"},\"offset\":9,\"epoch\":\"q7\"}"),
                    Arguments.of(
                            "section 6: match.ended",
                            new ServerFrame.MatchEnded("m_x1", "next", 10, "q7"),
                            "{\"type\":\"match.ended\",\"match\":\"m_x1\",\"reason\":\"next\",\"offset\":10,"
                                    + "\"epoch\":\"q7\"}"),
                    Arguments.of(
                            "section 6: match.partner reconnecting",
                            new ServerFrame.MatchPartner("m_x1", "reconnecting"),
                            "{\"type\":\"match.partner\",\"match\":\"m_x1\",\"state\":\"reconnecting\"}"),
                    Arguments.of(
                            "section 6: match.partner back",
                            new ServerFrame.MatchPartner("m_x1", "back"),
                            "{\"type\":\"match.partner\",\"match\":\"m_x1\",\"state\":\"back\"}"));
        }

        @ParameterizedTest(name = "{0}")
        @MethodSource("examples")
        @DisplayName("encode gives exactly the example JSON (tree equality), optional fields omitted")
        void encodesExample(String what, ServerFrame frame, String expected) {
            String json = FrameCodec.encode(frame);
            assertSameJson(json, expected);
            assertThat(tree(json).get("type").textValue()).isEqualTo(frame.type());
            // the type comes first, so readers can dispatch early
            assertThat(json).startsWith("{\"type\":\"" + frame.type() + "\"");
        }

        @ParameterizedTest(name = "{0}")
        @MethodSource("examples")
        @DisplayName("encodeUtf8 equals encode as UTF-8 bytes")
        void utf8MatchesExample(String what, ServerFrame frame, String expected) {
            assertThat(FrameCodec.encodeUtf8(frame))
                    .isEqualTo(FrameCodec.encode(frame).getBytes(StandardCharsets.UTF_8));
        }

        @Test
        @DisplayName("encodeUtf8 equals encode as UTF-8 bytes with non-ASCII text and data")
        void utf8NonAscii() {
            List<ServerFrame> frames = List.of(
                    new ServerFrame.Message("public:x", 1, "\u00e9poch", "\u00fcser", "{\"t\":\"caf\u00e9 \u4e2d\"}"),
                    new ServerFrame.Direct("u", "\"\u00e9\ud83d\ude00\"", 2, "e"),
                    new ServerFrame.MatchSignal("m", "u", "[\"\ud83d\ude00\",\"\\ud83d\\ude00\"]", 3, "e"),
                    ServerFrame.Error.of(1L, "bad_request", "field 'channel': caf\u00e9 \"quoted\" \\ \n"));
            for (ServerFrame f : frames) {
                assertThat(FrameCodec.encodeUtf8(f))
                        .as("%s", f)
                        .isEqualTo(FrameCodec.encode(f).getBytes(StandardCharsets.UTF_8));
            }
        }

        @Test
        @DisplayName("encodeUtf8 with characters outside the BMP in string fields is equivalent JSON")
        void utf8SupplementaryInStrings() {
            ServerFrame f = ServerFrame.Error.of(1L, "bad_request", "emoji \ud83d\ude00");
            String fromBytes = new String(FrameCodec.encodeUtf8(f), StandardCharsets.UTF_8);
            assertSameJson(fromBytes, FrameCodec.encode(f));
            assertThat(tree(fromBytes).get("message").textValue()).isEqualTo("emoji \ud83d\ude00");
        }

        static Stream<String> rawData() {
            return Stream.concat(
                    RawData.objectsAndArrays(),
                    Stream.of(
                            "\"s\"",
                            "\"\\u00e9\"",
                            "123456789012345678901234567890",
                            "1.0",
                            "1e400",
                            "true",
                            "false",
                            "null",
                            "-0"));
        }

        @ParameterizedTest(name = "data {0}")
        @MethodSource("rawData")
        @DisplayName("section 5: data is emitted verbatim in message, direct and match.signal")
        void rawDataVerbatim(String data) {
            assertThat(FrameCodec.encode(new ServerFrame.Message("public:x", 1, "e", "u", data)))
                    .isEqualTo("{\"type\":\"message\",\"channel\":\"public:x\",\"offset\":1,\"epoch\":\"e\","
                            + "\"from\":\"u\",\"data\":" + data + "}");
            assertThat(FrameCodec.encode(new ServerFrame.Direct("u", data, 2, "e")))
                    .isEqualTo(
                            "{\"type\":\"direct\",\"from\":\"u\",\"data\":" + data + ",\"offset\":2,\"epoch\":\"e\"}");
            assertThat(FrameCodec.encode(new ServerFrame.MatchSignal("m", "u", data, 3, "e")))
                    .contains("\"data\":" + data + ",");
            assertThat(new String(
                            FrameCodec.encodeUtf8(new ServerFrame.Message("public:x", 1, "e", "u", data)),
                            StandardCharsets.UTF_8))
                    .endsWith("\"data\":" + data + "}");
        }

        @Test
        @DisplayName("section 5: data decoded from a client publish is relayed byte for byte in the message")
        void relayByteForByte() {
            String data = "{ \"n\": 123456789012345678901234567890, \"f\": 1.0, \"e\": 1e400, \"s\": \"\\u00e9\" }";
            ClientFrame.Publish p = (ClientFrame.Publish)
                    decode("{\"type\":\"publish\",\"id\":1,\"channel\":\"public:x\",\"data\":" + data + "}");
            String out = FrameCodec.encode(new ServerFrame.Message(p.channel(), 1, "e", "u", p.data()));
            assertThat(out).contains("\"data\":" + data);
        }

        @Test
        @DisplayName("string fields are escaped as JSON")
        void escaping() {
            String msg = "quote \" backslash \\ newline \n tab \t ctrl \u0001 </script>";
            String json = FrameCodec.encode(ServerFrame.Error.of(1L, "bad_request", msg));
            assertThat(tree(json).get("message").textValue()).isEqualTo(msg);
            assertThat(json).doesNotContain("\n");
        }
    }

    // ---------------------------------------------------------------- round trips

    @Nested
    @DisplayName("round trips")
    class RoundTrips {

        static Stream<ClientFrame> clientFrames() {
            return Stream.of(
                    new ClientFrame.Hello(1, "a.b.c", "r", new StreamPosition(41, "k2x9"), "switchboard-js/1.0"),
                    new ClientFrame.Hello(1, null, null, null, null),
                    new ClientFrame.Hello(1, "tok", null, null, "java"),
                    new ClientFrame.Hello(1, null, "r", new StreamPosition(0, "e"), null),
                    new ClientFrame.Pong(),
                    new ClientFrame.MatchNext(Limits.MAX_ID),
                    new ClientFrame.Subscribe(1L, "public:lobby", new StreamPosition(17, "a1b2")),
                    new ClientFrame.Subscribe(null, "public:lobby", null),
                    new ClientFrame.Subscribe(2L, repeat('z', 128), new StreamPosition(Long.MAX_VALUE, "")),
                    new ClientFrame.Unsubscribe(3L, "public:lobby"),
                    new ClientFrame.Unsubscribe(null, "AZaz09_-.:@"),
                    new ClientFrame.Publish(2L, "public:lobby", "{\"text\":\"hi\"}"),
                    new ClientFrame.Publish(null, "public:lobby", "[1, 2.0, 1e400, 123456789012345678901234567890]"),
                    new ClientFrame.Publish(6L, "public:lobby", "{ \"s\" : \"\\u00e9\u00e9\ud83d\ude00\" }"),
                    new ClientFrame.Publish(7L, "public:x", "\"hi\""),
                    new ClientFrame.Publish(8L, "public:x", "42"),
                    new ClientFrame.Publish(9L, "public:x", "null"),
                    new ClientFrame.Send(4L, "u_bob", "{\"text\":\"psst\"}"),
                    new ClientFrame.Send(null, "u_bob", "true"),
                    new ClientFrame.MatchJoin(5L, List.of("music", "chess")),
                    new ClientFrame.MatchJoin(5L, List.of()),
                    new ClientFrame.MatchJoin(null, null),
                    new ClientFrame.MatchSignal(6L, "m_x1", "{\"sdp\":\"v=0\\r\\n...\"}"),
                    new ClientFrame.MatchSignal(null, "m_x1", "[]"),
                    new ClientFrame.MatchNext(7L),
                    new ClientFrame.MatchNext(null),
                    new ClientFrame.MatchLeave(8L),
                    new ClientFrame.MatchLeave(null),
                    new ClientFrame.Block(9L, "u_bob"),
                    new ClientFrame.Block(null, "u_\u00e9"),
                    new ClientFrame.Subscribe(10L, "public:lobby", null, true, true),
                    new ClientFrame.Subscribe(11L, "public:lobby", new StreamPosition(3, "e"), true, false),
                    new ClientFrame.Subscribe(null, "public:lobby", null, false, true),
                    new ClientFrame.Presence(12L, "public:lobby"),
                    new ClientFrame.PresenceCount(null, "public:lobby"),
                    new ClientFrame.MatchStats(13L),
                    new ClientFrame.Rpc(14L, "report", "{\"reason\":\"spam\"}"),
                    new ClientFrame.Rpc(null, "A-z_0.9:x", "null"));
        }

        @ParameterizedTest(name = "{0}")
        @MethodSource("clientFrames")
        @DisplayName("encode(ClientFrame) then decodeClient gives an equal record")
        void clientRoundTrip(ClientFrame frame) {
            String json = FrameCodec.encode(frame);
            assertThat(tree(json).get("type").textValue()).isEqualTo(frame.type());
            assertThat(decode(json)).isEqualTo(frame);
        }

        @Test
        @DisplayName("section 2 and 5: encode(ClientFrame) matches the docs/protocol.md examples")
        void clientExamples() {
            assertSameJson(
                    FrameCodec.encode(
                            new ClientFrame.Hello(1, "t", "r", new StreamPosition(41, "k2x9"), "switchboard-js/1.0")),
                    "{\"type\":\"hello\",\"v\":1,\"token\":\"t\",\"resume\":\"r\","
                            + "\"inboxSince\":{\"offset\":41,\"epoch\":\"k2x9\"},\"client\":\"switchboard-js/1.0\"}");
            assertSameJson(
                    FrameCodec.encode(new ClientFrame.Hello(1, null, null, null, null)),
                    "{\"type\":\"hello\",\"v\":1}");
            assertSameJson(FrameCodec.encode(new ClientFrame.Pong()), "{\"type\":\"pong\"}");
            assertSameJson(
                    FrameCodec.encode(new ClientFrame.Subscribe(1L, "public:lobby", new StreamPosition(17, "a1b2"))),
                    "{\"type\":\"subscribe\",\"id\":1,\"channel\":\"public:lobby\","
                            + "\"since\":{\"offset\":17,\"epoch\":\"a1b2\"}}");
            assertSameJson(
                    FrameCodec.encode(new ClientFrame.Publish(2L, "public:lobby", "{\"text\":\"hi\"}")),
                    "{\"type\":\"publish\",\"id\":2,\"channel\":\"public:lobby\",\"data\":{\"text\":\"hi\"}}");
            assertSameJson(
                    FrameCodec.encode(new ClientFrame.Unsubscribe(3L, "public:lobby")),
                    "{\"type\":\"unsubscribe\",\"id\":3,\"channel\":\"public:lobby\"}");
            assertSameJson(
                    FrameCodec.encode(new ClientFrame.Send(4L, "u_bob", "{\"text\":\"psst\"}")),
                    "{\"type\":\"send\",\"id\":4,\"to\":\"u_bob\",\"data\":{\"text\":\"psst\"}}");
            assertSameJson(
                    FrameCodec.encode(new ClientFrame.MatchJoin(5L, List.of("music", "chess"))),
                    "{\"type\":\"match.join\",\"id\":5,\"interests\":[\"music\",\"chess\"]}");
            assertSameJson(
                    FrameCodec.encode(new ClientFrame.MatchJoin(5L, List.of())), "{\"type\":\"match.join\",\"id\":5}");
            assertSameJson(
                    FrameCodec.encode(new ClientFrame.MatchSignal(6L, "m_x1", "{\"sdp\":\"...\"}")),
                    "{\"type\":\"match.signal\",\"id\":6,\"match\":\"m_x1\",\"data\":{\"sdp\":\"...\"}}");
            assertSameJson(FrameCodec.encode(new ClientFrame.MatchNext(7L)), "{\"type\":\"match.next\",\"id\":7}");
            assertSameJson(FrameCodec.encode(new ClientFrame.MatchLeave(8L)), "{\"type\":\"match.leave\",\"id\":8}");
            assertSameJson(
                    FrameCodec.encode(new ClientFrame.Block(9L, "u_bob")),
                    "{\"type\":\"block\",\"id\":9,\"user\":\"u_bob\"}");
        }

        static Stream<ServerFrame> serverFrames() {
            return Stream.concat(
                    EncodeServer.examples().map(a -> (ServerFrame) a.get()[1]),
                    Stream.of(
                            new ServerFrame.Welcome(
                                    "s",
                                    "u",
                                    true,
                                    "r",
                                    true,
                                    false,
                                    new StreamPosition(9, "x"),
                                    30000,
                                    5000,
                                    new Limits(1024, 5, 10, 3),
                                    "gw-2"),
                            new ServerFrame.Ack(Limits.MAX_ID, "public:x", Long.MAX_VALUE, "e", false, false, false),
                            new ServerFrame.Message("public:x", 1, "e", "u", "{ \"a\" : [1, 1.0, 1e400] }"),
                            new ServerFrame.Direct("u", "123456789012345678901234567890", 7, "e"),
                            new ServerFrame.MatchSignal("m", null, "{\"candidate\":\"\\u00e9\"}", 1, "e"),
                            new ServerFrame.MatchFound("m", "p", false, List.of("a", "b", "\u00e9"), 0, "e"),
                            new ServerFrame.Join("public:lobby", "u_ann", "{\"name\":\"Ann \u00e9\"}"),
                            new ServerFrame.Join("public:lobby", "g_Qm3v", "{}"),
                            new ServerFrame.Leave("public:lobby", "u_ann"),
                            new ServerFrame.PresenceAck(
                                    2,
                                    "public:lobby",
                                    2,
                                    List.of(
                                            new ServerFrame.PresentUser("g_Qm3v", "{}"),
                                            new ServerFrame.PresentUser("u_ann", "{\"name\":\"Ann\"}")),
                                    false),
                            new ServerFrame.PresenceAck(3, "public:lobby", 1001, List.of(), true),
                            new ServerFrame.PresenceAck(4, "public:lobby", 0, null, null),
                            new ServerFrame.StatsAck(5, 1234, 17),
                            new ServerFrame.RpcAck(9, "{\"ok\":true}"),
                            new ServerFrame.RpcAck(10, "[1,\"a\"]"),
                            new ServerFrame.Subscribed("room:1", 20, "a1b2")));
        }

        @ParameterizedTest(name = "{0}")
        @MethodSource("serverFrames")
        @DisplayName("encode(ServerFrame) then decodeServer gives an equal record")
        void serverRoundTrip(ServerFrame frame) {
            assertThat(decodeServer(FrameCodec.encode(frame))).isEqualTo(frame);
            assertThat(decodeServer(new String(FrameCodec.encodeUtf8(frame), StandardCharsets.UTF_8)))
                    .isEqualTo(frame);
        }

        @Test
        @DisplayName("section 2: decodeServer welcome reads ping interval/timeout and limits")
        void welcomeDecoding() {
            ServerFrame.Welcome w = (ServerFrame.Welcome) decodeServer("{\"type\":\"welcome\",\"session\":\"s_8fK2\","
                    + "\"user\":\"g_Qm3v\",\"guest\":true,\"resume\":\"tok\",\"resumed\":false,\"recovered\":false,"
                    + "\"inbox\":{\"offset\":0,\"epoch\":\"k2x9\"},\"ping\":{\"interval\":25000,\"timeout\":10000},"
                    + "\"limits\":{\"maxFrame\":65536,\"rate\":100,\"burst\":200,\"maxSubscriptions\":1000},"
                    + "\"node\":\"gw-1\"}");
            assertThat(w.session()).isEqualTo("s_8fK2");
            assertThat(w.user()).isEqualTo("g_Qm3v");
            assertThat(w.guest()).isTrue();
            assertThat(w.resume()).isEqualTo("tok");
            assertThat(w.resumed()).isFalse();
            assertThat(w.recovered()).isFalse();
            assertThat(w.inbox()).isEqualTo(new StreamPosition(0, "k2x9"));
            assertThat(w.pingInterval()).isEqualTo(25000L);
            assertThat(w.pingTimeout()).isEqualTo(10000L);
            assertThat(w.limits()).isEqualTo(Limits.DEFAULTS);
            assertThat(w.node()).isEqualTo("gw-1");
        }

        @Test
        @DisplayName("section 2: decodeServer welcome without limits uses the defaults; without ping gives 0")
        void welcomeDefaults() {
            ServerFrame.Welcome w =
                    (ServerFrame.Welcome) decodeServer("{\"type\":\"welcome\",\"session\":\"s\",\"user\":\"u\"}");
            assertThat(w.limits()).isEqualTo(Limits.DEFAULTS);
            assertThat(w.pingInterval()).isZero();
            assertThat(w.pingTimeout()).isZero();
            assertThat(w.guest()).isFalse();
            assertThat(w.inbox()).isNull();
            assertThat(w.resume()).isNull();
            assertThat(w.node()).isNull();
        }

        @Test
        @DisplayName("decodeServer rejects frames missing required fields with bad_request")
        void serverMissingFields() {
            for (String text : List.of(
                    "{\"type\":\"ack\"}",
                    "{\"type\":\"error\",\"id\":1}",
                    "{\"type\":\"message\",\"channel\":\"c\",\"offset\":1}",
                    "{\"type\":\"welcome\",\"session\":\"s\"}",
                    "[]",
                    "{\"type\":\"ack\",\"id\":1} x")) {
                try {
                    ServerFrame f = FrameCodec.decodeServer(text);
                    fail("expected bad_request for %s, got %s", text, f);
                } catch (FrameDecodeException e) {
                    assertThat(e.code()).as(text).isEqualTo(ErrorCodes.BAD_REQUEST);
                }
            }
        }
    }

    // ---------------------------------------------------------------- isJsonValue

    @Nested
    @DisplayName("section 9: isJsonValue (data given to the HTTP API)")
    class IsJsonValue {

        @ParameterizedTest(name = "<{0}>")
        @ValueSource(
                strings = {
                    "{}",
                    "[]",
                    "1",
                    "1e400",
                    "\"s\"",
                    "true",
                    "null",
                    " {\"a\":[1]} ",
                    "123456789012345678901234567890"
                })
        void valid(String text) {
            assertThat(FrameCodec.isJsonValue(text)).isTrue();
        }

        @ParameterizedTest(name = "<{0}>")
        @ValueSource(strings = {"", " ", "{", "{} {}", "1 2", "[1,]", "nope", "'s'", "{\"a\":1}x"})
        void invalid(String text) {
            assertThat(FrameCodec.isJsonValue(text)).isFalse();
        }
    }
}
