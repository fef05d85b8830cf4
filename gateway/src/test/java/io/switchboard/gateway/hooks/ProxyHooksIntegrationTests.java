package io.switchboard.gateway.hooks;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.CloseStatus;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardClientOptions;
import io.switchboard.protocol.client.SwitchboardException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The proxy hooks of docs/protocol.md section 11 (docs/backend.md) against a real HTTP server standing in for the
 * application's backend: each hook allowing and refusing, what the backend receives, and what the client sees.
 */
class ProxyHooksIntegrationTests {
    private final FakeBackend backend = new FakeBackend();
    private TestGateway gw;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
        backend.close();
    }

    /** A gateway whose hooks are {@code hooks} on the fake backend, with {@code env} on top. */
    private TestGateway gateway(String hooks, Map<String, String> env) {
        Map<String, String> all = new HashMap<>();
        all.put("SWITCHBOARD_HOOK_URL", backend.url());
        all.put("SWITCHBOARD_HOOKS", hooks);
        all.put("SWITCHBOARD_HOOK_KEY", "backend-key-0123456789");
        all.putAll(env);
        gw = TestGateway.start(all);
        return gw;
    }

    private static CloseStatus closed(SwitchboardClient c) {
        return c.closed().block(TestGateway.TIMEOUT);
    }

    // ---------------------------------------------------------------- connect

    @Test
    @DisplayName(
            "section 11: with guests off, connect authenticates by the upgrade's cookie and sets user, info and rights")
    void connectAuthenticatesByCookie() {
        gateway("connect", Map.of("SWITCHBOARD_GUESTS", "false"));
        backend.on("connect", call -> {
            String cookie = call.body().path("headers").path("cookie").asText("");
            return FakeBackend.ok(
                    cookie.contains("sid=alice-session")
                            ? "{\"allow\":true,\"user\":\"alice\",\"info\":{\"name\":\"Alice\"},"
                                    + "\"subscribe\":[\"room:*\"],\"publish\":[\"room:*\"]}"
                            : "{\"allow\":false,\"code\":\"unauthorized\",\"message\":\"log in first\"}");
        });

        SwitchboardClient alice = gw.connect(gw.options()
                .withHeaders(Map.of(
                        "Cookie", "theme=dark; sid=alice-session",
                        "User-Agent", "hooks-test/1.0",
                        "Origin", "https://app.example",
                        "X-Forwarded-For", "203.0.113.7")));

        ServerFrame.Welcome w = alice.welcome();
        assertThat(w.user()).isEqualTo("alice");
        assertThat(w.guest()).isFalse();
        FakeBackend.Call call = backend.calls("connect").get(0);
        JsonNode body = call.body();
        assertThat(body.get("user").isNull()).isTrue();
        assertThat(body.get("guest").asBoolean()).isTrue();
        assertThat(body.get("session").asText()).isEqualTo(w.session());
        assertThat(body.get("node").asText()).isEqualTo("gw-test");
        assertThat(body.get("client").asText()).isEqualTo(SwitchboardClientOptions.DEFAULT_CLIENT_NAME);
        assertThat(body.path("headers").path("cookie").asText()).isEqualTo("theme=dark; sid=alice-session");
        assertThat(body.path("headers").path("user-agent").asText()).isEqualTo("hooks-test/1.0");
        assertThat(body.path("headers").path("x-forwarded-for").asText()).isEqualTo("203.0.113.7");
        assertThat(body.path("headers").path("origin").asText()).isEqualTo("https://app.example");
        assertThat(call.headers().get("Authorization")).isEqualTo("Bearer backend-key-0123456789");
        assertThat(call.headers().get("Content-Type")).startsWith("application/json");

        // the rights the backend granted, and the info others see in presence
        assertThat(alice.subscribe("room:1", null, true, false).block(TestGateway.TIMEOUT))
                .isNotNull();
        assertThat(alice.publish("room:1", "{\"text\":\"hi\"}")
                        .block(TestGateway.TIMEOUT)
                        .offset())
                .isEqualTo(1);
        ServerFrame.PresenceAck present = alice.presence("room:1").block(TestGateway.TIMEOUT);
        assertThat(present.users()).hasSize(1);
        assertThat(present.users().get(0).info()).isEqualTo("{\"name\":\"Alice\"}");
        assertThatThrownBy(() -> alice.subscribe("other:1").block(TestGateway.TIMEOUT))
                .isInstanceOfSatisfying(
                        SwitchboardException.class, e -> assertThat(e.code()).isEqualTo(ErrorCodes.FORBIDDEN));
    }

    @Test
    @DisplayName("section 11: a connect refusal is an error with the backend's code and message, then close 4001")
    void connectRefusedClosesWith4001() {
        gateway("connect", Map.of());
        backend.answer("connect", "{\"allow\":false,\"code\":\"forbidden\",\"message\":\"banned until Monday\"}");

        SwitchboardClient c = gw.open();
        assertThatThrownBy(() -> TestGateway.hello(c, Tokens.user("u_banned")))
                .isInstanceOfSatisfying(SwitchboardException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCodes.FORBIDDEN);
                    assertThat(e.getMessage()).contains("banned until Monday");
                });
        assertThat(closed(c).code()).isEqualTo(CloseCodes.UNAUTHORIZED);
        JsonNode body = backend.calls("connect").get(0).body();
        assertThat(body.get("user").asText()).isEqualTo("u_banned");
        assertThat(body.get("guest").asBoolean()).isFalse();
    }

    @Test
    @DisplayName("section 11: with guests off and no user from the backend, the connection is refused unauthorized")
    void guestsOffNeedsAUserFromTheBackend() {
        gateway("connect", Map.of("SWITCHBOARD_GUESTS", "false"));
        backend.answer("connect", "{\"allow\":true}");

        SwitchboardClient c = gw.open();
        assertThatThrownBy(() -> TestGateway.hello(c, null))
                .isInstanceOfSatisfying(
                        SwitchboardException.class, e -> assertThat(e.code()).isEqualTo(ErrorCodes.UNAUTHORIZED));
        assertThat(closed(c).code()).isEqualTo(CloseCodes.UNAUTHORIZED);
    }

    @Test
    @DisplayName("section 11: a user id that breaks the user id rules is a refusal (unauthorized, 4001)")
    void connectWithAnInvalidUserIsRefused() {
        gateway("connect", Map.of());
        backend.answer("connect", "{\"allow\":true,\"user\":\"has space\"}");

        SwitchboardClient c = gw.open();
        assertThatThrownBy(() -> TestGateway.hello(c, null)).isInstanceOfSatisfying(SwitchboardException.class, e -> {
            assertThat(e.code()).isEqualTo(ErrorCodes.UNAUTHORIZED);
            assertThat(e.getMessage()).contains("'user' has the character U+0020");
        });
        assertThat(closed(c).code()).isEqualTo(CloseCodes.UNAUTHORIZED);
    }

    @Test
    @DisplayName(
            "section 11: the backend's channels are subscribed before the welcome, each acked by a subscribed frame")
    void connectSubscribesServerSideChannels() {
        gateway("connect", Map.of());
        backend.answer("connect", "{\"allow\":true,\"channels\":[\"room:7\",\"news:all\"]}");
        SwitchboardClient publisher = gw.connect(Tokens.user("u_pub", List.of(), List.of("room:*")));
        publisher.publish("room:7", "{\"n\":1}").block(TestGateway.TIMEOUT);

        SwitchboardClient c = gw.open();
        EventRecorder events = EventRecorder.of(c);
        ServerFrame.Welcome w = TestGateway.hello(c, null);

        // both arrived before the welcome: taken at once when it is there
        ServerFrame first = events.next(Duration.ZERO);
        ServerFrame second = events.next(Duration.ZERO);
        assertThat(first).isInstanceOf(ServerFrame.Subscribed.class);
        assertThat(second).isInstanceOf(ServerFrame.Subscribed.class);
        assertThat(first).isEqualTo(new ServerFrame.Subscribed("room:7", 1, ((ServerFrame.Subscribed) first).epoch()));
        assertThat(((ServerFrame.Subscribed) first).epoch()).isNotEmpty();
        assertThat(((ServerFrame.Subscribed) second).channel()).isEqualTo("news:all");
        assertThat(((ServerFrame.Subscribed) second).offset()).isZero();
        assertThat(w.user()).startsWith("g_");

        publisher.publish("room:7", "{\"n\":2}").block(TestGateway.TIMEOUT);
        ServerFrame.Message m = events.next(ServerFrame.Message.class);
        assertThat(m.channel()).isEqualTo("room:7");
        assertThat(m.offset()).isEqualTo(2);
        // subscribing again is the idempotent ack: the backend's channels are the connection's to subscribe
        assertThat(c.subscribe("room:7").block(TestGateway.TIMEOUT).offset()).isEqualTo(2);
        assertThat(c.unsubscribe("news:all").block(TestGateway.TIMEOUT)).isNotNull();
    }

    @Test
    @DisplayName(
            "section 11: connect runs on a resume with the resumed user; the same user resumes, another is refused")
    void connectRunsOnResume() {
        gateway("connect", Map.of("SWITCHBOARD_GUESTS", "false"));
        backend.answer("connect", "{\"allow\":true,\"user\":\"carol\"}");
        SwitchboardClient first = gw.connect(gw.options().withHeaders(Map.of("Cookie", "sid=carol")));
        String resume = first.welcome().resume();
        first.abort();
        closed(first);

        SwitchboardClient again = gw.open(gw.options().withHeaders(Map.of("Cookie", "sid=carol")));
        ServerFrame.Welcome w = again.hello(new ClientFrame.Hello(1, null, resume, null, "test"))
                .block(TestGateway.TIMEOUT);
        assertThat(w.resumed()).isTrue();
        assertThat(w.user()).isEqualTo("carol");
        JsonNode body = backend.calls("connect").get(1).body();
        assertThat(body.get("user").asText()).isEqualTo("carol");
        assertThat(body.get("guest").asBoolean()).isFalse();

        String resumeAgain = w.resume();
        again.abort();
        closed(again);
        backend.answer("connect", "{\"allow\":true,\"user\":\"mallory\"}");
        SwitchboardClient other = gw.open();
        assertThatThrownBy(() -> other.hello(new ClientFrame.Hello(1, null, resumeAgain, null, "test"))
                        .block(TestGateway.TIMEOUT))
                .isInstanceOfSatisfying(
                        SwitchboardException.class, e -> assertThat(e.code()).isEqualTo(ErrorCodes.CONFLICT));
        assertThat(closed(other).code()).isEqualTo(CloseCodes.UNAUTHORIZED);
    }

    // ---------------------------------------------------------------- subscribe and publish

    @Test
    @DisplayName("section 11: subscribe asks the backend for covered channels only, and its refusal is the error")
    void subscribeHookAllowsAndRefuses() {
        gateway("subscribe", Map.of());
        backend.on(
                "subscribe",
                call -> FakeBackend.ok(
                        call.body().get("channel").asText().equals("room:secret")
                                ? "{\"allow\":false,\"code\":\"forbidden\",\"message\":\"members only\"}"
                                : "{\"allow\":true}"));
        SwitchboardClient c = gw.connect(Tokens.user("u_sub", List.of("room:*"), List.of()));

        assertThat(c.subscribe("room:open").block(TestGateway.TIMEOUT).channel())
                .isEqualTo("room:open");
        assertThatThrownBy(() -> c.subscribe("room:secret").block(TestGateway.TIMEOUT))
                .isInstanceOfSatisfying(SwitchboardException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCodes.FORBIDDEN);
                    assertThat(e.getMessage()).contains("members only");
                });
        c.subscribe("public:lobby").block(TestGateway.TIMEOUT);
        // an idempotent subscribe is not asked again; public: is not covered by default
        c.subscribe("room:open").block(TestGateway.TIMEOUT);

        List<String> asked = backend.calls("subscribe").stream()
                .map(call -> call.body().get("channel").asText())
                .toList();
        assertThat(asked).containsExactly("room:open", "room:secret");
        JsonNode body = backend.calls("subscribe").get(0).body();
        assertThat(body.get("user").asText()).isEqualTo("u_sub");
        assertThat(body.get("session").asText()).isEqualTo(c.welcome().session());
    }

    @Test
    @DisplayName("section 11: publish may refuse, and may replace the data subscribers receive")
    void publishHookRefusesAndReplaces() {
        gateway("publish", Map.of());
        backend.on("publish", call -> {
            JsonNode data = call.body().get("data");
            if (data.path("text").asText().contains("spam")) {
                return FakeBackend.ok("{\"allow\":false,\"code\":\"banned_word\",\"message\":\"no spam\"}");
            }
            return FakeBackend.ok("{\"allow\":true,\"data\":{\"text\":\""
                    + data.path("text").asText().toUpperCase() + "\",\"moderated\":true}}");
        });
        SwitchboardClient sender = gw.connect(Tokens.user("u_pub", List.of("room:*"), List.of("room:*")));
        SwitchboardClient reader = gw.connect(Tokens.user("u_read", List.of("room:*"), List.of()));
        reader.subscribe("room:1").block(TestGateway.TIMEOUT);
        EventRecorder received = EventRecorder.of(reader);

        assertThat(sender.publish("room:1", "{\"text\":\"hello\"}")
                        .block(TestGateway.TIMEOUT)
                        .offset())
                .isEqualTo(1);
        ServerFrame.Message m = received.next(ServerFrame.Message.class);
        assertThat(m.data()).isEqualTo("{\"text\":\"HELLO\",\"moderated\":true}");
        assertThat(m.from()).isEqualTo("u_pub");

        // a code outside docs/protocol.md section 4 becomes forbidden, the backend's code leading the message
        assertThatThrownBy(() ->
                        sender.publish("room:1", "{\"text\":\"buy spam\"}").block(TestGateway.TIMEOUT))
                .isInstanceOfSatisfying(SwitchboardException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCodes.FORBIDDEN);
                    assertThat(e.getMessage()).contains("banned_word: no spam");
                });
        JsonNode body = backend.calls("publish").get(0).body();
        assertThat(body.get("user").asText()).isEqualTo("u_pub");
        assertThat(body.get("channel").asText()).isEqualTo("room:1");
        assertThat(body.get("data").toString()).isEqualTo("{\"text\":\"hello\"}");
    }

    @Test
    @DisplayName("section 11: a replacement larger than a frame is refused with internal")
    void publishReplacementOverAFrameIsRefused() {
        gateway("publish", Map.of("SWITCHBOARD_MAX_FRAME", "1024"));
        backend.answer("publish", "{\"allow\":true,\"data\":\"" + "x".repeat(2000) + "\"}");
        SwitchboardClient sender = gw.connect(Tokens.user("u_pub", List.of(), List.of("room:*")));

        assertThatThrownBy(() -> sender.publish("room:1", "1").block(TestGateway.TIMEOUT))
                .isInstanceOfSatisfying(SwitchboardException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCodes.INTERNAL);
                    assertThat(e.getMessage()).contains("more than the 1024");
                });
    }

    // ---------------------------------------------------------------- rpc

    @Test
    @DisplayName("section 11: rpc answers the backend's result in the ack, or its error")
    void rpcResultAndError() {
        gateway("rpc", Map.of());
        backend.on(
                "rpc",
                call -> FakeBackend.ok(
                        call.body().get("method").asText().equals("report")
                                ? "{\"result\":{\"ticket\":42,\"echo\":"
                                        + call.body().get("data") + "}}"
                                : "{\"error\":{\"code\":\"not_found\",\"message\":\"no such method\"}}"));
        SwitchboardClient c = gw.connect(Tokens.user("u_rpc"));

        assertThat(c.rpc("report", "{\"about\":\"u_x\"}").block(TestGateway.TIMEOUT))
                .isEqualTo("{\"ticket\":42,\"echo\":{\"about\":\"u_x\"}}");
        assertThatThrownBy(() -> c.rpc("nope", "null").block(TestGateway.TIMEOUT))
                .isInstanceOfSatisfying(SwitchboardException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCodes.NOT_FOUND);
                    assertThat(e.getMessage()).contains("no such method");
                });
        JsonNode body = backend.calls("rpc").get(0).body();
        assertThat(body.get("user").asText()).isEqualTo("u_rpc");
        assertThat(body.get("session").asText()).isEqualTo(c.welcome().session());
        assertThat(body.get("method").asText()).isEqualTo("report");
        assertThat(body.get("data").toString()).isEqualTo("{\"about\":\"u_x\"}");
    }

    @Test
    @DisplayName("section 11: without the rpc hook, rpc answers unknown_type, as a gateway without hooks does")
    void rpcWithoutTheHookIsUnknownType() {
        gateway("connect,subscribe,publish", Map.of());
        SwitchboardClient c = gw.connect();

        assertThatThrownBy(() -> c.rpc("report", "{}").block(TestGateway.TIMEOUT))
                .isInstanceOfSatisfying(SwitchboardException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCodes.UNKNOWN_TYPE);
                    assertThat(e.getMessage()).contains("SWITCHBOARD_HOOKS");
                });
        assertThat(backend.calls("rpc")).isEmpty();
    }

    @Test
    @DisplayName("section 11: all four hooks allowing: a whole session goes through the backend")
    void everyHookAllowing() {
        gateway("connect,subscribe,publish,rpc", Map.of());
        SwitchboardClient c = gw.connect(Tokens.user("u_all", List.of("room:*"), List.of("room:*")));
        EventRecorder events = EventRecorder.of(c);
        c.subscribe("room:1").block(TestGateway.TIMEOUT);
        c.publish("room:1", "{\"text\":\"as is\"}").block(TestGateway.TIMEOUT);
        assertThat(events.next(ServerFrame.Message.class).data()).isEqualTo("{\"text\":\"as is\"}");
        assertThat(c.rpc("ping", "[]").block(TestGateway.TIMEOUT)).isEqualTo("{}");

        List<String> hooks = new ArrayList<>();
        backend.calls().forEach(call -> hooks.add(call.hook()));
        assertThat(hooks).containsExactly("connect", "subscribe", "publish", "rpc");
    }
}
