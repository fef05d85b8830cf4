package io.switchboard.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Frames on the wire, bad input, and replies in request order (docs/protocol.md sections 1 and 4). */
class FramesIntegrationTests {
    private TestGateway gw;
    private SwitchboardClient client;
    private EventRecorder events;

    @BeforeEach
    void start() {
        gw = TestGateway.start(Map.of("SWITCHBOARD_MAX_FRAME", "4096"));
        client = gw.connect();
        events = EventRecorder.of(client);
    }

    @AfterEach
    void stop() {
        gw.close();
    }

    /** The connection still serves requests: a subscribe is acknowledged. */
    private void assertStillOpen() {
        assertThat(client.subscribe("public:still-open")
                        .block(TestGateway.TIMEOUT)
                        .channel())
                .isEqualTo("public:still-open");
        assertThat(client.isClosed()).isFalse();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(
            delimiter = '|',
            value = {
                "malformed JSON                 | {\"type\":\"publish\",                                        | bad_request",
                "JSON array                     | [1,2,3]                                                        | bad_request",
                "JSON string                    | \"hello\"                                                      | bad_request",
                "missing type                   | {\"id\":5}                                                     | bad_request",
                "type not a string              | {\"type\":7}                                                   | bad_request",
                "unknown type                   | {\"type\":\"teleport\"}                                        | unknown_type",
                "channel not a string           | {\"type\":\"subscribe\",\"channel\":5}                         | bad_request",
                "missing channel                | {\"type\":\"subscribe\"}                                       | bad_request",
                "invalid channel character      | {\"type\":\"subscribe\",\"channel\":\"public:a b\"}            | bad_request",
                "empty channel                  | {\"type\":\"subscribe\",\"channel\":\"\"}                      | bad_request",
                "publish without data           | {\"type\":\"publish\",\"channel\":\"public:a\"}                | bad_request",
                "since of wrong shape           | {\"type\":\"subscribe\",\"channel\":\"public:a\",\"since\":3}  | bad_request",
                "send to a number               | {\"type\":\"send\",\"to\":5,\"data\":1}                        | bad_request",
                "id zero                        | {\"type\":\"subscribe\",\"id\":0,\"channel\":\"public:a\"}     | bad_request",
                "id negative                    | {\"type\":\"subscribe\",\"id\":-4,\"channel\":\"public:a\"}    | bad_request",
                "id above 2^53-1                | {\"type\":\"subscribe\",\"id\":9007199254740992,\"channel\":\"public:a\"} | bad_request",
                "id fractional                  | {\"type\":\"subscribe\",\"id\":1.5,\"channel\":\"public:a\"}   | bad_request",
                "id a string                    | {\"type\":\"subscribe\",\"id\":\"7\",\"channel\":\"public:a\"} | bad_request",
            })
    @DisplayName("section 1: bad text gets an error frame with its code, and the connection stays open")
    void badTextGetsErrorAndStaysOpen(String what, String text, String code) {
        client.sendText(text.trim());
        ServerFrame.Error e = events.next(ServerFrame.Error.class);
        assertThat(e.code()).as(what).isEqualTo(code.trim());
        assertThat(e.message()).as(what).isNotBlank();
        assertStillOpen();
    }

    @Test
    @DisplayName("section 1: an over-long channel name (129 characters) is bad_request, naming the length")
    void overLongChannelName() {
        String name = "public:" + "x".repeat(122);
        client.sendText("{\"type\":\"subscribe\",\"id\":3,\"channel\":\"" + name + "\"}");
        ServerFrame.Error e = events.next(ServerFrame.Error.class);
        assertThat(e.code()).isEqualTo(ErrorCodes.BAD_REQUEST);
        assertThat(e.id()).isEqualTo(3L);
        assertThat(e.message()).contains("129");
        assertStillOpen();
    }

    @Test
    @DisplayName("section 1: a 128-character channel name is accepted")
    void longestChannelName() {
        String name = "public:" + "x".repeat(121);
        assertThat(client.subscribe(name).block(TestGateway.TIMEOUT).channel()).isEqualTo(name);
    }

    @Test
    @DisplayName("section 4: an error for a frame with a valid id carries that id")
    void errorCarriesId() {
        client.sendText("{\"type\":\"teleport\",\"id\":77}");
        ServerFrame.Error e = events.next(ServerFrame.Error.class);
        assertThat(e.code()).isEqualTo(ErrorCodes.UNKNOWN_TYPE);
        assertThat(e.id()).isEqualTo(77L);
    }

    @Test
    @DisplayName("section 1: unknown extra fields are ignored")
    void unknownFieldsIgnored() {
        client.sendText("{\"type\":\"subscribe\",\"id\":9,\"channel\":\"public:x\",\"future\":{\"a\":[1]},\"z\":null}");
        ServerFrame.Ack ack = events.next(ServerFrame.Ack.class);
        assertThat(ack.id()).isEqualTo(9L);
        assertThat(ack.channel()).isEqualTo("public:x");
    }

    @Test
    @DisplayName("section 1: a binary frame closes with 1003")
    void binaryFrameCloses1003() {
        client.sendBinary(new byte[] {1, 2, 3});
        assertThat(client.closed().block(TestGateway.TIMEOUT).code()).isEqualTo(CloseCodes.BINARY_FRAME);
    }

    @Test
    @DisplayName("section 1: a text frame with invalid UTF-8 closes with 1007")
    void invalidUtf8Closes1007() {
        byte[] bad = "{\"type\":\"pong\",\"x\":\"\u00e9\"}".getBytes(StandardCharsets.UTF_8);
        bad[bad.length - 4] = (byte) 0xC3;
        bad[bad.length - 3] = (byte) 0x28; // 0xC3 0x28 is not UTF-8
        client.sendTextBytes(bad);
        assertThat(client.closed().block(TestGateway.TIMEOUT).code()).isEqualTo(CloseCodes.INVALID_UTF8);
        Await.until(
                "the close counted as 1007, not 1006",
                TestGateway.TIMEOUT,
                () -> gw.get("/metrics").body().contains("switchboard_connections_closed_total{code=\"1007\"} 1.0"));
    }

    @Test
    @DisplayName("section 1: a frame larger than maxFrame closes with 1009")
    void oversizedFrameCloses1009() {
        String data = "\"" + "x".repeat(5000) + "\"";
        client.sendText("{\"type\":\"publish\",\"channel\":\"public:a\",\"data\":" + data + "}");
        assertThat(client.closed().block(TestGateway.TIMEOUT).code()).isEqualTo(CloseCodes.FRAME_TOO_BIG);
    }

    @Test
    @DisplayName("section 1: a frame just under maxFrame is accepted")
    void frameUnderLimitAccepted() {
        String data = "\"" + "x".repeat(3900) + "\"";
        assertThat(client.publish("public:a", data).block(TestGateway.TIMEOUT).offset())
                .isEqualTo(1L);
    }

    @Test
    @DisplayName("section 4: replies come in request order, one per frame with an id")
    void repliesInRequestOrder() {
        List<Long> sent = new ArrayList<>();
        StringBuilder batch = new StringBuilder();
        for (long id = 1000; id < 1060; id++) {
            sent.add(id);
            String frame = switch ((int) (id % 5)) {
                case 0 -> "{\"type\":\"subscribe\",\"id\":" + id + ",\"channel\":\"public:o" + id % 7 + "\"}";
                case 1 ->
                    "{\"type\":\"publish\",\"id\":" + id + ",\"channel\":\"public:o" + id % 3 + "\",\"data\":" + id
                            + "}";
                case 2 -> "{\"type\":\"unsubscribe\",\"id\":" + id + ",\"channel\":\"public:o" + id % 7 + "\"}";
                case 3 -> "{\"type\":\"teleport\",\"id\":" + id + "}";
                default -> "{\"type\":\"send\",\"id\":" + id + ",\"to\":\"u_nobody\",\"data\":{}}";
            };
            client.sendText(frame);
        }
        List<Long> replies = new ArrayList<>();
        while (replies.size() < sent.size()) {
            ServerFrame f = events.next();
            if (f instanceof ServerFrame.Ack a) {
                replies.add(a.id());
            } else if (f instanceof ServerFrame.Error e) {
                replies.add(e.id());
            }
        }
        assertThat(replies).containsExactlyElementsOf(sent);
    }

    @Test
    @DisplayName("section 4: a frame without id gets no reply, but takes effect")
    void noIdNoReply() {
        client.sendText("{\"type\":\"subscribe\",\"channel\":\"public:quiet\"}");
        client.sendText("{\"type\":\"publish\",\"channel\":\"public:quiet\",\"data\":\"m\"}");
        ServerFrame.Message m = events.next(ServerFrame.Message.class);
        assertThat(m.channel()).isEqualTo("public:quiet");
        assertThat(m.data()).isEqualTo("\"m\"");
    }
}
