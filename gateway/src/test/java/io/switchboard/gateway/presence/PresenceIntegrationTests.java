package io.switchboard.gateway.presence;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jwt.JWTClaimsSet;
import io.micrometer.core.instrument.MeterRegistry;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardException;
import io.switchboard.testing.Await;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** Presence on one embedded gateway, through real WebSocket clients (docs/protocol.md section 10). */
class PresenceIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private static final String LOBBY = "public:lobby";

    private TestGateway gw;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
    }

    private TestGateway start(Map<String, String> env) {
        gw = TestGateway.start(env);
        return gw;
    }

    /** A client's join and leave frames, as they arrive. */
    private static List<ServerFrame> joinsAndLeaves(SwitchboardClient c) {
        List<ServerFrame> out = new CopyOnWriteArrayList<>();
        c.events()
                .filter(f -> f instanceof ServerFrame.Join || f instanceof ServerFrame.Leave)
                .subscribe(out::add);
        return out;
    }

    private static String token(String sub, Object info) {
        JWTClaimsSet claims = new JWTClaimsSet.Builder()
                .subject(sub)
                .expirationTime(Date.from(Instant.now().plusSeconds(600)))
                .claim("info", info)
                .build();
        return Tokens.sign(JWSAlgorithm.HS256, TestGateway.JWT_SECRET, claims);
    }

    private static List<String> users(ServerFrame.PresenceAck ack) {
        return ack.users().stream().map(ServerFrame.PresentUser::user).toList();
    }

    @Test
    @DisplayName("section 10: subscribe with presence makes a user present; joinLeave delivers join (with the token's"
            + " info) and leave; presence and presence.count answer")
    void joinLeaveAndReads() {
        start(Map.of());
        SwitchboardClient watcher = gw.connect();
        List<ServerFrame> seen = joinsAndLeaves(watcher);
        watcher.subscribe(LOBBY, null, true, true).block(T);
        String me = watcher.welcome().user();
        SwitchboardClient ann = gw.connect(token("u_ann", Map.of("name", "Ann")));

        ann.subscribe(LOBBY, null, true, false).block(T);

        Await.until("ann's join", T, () -> seen.contains(new ServerFrame.Join(LOBBY, "u_ann", "{\"name\":\"Ann\"}")));
        assertThat(seen.get(0)).as("its own join first").isEqualTo(new ServerFrame.Join(LOBBY, me, "{}"));
        ServerFrame.PresenceAck list = ann.presence(LOBBY).block(T);
        assertThat(list.count()).isEqualTo(2);
        assertThat(list.truncated()).isFalse();
        assertThat(users(list)).containsExactlyInAnyOrder(me, "u_ann");
        assertThat(list.users()).contains(new ServerFrame.PresentUser("u_ann", "{\"name\":\"Ann\"}"));
        assertThat(watcher.presenceCount(LOBBY).block(T)).isEqualTo(2);

        MeterRegistry meters = gw.gateway().metrics().registry();
        assertThat(meters.get("switchboard.presence.users")
                        .tag("scope", "instance")
                        .gauge()
                        .value())
                .isEqualTo(2);
        assertThat(meters.get("switchboard.presence.events")
                        .tag("kind", "join")
                        .counter()
                        .count())
                .isEqualTo(2);

        ann.unsubscribe(LOBBY).block(T);
        Await.until("ann's leave", T, () -> seen.contains(new ServerFrame.Leave(LOBBY, "u_ann")));
        assertThat(watcher.presenceCount(LOBBY).block(T)).isEqualTo(1);
        assertThat(seen).hasSize(3);
        assertThat(meters.get("switchboard.presence.users")
                        .tag("scope", "instance")
                        .gauge()
                        .value())
                .isEqualTo(1);
        assertThat(meters.get("switchboard.presence.events")
                        .tag("kind", "leave")
                        .counter()
                        .count())
                .isEqualTo(1);
    }

    @Test
    @DisplayName("section 10: the wire form of the presence reply, presence.count and match.stats is exact")
    void wireForm() {
        start(Map.of());
        SwitchboardClient c = gw.connect(token("u_ann", Map.of("name", "Ann")));
        c.subscribe(LOBBY, null, true, false).block(T);
        List<String> texts = new CopyOnWriteArrayList<>();
        c.events().subscribe(f -> texts.add(FrameCodec.encode(f)));
        c.sendText("{\"type\":\"presence\",\"id\":2,\"channel\":\"public:lobby\"}");
        c.sendText("{\"type\":\"presence.count\",\"id\":3,\"channel\":\"public:lobby\"}");

        ServerFrame.PresenceAck list = c.reply(id -> new ClientFrame.Presence(id, LOBBY), ServerFrame.PresenceAck.class)
                .block(T);
        assertThat(FrameCodec.encode(list))
                .isEqualTo("{\"type\":\"ack\",\"id\":" + list.id() + ",\"channel\":\"public:lobby\",\"count\":1,"
                        + "\"users\":[{\"user\":\"u_ann\",\"info\":{\"name\":\"Ann\"}}],\"truncated\":false}");
        Await.until("the raw replies", T, () -> texts.size() >= 2);
        assertThat(texts)
                .contains(
                        "{\"type\":\"ack\",\"id\":2,\"channel\":\"public:lobby\",\"count\":1,\"users\":[{\"user\":"
                                + "\"u_ann\",\"info\":{\"name\":\"Ann\"}}],\"truncated\":false}",
                        "{\"type\":\"ack\",\"id\":3,\"channel\":\"public:lobby\",\"count\":1}");
    }

    @Test
    @DisplayName("section 10: presence needs the right to subscribe (forbidden), user: channels have none, a bad"
            + " joinLeave is a bad_request naming the field")
    void readsNeedTheRightToSubscribe() {
        start(Map.of());
        SwitchboardClient c = gw.connect();

        assertThatThrownBy(() -> c.presence("room:secret").block(T))
                .isInstanceOf(SwitchboardException.class)
                .hasFieldOrPropertyWithValue("code", ErrorCodes.FORBIDDEN);
        assertThatThrownBy(() -> c.presenceCount("user:" + c.welcome().user()).block(T))
                .isInstanceOf(SwitchboardException.class)
                .hasFieldOrPropertyWithValue("code", ErrorCodes.FORBIDDEN)
                .hasMessageContaining("user: channels have no presence");
        List<ServerFrame.Error> errors = new CopyOnWriteArrayList<>();
        c.events().ofType(ServerFrame.Error.class).subscribe(errors::add);
        c.sendText("{\"type\":\"subscribe\",\"id\":9,\"channel\":\"public:lobby\",\"joinLeave\":\"yes\"}");
        Await.until("the error", T, () -> !errors.isEmpty());
        assertThat(errors.get(0).code()).isEqualTo(ErrorCodes.BAD_REQUEST);
        assertThat(errors.get(0).message()).contains("'joinLeave'");
        assertThat(c.presenceCount(LOBBY).block(T))
                .as("the bad subscribe did nothing")
                .isZero();
    }

    @Test
    @DisplayName("section 10: info must be a JSON object of at most 1 KiB, else the token is refused naming the claim")
    void infoClaimIsChecked() {
        start(Map.of());
        SwitchboardClient big = gw.open();
        assertThatThrownBy(() -> TestGateway.hello(big, token("u_big", Map.of("bio", "x".repeat(1100)))))
                .hasMessageContaining("claim 'info'");
        SwitchboardClient notObject = gw.open();
        assertThatThrownBy(() -> TestGateway.hello(notObject, token("u_str", "Ann")))
                .hasMessageContaining("claim 'info' must be a JSON object");
    }

    @Test
    @DisplayName("section 10: a dropped connection that resumes within the grace never leaves, and causes no second"
            + " join")
    void resumeWithinTheGraceDoesNotLeave() {
        start(Map.of());
        SwitchboardClient watcher = gw.connect();
        List<ServerFrame> seen = joinsAndLeaves(watcher);
        watcher.subscribe(LOBBY, null, false, true).block(T);
        SwitchboardClient bob = gw.connect(Tokens.user("u_bob"));
        ServerFrame.Welcome first = bob.welcome();
        bob.subscribe(LOBBY, null, true, false).block(T);
        Await.until("bob's join", T, () -> seen.size() == 1);

        bob.abort();
        SwitchboardClient again = gw.open();
        again.hello(new ClientFrame.Hello(1, Tokens.user("u_bob"), first.resume(), null, "test"))
                .block(T);
        again.subscribe(LOBBY, null, true, false).block(T);
        // a marker user joins after: once its join is here, anything bob's drop caused would be too
        gw.connect(Tokens.user("u_marker")).subscribe(LOBBY, null, true, false).block(T);
        Await.until("the marker's join", T, () -> seen.size() >= 2);

        assertThat(seen)
                .containsExactly(
                        new ServerFrame.Join(LOBBY, "u_bob", "{}"), new ServerFrame.Join(LOBBY, "u_marker", "{}"));
        assertThat(watcher.presenceCount(LOBBY).block(T)).isEqualTo(2);
    }

    @Test
    @DisplayName("section 10: a dropped connection that does not come back leaves when its resume grace runs out;"
            + " one closed normally leaves at once")
    void graceRunsOutOrNormalClose() {
        start(Map.of("SWITCHBOARD_RESUME_GRACE_MS", "1000"));
        SwitchboardClient watcher = gw.connect();
        List<ServerFrame> seen = joinsAndLeaves(watcher);
        watcher.subscribe(LOBBY, null, false, true).block(T);
        SwitchboardClient dropped = gw.connect(Tokens.user("u_dropped"));
        dropped.subscribe(LOBBY, null, true, false).block(T);
        SwitchboardClient closing = gw.connect(Tokens.user("u_closing"));
        closing.subscribe(LOBBY, null, true, false).block(T);
        Await.until("two joins", T, () -> seen.size() == 2);

        long droppedAt = System.nanoTime();
        dropped.abort();
        closing.close(1000, "bye").block(T);
        Await.until("u_closing's leave", T, () -> seen.contains(new ServerFrame.Leave(LOBBY, "u_closing")));
        assertThat(seen).doesNotContain(new ServerFrame.Leave(LOBBY, "u_dropped"));
        Await.until("u_dropped's leave", T, () -> seen.contains(new ServerFrame.Leave(LOBBY, "u_dropped")));

        assertThat(Duration.ofNanos(System.nanoTime() - droppedAt))
                .as("not before the grace")
                .isGreaterThanOrEqualTo(Duration.ofMillis(900));
        assertThat(watcher.presenceCount(LOBBY).block(T)).isZero();
    }

    @Test
    @DisplayName("SWITCHBOARD_PRESENCE_EVENTS_MAX: above it a channel sends no join or leave; counts stay exact")
    void eventsCap() {
        start(Map.of("SWITCHBOARD_PRESENCE_EVENTS_MAX", "2"));
        SwitchboardClient watcher = gw.connect(Tokens.user("u_watcher"));
        List<ServerFrame> seen = joinsAndLeaves(watcher);
        watcher.subscribe(LOBBY, null, true, true).block(T);
        gw.connect(Tokens.user("u_2")).subscribe(LOBBY, null, true, false).block(T);
        gw.connect(Tokens.user("u_3")).subscribe(LOBBY, null, true, false).block(T);
        SwitchboardClient other = gw.connect();
        List<ServerFrame> elsewhere = joinsAndLeaves(other);
        other.subscribe("public:marker", null, true, true).block(T);
        Await.until("the marker's join", T, () -> elsewhere.size() == 1);

        assertThat(seen)
                .containsExactly(
                        new ServerFrame.Join(LOBBY, "u_watcher", "{}"), new ServerFrame.Join(LOBBY, "u_2", "{}"));
        assertThat(watcher.presenceCount(LOBBY).block(T)).isEqualTo(3);
    }

    @Test
    @DisplayName("what a connection makes the gateway hold for presence goes with it: holders and join/leave"
            + " listeners, after an unsubscribe and after a normal close")
    void nothingIsHeldAfterwards() {
        start(Map.of());
        PresenceService presence = gw.gateway().presence();
        SwitchboardClient a = gw.connect();
        SwitchboardClient b = gw.connect();
        for (int i = 0; i < 20; i++) {
            a.subscribe("public:room-" + i, null, true, true).block(T);
            b.subscribe("public:room-" + i, null, true, true).block(T);
        }
        assertThat(presence.holders()).isEqualTo(40);
        assertThat(presence.listenedChannels()).isEqualTo(20);

        for (int i = 0; i < 20; i++) {
            a.unsubscribe("public:room-" + i).block(T);
        }
        b.close(1000, "bye").block(T);

        Await.until("nothing held", T, () -> presence.holders() == 0 && presence.listenedChannels() == 0);
        assertThat(a.presenceCount("public:room-0").block(T)).isZero();
    }

    @Test
    @DisplayName("section 10: match.stats answers users online and users waiting in the random-connect queue")
    void matchStats() {
        start(Map.of());
        SwitchboardClient a = gw.connect();
        gw.connect();
        a.request(id -> new ClientFrame.MatchJoin(id, List.of("chess"))).block(T);

        Await.until("2 online, 1 waiting", T, () -> {
            ServerFrame.StatsAck s = a.matchStats().block(T);
            return s.online() == 2 && s.waiting() == 1;
        });
    }

    @Test
    @DisplayName("section 9 and 10: GET /api/presence answers as presence; GET /api/online says who is connected;"
            + " a bad call is a 400 naming the parameter")
    void httpApi() throws Exception {
        start(Map.of());
        SwitchboardClient ann = gw.connect(token("u_ann", Map.of("name", "Ann")));
        ann.subscribe(LOBBY, null, true, false).block(T);

        HttpResponse<String> presence = gw.get("/api/presence?channel=public:lobby", TestGateway.API_KEY);
        assertThat(presence.statusCode()).isEqualTo(200);
        JsonNode p = FrameCodec.mapper().readTree(presence.body());
        assertThat(p.path("count").asLong()).isEqualTo(1);
        assertThat(p.path("truncated").asBoolean(true)).isFalse();
        assertThat(p.path("users").get(0).path("user").asText()).isEqualTo("u_ann");
        assertThat(p.path("users").get(0).path("info").path("name").asText()).isEqualTo("Ann");

        HttpResponse<String> online = gw.get("/api/online?user=u_ann&user=u_nobody", TestGateway.API_KEY);
        assertThat(online.statusCode()).isEqualTo(200);
        assertThat(FrameCodec.mapper().readTree(online.body()))
                .isEqualTo(FrameCodec.mapper().readTree("{\"online\":{\"u_ann\":true,\"u_nobody\":false}}"));

        HttpResponse<String> noChannel = gw.get("/api/presence", TestGateway.API_KEY);
        assertThat(noChannel.statusCode()).isEqualTo(400);
        assertThat(FrameCodec.mapper().readTree(noChannel.body()).path("field").asText())
                .isEqualTo("channel");
        HttpResponse<String> inbox = gw.get("/api/presence?channel=user:u_ann", TestGateway.API_KEY);
        assertThat(inbox.statusCode()).isEqualTo(400);
        StringBuilder many = new StringBuilder("/api/online?user=u_0");
        for (int i = 1; i <= 100; i++) {
            many.append("&user=u_").append(i);
        }
        HttpResponse<String> tooMany = gw.get(many.toString(), TestGateway.API_KEY);
        assertThat(tooMany.statusCode()).isEqualTo(400);
        assertThat(FrameCodec.mapper().readTree(tooMany.body()).path("field").asText())
                .isEqualTo("user");
        assertThat(gw.get("/api/online?user=u_ann").statusCode()).isEqualTo(401);
    }
}
