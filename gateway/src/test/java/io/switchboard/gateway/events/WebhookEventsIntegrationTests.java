package io.switchboard.gateway.events;

import static io.switchboard.gateway.support.WebhookBackend.channelEvents;
import static io.switchboard.gateway.support.WebhookBackend.ofChannel;
import static io.switchboard.gateway.support.WebhookBackend.ofType;
import static io.switchboard.gateway.support.WebhookBackend.ofUser;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.micrometer.core.instrument.MeterRegistry;
import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.gateway.support.WebhookBackend;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Webhook events in the embedded mode (docs/protocol.md section 11, docs/backend.md "Events"), against a real HTTP
 * server standing in for the backend.
 */
class WebhookEventsIntegrationTests {
    private static final Duration T = Duration.ofSeconds(20);

    @RegisterExtension
    final Closing closing = new Closing();

    private WebhookBackend backend() {
        WebhookBackend b = WebhookBackend.start();
        closing.keep(b);
        return b;
    }

    private TestGateway gateway(WebhookBackend backend, Map<String, String> extra) {
        Map<String, String> env = new HashMap<>(backend.env());
        env.putAll(extra);
        TestGateway gw = TestGateway.start(env);
        closing.keep(gw);
        return gw;
    }

    private static void closeNormally(SwitchboardClient c) {
        c.close(1000, "bye").block(T);
    }

    @Test
    @DisplayName("section 11: a connection and its normal close are user.connected and user.disconnected (closed),"
            + " in signed batches")
    void connectAndCloseAreSignedEvents() {
        WebhookBackend backend = backend();
        TestGateway gw = gateway(backend, Map.of());
        SwitchboardClient c = gw.connect(Tokens.user("u_ann"));
        String session = c.welcome().session();
        closeNormally(c);

        List<JsonNode> events = backend.await(2, ofUser("u_ann"), T);
        assertThat(events)
                .extracting(e -> e.get("type").asText())
                .containsExactly("user.connected", "user.disconnected");
        JsonNode connected = events.get(0);
        assertThat(connected.get("id").asText()).startsWith("ev_");
        assertThat(connected.get("at").asText()).matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z");
        assertThat(connected.get("node").asText()).isEqualTo("gw-test");
        assertThat(connected.get("session").asText()).isEqualTo(session);
        JsonNode disconnected = events.get(1);
        assertThat(disconnected.get("session").asText()).isEqualTo(session);
        assertThat(disconnected.get("reason").asText()).isEqualTo("closed");
        assertThat(disconnected.get("id").asText())
                .isNotEqualTo(connected.get("id").asText());
        assertThat(backend.badSignatures())
                .as("every batch's signature verifies")
                .isEmpty();
        assertThat(gw.health()
                        .path("dependencies")
                        .path("webhooks")
                        .path("status")
                        .asText())
                .isEqualTo("UP");
    }

    @Test
    @DisplayName("section 11: the events of one user arrive in the order they happened")
    void eventsOfOneUserInOrder() {
        WebhookBackend backend = backend();
        TestGateway gw = gateway(backend, Map.of());
        List<String> sessions = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            SwitchboardClient c = gw.connect(Tokens.user("u_bob"));
            sessions.add(c.welcome().session());
            WebhookBackend.closeStored(gw, c, "u_bob", T);
        }
        List<JsonNode> events = backend.await(12, ofUser("u_bob"), T);
        List<String> seen = events.stream()
                .map(e -> e.get("type").asText() + " " + e.get("session").asText())
                .toList();
        List<String> expected = new ArrayList<>();
        for (String s : sessions) {
            expected.add("user.connected " + s);
            expected.add("user.disconnected " + s);
        }
        assertThat(seen).containsExactlyElementsOf(expected);
    }

    @Test
    @DisplayName("section 11: a connection replaced by a newer one ends with replaced, one closed by POST"
            + " /api/disconnect with kicked")
    void replacedAndKicked() {
        WebhookBackend backend = backend();
        TestGateway gw = gateway(backend, Map.of());
        SwitchboardClient first = gw.connect(Tokens.user("u_cat"));
        SwitchboardClient second = gw.connect(Tokens.user("u_cat"));
        first.closed().block(T);
        assertThat(gw.post("/api/disconnect", "{\"user\":\"u_cat\"}").statusCode())
                .isEqualTo(200);
        second.closed().block(T);

        List<JsonNode> events = backend.await(4, ofUser("u_cat"), T);
        assertThat(events)
                .extracting(e -> e.get("type").asText() + " " + e.get("session").asText() + " "
                        + e.path("reason").asText())
                .containsExactly(
                        "user.connected " + first.welcome().session() + " ",
                        "user.connected " + second.welcome().session() + " ",
                        "user.disconnected " + first.welcome().session() + " replaced",
                        "user.disconnected " + second.welcome().session() + " kicked");
    }

    @Test
    @DisplayName("section 11: a resume is not a new connection; a drop not resumed within the grace ends the session"
            + " with timeout")
    void resumeContinuesTheSessionAndTimeoutEndsIt() {
        WebhookBackend backend = backend();
        TestGateway gw = gateway(backend, Map.of("SWITCHBOARD_RESUME_GRACE_MS", "1000"));
        SwitchboardClient a = gw.connect(Tokens.user("u_dan"));
        ServerFrame.Welcome first = a.welcome();
        a.abort();
        Await.until("the drop to be noticed", T, () -> gw.gateway().registry().local("u_dan") == null);

        SwitchboardClient again = gw.open();
        ServerFrame.Welcome resumed = again.hello(
                        new ClientFrame.Hello(1, Tokens.user("u_dan"), first.resume(), null, "test"))
                .block(T);
        assertThat(resumed.resumed()).isTrue();
        again.abort();

        List<JsonNode> events = backend.await(2, ofUser("u_dan"), T);
        assertThat(events)
                .extracting(e -> e.get("type").asText() + " " + e.get("session").asText() + " "
                        + e.path("reason").asText())
                .as("one session, named by the connection that announced it, ended by the grace")
                .containsExactly(
                        "user.connected " + first.session() + " ", "user.disconnected " + first.session() + " timeout");
        assertThat(backend.distinct(ofUser("u_dan"))).hasSize(2);
    }

    @Test
    @DisplayName("section 11: a match is match.started then match.ended; a block is user.blocked")
    void matchAndBlock() {
        WebhookBackend backend = backend();
        TestGateway gw = gateway(backend, Map.of());
        SwitchboardClient a = gw.connect(Tokens.user("u_eve"));
        SwitchboardClient b = gw.connect(Tokens.user("u_fay"));
        a.request(id -> new ClientFrame.MatchJoin(id, List.of("chess"))).block(T);
        b.request(id -> new ClientFrame.MatchJoin(id, List.of("chess"))).block(T);
        JsonNode started = backend.await(1, ofType("match.started"), T).get(0);
        assertThat(started.get("users")).extracting(JsonNode::asText).containsExactlyInAnyOrder("u_eve", "u_fay");
        assertThat(started.get("initiator").asText()).isIn("u_eve", "u_fay");
        assertThat(started.get("interests")).extracting(JsonNode::asText).containsExactly("chess");
        a.request(id -> new ClientFrame.Block(id, "u_fay")).block(T);

        JsonNode blocked = backend.await(1, ofType("user.blocked"), T).get(0);
        assertThat(blocked.get("user").asText()).isEqualTo("u_eve");
        assertThat(blocked.get("blocked").asText()).isEqualTo("u_fay");
        JsonNode ended = backend.await(1, ofType("match.ended"), T).get(0);
        assertThat(ended.get("match").asText()).isEqualTo(started.get("match").asText());
        assertThat(ended.get("users")).extracting(JsonNode::asText).containsExactlyInAnyOrder("u_eve", "u_fay");
        assertThat(ended.get("reason").asText()).isNotBlank();
        List<String> order = backend.distinct().stream()
                .filter(e ->
                        e.path("match").asText().equals(started.get("match").asText()))
                .map(e -> e.get("type").asText())
                .toList();
        assertThat(order).containsExactly("match.started", "match.ended");
    }

    @Test
    @DisplayName("section 11: while the backend fails, events wait and /health says webhooks DOWN with the backlog;"
            + " once it is back every event arrives, duplicates only by id")
    void backendOutage() {
        WebhookBackend backend = backend();
        backend.failing(true);
        TestGateway gw = gateway(backend, Map.of());
        for (int i = 0; i < 3; i++) {
            closeNormally(gw.connect(Tokens.user("u_out" + i)));
        }
        Await.until("a refused POST", T, () -> backend.refused() >= 1);
        Await.until(
                "the backlog in /health",
                T,
                () -> gw.health()
                                .path("dependencies")
                                .path("webhooks")
                                .path("backlog")
                                .asLong()
                        == 6);
        JsonNode webhooks = gw.health().path("dependencies").path("webhooks");
        assertThat(webhooks.path("status").asText()).isEqualTo("DOWN");
        assertThat(webhooks.has("oldestAgeMs")).isTrue();
        assertThat(gw.get("/health/ready").statusCode()).as("still ready").isEqualTo(200);

        backend.failing(false);
        List<JsonNode> events = backend.await(6, e -> e.path("user").asText().startsWith("u_out"), T);
        assertThat(events).hasSize(6);
        assertThat(backend.received()).extracting(e -> e.get("id").asText()).doesNotHaveDuplicates();
        Await.until(
                "webhooks UP again",
                T,
                () -> gw.health()
                        .path("dependencies")
                        .path("webhooks")
                        .path("status")
                        .asText()
                        .equals("UP"));
        MeterRegistry m = gw.gateway().metrics().registry();
        assertThat(m.get("switchboard.webhook.batches.failed").counter().count())
                .isGreaterThanOrEqualTo(1);
        assertThat(m.get("switchboard.webhook.events.sent").counter().count()).isGreaterThanOrEqualTo(6);
        assertThat(m.get("switchboard.webhook.delivery.latency").timer().count())
                .isGreaterThanOrEqualTo(6);
    }

    @Test
    @DisplayName("section 11: beyond SWITCHBOARD_WEBHOOK_BACKLOG the oldest events are dropped and counted")
    void backlogBound() {
        WebhookBackend backend = backend();
        backend.failing(true);
        TestGateway gw = gateway(backend, Map.of("SWITCHBOARD_WEBHOOK_BACKLOG", "4"));
        List<String> sessions = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            SwitchboardClient c = gw.connect(Tokens.user("u_gus"));
            sessions.add(c.welcome().session());
            WebhookBackend.closeStored(gw, c, "u_gus", T);
        }
        MeterRegistry m = gw.gateway().metrics().registry();
        Await.until(
                "4 drops",
                T,
                () -> m.get("switchboard.webhook.events.dropped").counter().count() == 4);
        backend.failing(false);
        List<JsonNode> events = backend.await(4, ofUser("u_gus"), T);
        assertThat(events)
                .extracting(e -> e.get("type").asText() + " " + e.get("session").asText())
                .as("the newest four, the oldest dropped")
                .containsExactly(
                        "user.connected " + sessions.get(2),
                        "user.disconnected " + sessions.get(2),
                        "user.connected " + sessions.get(3),
                        "user.disconnected " + sessions.get(3));
        assertThat(backend.distinct(ofUser("u_gus"))).hasSize(4);
    }

    @Test
    @DisplayName("section 11: a channel's first subscriber is channel.occupied, its last one gone channel.vacated, in"
            + " order; a second subscriber and the inboxes tell nothing")
    void occupiedAndVacatedInOrder() {
        WebhookBackend backend = backend();
        TestGateway gw = gateway(backend, Map.of());
        SwitchboardClient ann = gw.connect(Tokens.user("u_occ1"));
        SwitchboardClient bob = gw.connect(Tokens.user("u_occ2"));
        for (int round = 0; round < 2; round++) {
            ann.subscribe("public:room").block(T);
            bob.subscribe("public:room").block(T);
            ann.unsubscribe("public:room").block(T);
            bob.unsubscribe("public:room").block(T);
        }
        ann.subscribe("public:room").block(T);
        closeNormally(ann);

        List<JsonNode> events = backend.await(6, ofChannel("public:room"), T);
        assertThat(events)
                .extracting(e -> e.get("type").asText())
                .containsExactly(
                        "channel.occupied",
                        "channel.vacated",
                        "channel.occupied",
                        "channel.vacated",
                        "channel.occupied",
                        "channel.vacated");
        assertThat(events).extracting(e -> e.get("node").asText()).containsOnly("gw-test");
        assertThat(events.stream().map(e -> e.get("id").asText()).distinct()).hasSize(6);
        closeNormally(bob);
        backend.await(2, ofUser("u_occ2"), T);
        assertThat(backend.distinct(channelEvents()))
                .as("no event for the users' inboxes (user:...)")
                .allMatch(e -> e.get("channel").asText().equals("public:room"));
        assertThat(backend.received().stream().filter(ofChannel("public:room")))
                .as("the embedded mode sends each once")
                .hasSize(6);
    }
}
