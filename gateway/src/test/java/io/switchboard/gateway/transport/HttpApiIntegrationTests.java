package io.switchboard.gateway.transport;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import java.io.IOException;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The server-side HTTP API: publish, send, disconnect, its key and its body checks (docs/protocol.md section 9). */
class HttpApiIntegrationTests {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String CHANNEL = "public:news";

    private TestGateway gw;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
    }

    private static JsonNode json(String text) {
        try {
            return JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new AssertionError("not JSON: " + text, e);
        }
    }

    /** The response's JSON body, after checking its status and that it says it is JSON. */
    private static JsonNode body(HttpResponse<String> res, int status) {
        assertThat(res.statusCode())
                .as("status of %s, body %s", res.uri(), res.body())
                .isEqualTo(status);
        assertThat(res.headers().firstValue("Content-Type"))
                .hasValueSatisfying(t -> assertThat(t).startsWith("application/json"));
        return json(res.body());
    }

    /** A subscriber of {@link #CHANNEL} logged in as {@code user}, with its events recorded from now on. */
    private Subscriber subscriber(String user) {
        SwitchboardClient c = gw.connect(Tokens.user(user));
        EventRecorder events = EventRecorder.of(c);
        ServerFrame.Ack ack = c.subscribe(CHANNEL).block(TestGateway.TIMEOUT);
        return new Subscriber(c, events, ack);
    }

    private record Subscriber(SwitchboardClient client, EventRecorder events, ServerFrame.Ack ack) {}

    /**
     * Proves nothing reached {@link #CHANNEL} nor the inbox of {@code s} before: an authorised publish gets offset
     * 1 and is the subscriber's next event, an authorised send is the next event with inbox offset 1, and the
     * subscriber is still connected.
     */
    private void assertUntouched(Subscriber s, String user) {
        JsonNode published = body(gw.post("/api/publish", "{\"channel\":\"" + CHANNEL + "\",\"data\":\"probe\"}"), 200);
        assertThat(published.get("offset").asLong()).isEqualTo(1);
        ServerFrame.Message m = s.events().next(ServerFrame.Message.class);
        assertThat(m.offset()).isEqualTo(1);
        assertThat(json(m.data()).asText()).isEqualTo("probe");
        JsonNode sent = body(gw.post("/api/send", "{\"to\":\"" + user + "\",\"data\":\"probe\"}"), 200);
        assertThat(sent.get("delivered").asBoolean()).isTrue();
        ServerFrame.Direct d = s.events().next(ServerFrame.Direct.class);
        assertThat(d.offset()).isEqualTo(1);
        assertThat(s.client().isClosed()).isFalse();
    }

    @Test
    @DisplayName("section 9: POST /api/publish reaches subscribers as a message without from; answers offset and epoch")
    void publishReachesSubscribers() {
        gw = TestGateway.start();
        Subscriber s = subscriber("u_alice");
        String data = "{\"text\":\"hello from the backend\",\"n\":[1,2.5,null,true],\"nested\":{\"k\":\"v\"}}";

        JsonNode answer = body(gw.post("/api/publish", "{\"channel\":\"" + CHANNEL + "\",\"data\":" + data + "}"), 200);

        ServerFrame.Message m = s.events().next(ServerFrame.Message.class);
        assertThat(m.channel()).isEqualTo(CHANNEL);
        assertThat(m.from()).isNull();
        assertThat(json(m.data())).isEqualTo(json(data));
        assertThat(answer.get("offset").isIntegralNumber()).isTrue();
        assertThat(answer.get("offset").asLong()).isEqualTo(1).isEqualTo(m.offset());
        assertThat(answer.get("epoch").asText())
                .isEqualTo(m.epoch())
                .isEqualTo(s.ack().epoch());

        JsonNode second = body(gw.post("/api/publish", "{\"channel\":\"" + CHANNEL + "\",\"data\":42}"), 200);
        assertThat(second.get("offset").asLong()).isEqualTo(2);
        assertThat(s.events().next(ServerFrame.Message.class).offset()).isEqualTo(2);
    }

    @Test
    @DisplayName("section 9: POST /api/send to a connected user answers delivered:true and the user gets a direct")
    void sendToConnectedUser() {
        gw = TestGateway.start();
        SwitchboardClient bob = gw.connect(Tokens.user("u_bob"));
        EventRecorder events = EventRecorder.of(bob);

        JsonNode answer = body(gw.post("/api/send", "{\"to\":\"u_bob\",\"data\":{\"text\":\"psst\"}}"), 200);

        assertThat(answer.get("delivered").isBoolean()).isTrue();
        assertThat(answer.get("delivered").booleanValue()).isTrue();
        ServerFrame.Direct d = events.next(ServerFrame.Direct.class);
        assertThat(json(d.data())).isEqualTo(json("{\"text\":\"psst\"}"));
        assertThat(d.offset()).isEqualTo(1);
        assertThat(d.epoch()).isEqualTo(bob.welcome().inbox().epoch());
    }

    @Test
    @DisplayName("section 9: POST /api/send to a user with no connection answers delivered:false")
    void sendToUnknownUser() {
        gw = TestGateway.start();
        JsonNode answer = body(gw.post("/api/send", "{\"to\":\"u_nobody\",\"data\":\"hi\"}"), 200);
        assertThat(answer.get("delivered").isBoolean()).isTrue();
        assertThat(answer.get("delivered").booleanValue()).isFalse();
    }

    @Test
    @DisplayName("section 9: POST /api/disconnect closes the user's connection with 4002 and answers disconnected:true")
    void disconnectConnectedUser() {
        gw = TestGateway.start();
        SwitchboardClient carol = gw.connect(Tokens.user("u_carol"));
        SwitchboardClient other = gw.connect(Tokens.user("u_dave"));

        JsonNode answer = body(gw.post("/api/disconnect", "{\"user\":\"u_carol\"}"), 200);

        assertThat(answer.get("disconnected").isBoolean()).isTrue();
        assertThat(answer.get("disconnected").booleanValue()).isTrue();
        assertThat(carol.closed().block(TestGateway.TIMEOUT).code()).isEqualTo(CloseCodes.SESSION_REPLACED);
        assertThat(other.subscribe(CHANNEL).block(TestGateway.TIMEOUT).channel())
                .isEqualTo(CHANNEL);
        assertThat(other.isClosed()).isFalse();
    }

    @Test
    @DisplayName("section 9: POST /api/disconnect of a user with no connection answers disconnected:false")
    void disconnectNobody() {
        gw = TestGateway.start();
        SwitchboardClient someone = gw.connect(Tokens.user("u_someone"));
        JsonNode answer = body(gw.post("/api/disconnect", "{\"user\":\"u_nobody\"}"), 200);
        assertThat(answer.get("disconnected").isBoolean()).isTrue();
        assertThat(answer.get("disconnected").booleanValue()).isFalse();
        assertThat(someone.subscribe(CHANNEL).block(TestGateway.TIMEOUT)).isNotNull();
    }

    @Test
    @DisplayName("section 9: /api/* without Authorization, or with a wrong or empty bearer key: 401 and no effect")
    void unauthorisedCallsAnswer401WithoutSideEffect() {
        gw = TestGateway.start();
        Subscriber alice = subscriber("u_alice");
        Map<String, String> calls = Map.of(
                "/api/publish", "{\"channel\":\"" + CHANNEL + "\",\"data\":\"forged\"}",
                "/api/send", "{\"to\":\"u_alice\",\"data\":\"forged\"}",
                "/api/disconnect", "{\"user\":\"u_alice\"}");
        List<String> keys = new ArrayList<>();
        keys.add(null);
        keys.add("wrong-key-wrong-key-0123");
        keys.add(TestGateway.API_KEY + "x");
        keys.add("");

        for (Map.Entry<String, String> call : calls.entrySet()) {
            for (String key : keys) {
                HttpResponse<String> res = gw.post(call.getKey(), call.getValue(), key);
                JsonNode error = body(res, 401);
                assertThat(error.get("error").asText())
                        .as("%s with key %s", call.getKey(), key)
                        .isEqualTo("unauthorized");
                assertThat(error.get("message").asText()).isNotBlank();
            }
        }

        assertUntouched(alice, "u_alice");
    }

    @Test
    @DisplayName("section 9: with no API key configured, every /api call answers 401, even with the former key")
    void apiDisabledWithoutKey() {
        Map<String, String> env = new HashMap<>();
        env.put("SWITCHBOARD_API_KEY", null);
        gw = TestGateway.start(env);
        SwitchboardClient alice = gw.connect(Tokens.user("u_alice"));
        EventRecorder events = EventRecorder.of(alice);

        for (String key : new String[] {TestGateway.API_KEY, null}) {
            assertThat(body(gw.post("/api/publish", "{\"channel\":\"" + CHANNEL + "\",\"data\":1}", key), 401)
                            .get("error")
                            .asText())
                    .isEqualTo("unauthorized");
            assertThat(body(gw.post("/api/send", "{\"to\":\"u_alice\",\"data\":1}", key), 401)
                            .get("error")
                            .asText())
                    .isEqualTo("unauthorized");
            assertThat(body(gw.post("/api/disconnect", "{\"user\":\"u_alice\"}", key), 401)
                            .get("error")
                            .asText())
                    .isEqualTo("unauthorized");
        }

        assertThat(alice.publish(CHANNEL, "\"from a client\"")
                        .block(TestGateway.TIMEOUT)
                        .offset())
                .isEqualTo(1);
        SwitchboardClient bob = gw.connect(Tokens.user("u_bob"));
        assertThat(bob.send("u_alice", "1").block(TestGateway.TIMEOUT).delivered())
                .isTrue();
        assertThat(events.next(ServerFrame.Direct.class).offset()).isEqualTo(1);
        assertThat(alice.isClosed()).isFalse();
    }

    static Stream<Arguments> malformedBodies() {
        String longName = "public:" + "a".repeat(122);
        return Stream.of(
                Arguments.of("publish, not JSON", "/api/publish", "{\"channel\": nope", "body"),
                Arguments.of("publish, empty body", "/api/publish", "", "body"),
                Arguments.of("publish, a JSON array", "/api/publish", "[{\"channel\":\"" + CHANNEL + "\"}]", "body"),
                Arguments.of("publish, a JSON string", "/api/publish", "\"" + CHANNEL + "\"", "body"),
                Arguments.of("publish, missing channel", "/api/publish", "{\"data\":1}", "channel"),
                Arguments.of("publish, channel null", "/api/publish", "{\"channel\":null,\"data\":1}", "channel"),
                Arguments.of("publish, channel not a string", "/api/publish", "{\"channel\":7,\"data\":1}", "channel"),
                Arguments.of(
                        "publish, channel an array",
                        "/api/publish",
                        "{\"channel\":[\"" + CHANNEL + "\"],\"data\":1}",
                        "channel"),
                Arguments.of("publish, empty channel", "/api/publish", "{\"channel\":\"\",\"data\":1}", "channel"),
                Arguments.of(
                        "publish, bad character in channel",
                        "/api/publish",
                        "{\"channel\":\"public:news!\",\"data\":1}",
                        "channel"),
                Arguments.of(
                        "publish, space in channel",
                        "/api/publish",
                        "{\"channel\":\"public:the news\",\"data\":1}",
                        "channel"),
                Arguments.of(
                        "publish, 129-character channel",
                        "/api/publish",
                        "{\"channel\":\"" + longName + "\",\"data\":1}",
                        "channel"),
                Arguments.of(
                        "publish, user: channel",
                        "/api/publish",
                        "{\"channel\":\"user:u_alice\",\"data\":1}",
                        "channel"),
                Arguments.of("publish, missing data", "/api/publish", "{\"channel\":\"" + CHANNEL + "\"}", "data"),
                Arguments.of("send, missing to", "/api/send", "{\"data\":1}", "to"),
                Arguments.of("send, to not a string", "/api/send", "{\"to\":42,\"data\":1}", "to"),
                Arguments.of("send, to an object", "/api/send", "{\"to\":{\"id\":\"u_alice\"},\"data\":1}", "to"),
                Arguments.of("send, empty to", "/api/send", "{\"to\":\"\",\"data\":1}", "to"),
                Arguments.of("send, missing data", "/api/send", "{\"to\":\"u_alice\"}", "data"),
                Arguments.of("send, not JSON", "/api/send", "to=u_alice&data=1", "body"),
                Arguments.of("disconnect, missing user", "/api/disconnect", "{}", "user"),
                Arguments.of("disconnect, user not a string", "/api/disconnect", "{\"user\":true}", "user"),
                Arguments.of("disconnect, a JSON array", "/api/disconnect", "[\"u_alice\"]", "body"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedBodies")
    @DisplayName("section 9: a malformed body answers 400 naming the field, and nothing is published, sent or closed")
    void malformedBodyAnswers400NamingTheField(String name, String path, String requestBody, String field) {
        gw = TestGateway.start();
        Subscriber alice = subscriber("u_alice");

        JsonNode error = body(gw.post(path, requestBody), 400);

        assertThat(error.get("error").asText()).isEqualTo("bad_request");
        assertThat(error.get("field").asText()).isEqualTo(field);
        assertThat(error.get("message").asText()).isNotBlank();
        assertUntouched(alice, "u_alice");
    }

    @Test
    @DisplayName("section 5 and 9: a channel name of exactly 128 characters is accepted by /api/publish")
    void longestChannelNameAccepted() {
        gw = TestGateway.start();
        String name = "public:" + "a".repeat(121);
        assertThat(name).hasSize(128);
        SwitchboardClient c = gw.connect();
        EventRecorder events = EventRecorder.of(c);
        c.subscribe(name).block(TestGateway.TIMEOUT);

        JsonNode answer = body(gw.post("/api/publish", "{\"channel\":\"" + name + "\",\"data\":null}"), 200);

        assertThat(answer.get("offset").asLong()).isEqualTo(1);
        ServerFrame.Message m = events.next(ServerFrame.Message.class);
        assertThat(m.channel()).isEqualTo(name);
        assertThat(json(m.data()).isNull()).isTrue();
    }

    @Test
    @DisplayName("section 9: a body larger than SWITCHBOARD_MAX_FRAME answers 413 and nothing is published")
    void oversizedBodyAnswers413() {
        gw = TestGateway.start(Map.of("SWITCHBOARD_MAX_FRAME", "1024"));
        Subscriber alice = subscriber("u_alice");
        String big = "{\"channel\":\"" + CHANNEL + "\",\"data\":\"" + "x".repeat(4096) + "\"}";

        JsonNode error = body(gw.post("/api/publish", big), 413);

        assertThat(error.get("field").asText()).isEqualTo("body");
        assertThat(error.get("message").asText()).contains("1024");
        assertUntouched(alice, "u_alice");
    }

    /** GETs {@code target} as written, bad escapes included (java.net.URI refuses them), with the API key. */
    private String rawGet(String target) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", gw.port())) {
            socket.setSoTimeout((int) TestGateway.TIMEOUT.toMillis());
            socket.getOutputStream()
                    .write(("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                                    + TestGateway.API_KEY + "\r\nConnection: close\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badEscapes")
    @DisplayName("section 9: a query with a bad %-escape answers 400 with a JSON error naming the field, not 500")
    void badQueryEscapeAnswers400(String target, String field) throws IOException {
        gw = TestGateway.start();

        String response = rawGet(target);

        assertThat(response).startsWith("HTTP/1.1 400 ").contains("content-type: application/json");
        JsonNode error = json(response.substring(response.indexOf("\r\n\r\n") + 4));
        assertThat(error.get("error").asText()).isEqualTo("bad_request");
        assertThat(error.get("field").asText()).isEqualTo(field);
        assertThat(error.get("message").asText()).contains("'" + field + "'", "escape");
    }

    static Stream<Arguments> badEscapes() {
        return Stream.of(
                Arguments.of("/api/matches?user=%ZZ", "user"),
                Arguments.of("/api/matches?user=u1&limit=1%G0", "limit"),
                Arguments.of("/api/matches?user=u1&%ZZ=1", "query"),
                Arguments.of("/api/matches?user=%", "user"));
    }
}
