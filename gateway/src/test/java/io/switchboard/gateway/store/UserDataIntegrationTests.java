package io.switchboard.gateway.store;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import io.micrometer.core.instrument.Counter;
import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import io.switchboard.testing.mongo.MongoFixture;
import io.switchboard.testing.net.TcpProxy;
import io.switchboard.testing.redis.RedisExtension;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

/**
 * Blocks and match history kept in MongoDB (issue 6) through the whole gateway: restarts, two instances, 500
 * matches, {@code /api/matches}, a MongoDB outage in the middle of matching, and a MongoDB that cannot be reached
 * at start-up.
 */
class UserDataIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;

    @RegisterExtension
    static final MongoFixture.Extension mongoDb = MongoFixture.perClass();

    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    @RegisterExtension
    final Closing closing = new Closing();

    private TestGateway gateway(String mongoUri, String... more) {
        Map<String, String> env = new HashMap<>(Map.of(
                "MONGODB_URI",
                mongoUri,
                "SWITCHBOARD_AVOID_RECENT",
                "0",
                "SWITCHBOARD_MONGODB_TIMEOUT_MS",
                "500",
                "SWITCHBOARD_RATE",
                "100000",
                "SWITCHBOARD_BURST",
                "100000"));
        for (int i = 0; i < more.length; i += 2) {
            env.put(more[i], more[i + 1]);
        }
        return closing.keep(TestGateway.start(env));
    }

    /**
     * Waits for the gateway's start-up indexes: mongo-java-server's in-memory collections are not safe against an
     * index created while documents are written (MongoDB is), so a test that writes at once waits for them.
     */
    private static void awaitIndexes(String uri) {
        Await.until(
                "the gateway's MongoDB indexes",
                T,
                () -> MongoIndexes.names(uri, "matches").contains("users_1_started_-1"));
    }

    /** A connected token user with its events recorded. */
    private record User(String id, SwitchboardClient client, EventRecorder events) {
        ServerFrame.Ack join() {
            return client.request(n -> new ClientFrame.MatchJoin(n, List.of())).block(T);
        }

        ServerFrame.Ack leave() {
            return client.request(ClientFrame.MatchLeave::new).block(T);
        }

        ServerFrame.Ack block(String other) {
            return client.request(n -> new ClientFrame.Block(n, other)).block(T);
        }
    }

    private User user(TestGateway gw, String id) {
        SwitchboardClient c = closing.keep(gw.connect(Tokens.user(id)));
        return new User(id, c, EventRecorder.of(c));
    }

    /** x and y are matched, then x leaves; returns the match id. */
    private static String matchAndLeave(User x, User y) {
        x.join();
        y.join();
        String match = x.events().next(ServerFrame.MatchFound.class).match();
        assertThat(y.events().next(ServerFrame.MatchFound.class).match()).isEqualTo(match);
        x.leave();
        assertThat(y.events().next(ServerFrame.MatchEnded.class).match()).isEqualTo(match);
        return match;
    }

    private static JsonNode matches(TestGateway gw, String user, String limit) {
        HttpResponse<String> res = get(gw, "/api/matches?user=" + user + "&limit=" + limit, TestGateway.API_KEY);
        assertThat(res.statusCode()).as(res.body()).isEqualTo(200);
        return json(res.body());
    }

    private static HttpResponse<String> get(TestGateway gw, String path, String apiKey) {
        return gw.get(path, apiKey);
    }

    private static JsonNode json(String body) {
        try {
            return FrameCodec.mapper().readTree(body);
        } catch (Exception e) {
            throw new AssertionError(body, e);
        }
    }

    private static List<String> newestFirst(List<String> made) {
        List<String> out = new ArrayList<>(made);
        Collections.reverse(out);
        return out;
    }

    /** How many of the user's matches are recorded whole; -1 while the history cannot be read. */
    private static int recorded(TestGateway gw, String user) {
        HttpResponse<String> res = get(gw, "/api/matches?user=" + user + "&limit=500", TestGateway.API_KEY);
        return res.statusCode() == 200 ? complete(json(res.body())) : -1;
    }

    private static int complete(JsonNode history) {
        int n = 0;
        for (JsonNode m : history.path("matches")) {
            n += m.path("ended").isTextual() ? 1 : 0;
        }
        return n;
    }

    @Test
    @DisplayName("the history is complete and ordered after 500 matches: newest first, both users, start, end,"
            + " reason, instance")
    void fiveHundredMatches() {
        String uri = mongoDb.get().uri(MongoFixture.freshDatabase("five"));
        TestGateway gw = gateway(uri);
        awaitIndexes(uri);
        User x = user(gw, "u_x");
        User y = user(gw, "u_y");
        List<String> made = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            made.add(matchAndLeave(x, y));
        }

        Await.until("500 complete records", Duration.ofSeconds(30), () -> recorded(gw, "u_x") == 500);
        JsonNode history = matches(gw, "u_x", "500").path("matches");

        List<String> ids = new ArrayList<>();
        Instant previousStart = null;
        for (JsonNode m : history) {
            ids.add(m.path("match").asText());
            assertThat(m.path("partner").asText()).isEqualTo("u_y");
            assertThat(m.path("reason").asText()).isEqualTo("left");
            assertThat(m.path("node").asText()).isEqualTo("gw-test");
            Instant started = Instant.parse(m.path("started").asText());
            assertThat(Instant.parse(m.path("ended").asText()))
                    .isAfterOrEqualTo(started.truncatedTo(ChronoUnit.MILLIS));
            if (previousStart != null) {
                assertThat(started).isBefore(previousStart);
            }
            previousStart = started;
        }
        assertThat(ids).isEqualTo(newestFirst(made));
        assertThat(matches(gw, "u_y", "3").path("matches"))
                .extracting(m -> m.path("match").asText())
                .containsExactlyElementsOf(newestFirst(made).subList(0, 3));
    }

    @Test
    @DisplayName("GET /api/matches: API key required; user and limit checked, 400 naming the field")
    void matchesApiChecksItsInput() {
        String uri = mongoDb.get().uri(MongoFixture.freshDatabase("api"));
        TestGateway gw = gateway(uri);
        // before MongoDB is up (and its indexes in place) the history answers 503, which is not what is tested here
        awaitIndexes(uri);

        assertThat(get(gw, "/api/matches?user=u1", null).statusCode()).isEqualTo(401);
        assertThat(get(gw, "/api/matches?user=u1", "wrong").statusCode()).isEqualTo(401);
        for (String bad : List.of("0", "501", "-3", "ten", "1.5")) {
            HttpResponse<String> res = get(gw, "/api/matches?user=u1&limit=" + bad, TestGateway.API_KEY);
            assertThat(res.statusCode()).as("limit=%s", bad).isEqualTo(400);
            assertThat(json(res.body()).path("field").asText()).isEqualTo("limit");
        }
        HttpResponse<String> noUser = get(gw, "/api/matches?limit=5", TestGateway.API_KEY);
        assertThat(noUser.statusCode()).isEqualTo(400);
        assertThat(json(noUser.body()).path("field").asText()).isEqualTo("user");
        JsonNode none =
                json(get(gw, "/api/matches?user=u_nobody", TestGateway.API_KEY).body());
        assertThat(none.path("user").asText()).isEqualTo("u_nobody");
        assertThat(none.path("matches").isArray()).isTrue();
        assertThat(none.path("matches")).isEmpty();
    }

    @Test
    @DisplayName("blocks survive a restart of the gateway (closing writes the buffer first): the two are never"
            + " matched again, in either direction")
    void blocksSurviveARestart() {
        String uri = mongoDb.get().uri(MongoFixture.freshDatabase("restart"));
        TestGateway first = gateway(uri);
        User u1 = user(first, "u_1");
        user(first, "u_2").block("u_1");
        first.close(); // at once: closing writes what is buffered first

        TestGateway second = gateway(uri);
        User a = user(second, "u_1");
        User b = user(second, "u_2");
        User c = user(second, "u_3");
        a.join();
        b.join();
        c.join();

        ServerFrame.MatchFound found = c.events().next(ServerFrame.MatchFound.class);
        assertThat(found.partner())
                .as("u_3 is matched with the longest waiting, u_1")
                .isEqualTo("u_1");
        assertThat(a.events().next(ServerFrame.MatchFound.class).partner()).isEqualTo("u_3");
        assertThat(u1.client().isClosed()).isTrue();
    }

    @Test
    @DisplayName("blocks hold across two instances even when Redis lost them")
    void blocksHoldAcrossInstances() {
        String uri = mongoDb.get().uri(MongoFixture.freshDatabase("cluster"));
        Map<String, String> env =
                Map.of("MONGODB_URI", uri, "SWITCHBOARD_AVOID_RECENT", "0", "SWITCHBOARD_MONGODB_TIMEOUT_MS", "500");
        TestGateway a = closing.keep(TestGateway.startClustered(redis.server().uri(), "gw-a", env));
        TestGateway b = closing.keep(TestGateway.startClustered(redis.server().uri(), "gw-b", env));
        user(a, "u_p").block("u_q");
        Await.until(
                "the block stored",
                T,
                () -> a.gateway().store().blocksOf("u_q").block(T).contains("u_p"));
        redis.server().cli("FLUSHALL");

        User p = user(a, "u_p");
        User q = user(b, "u_q");
        User r = user(b, "u_r");
        p.join();
        q.join();
        r.join();

        assertThat(r.events().next(ServerFrame.MatchFound.class).partner()).isEqualTo("u_p");
        assertThat(p.events().next(ServerFrame.MatchFound.class).partner()).isEqualTo("u_r");
    }

    @Test
    @DisplayName("MongoDB down in the middle of matching: matching goes on, DEGRADED, reads 503, and every record"
            + " buffered meanwhile lands after recovery")
    void outageInTheMiddleOfMatching() {
        TcpProxy proxy = closing.keep(TcpProxy.to(mongoDb.get().port()));
        TestGateway gw = gateway(MongoFixture.uri("127.0.0.1", proxy.port(), MongoFixture.freshDatabase("outage")));
        Await.until("MongoDB up", T, () -> gw.health().path("status").asText().equals("UP"));
        User x = user(gw, "u_ox");
        User y = user(gw, "u_oy");
        List<String> made = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            made.add(matchAndLeave(x, y));
        }

        proxy.refuse();
        proxy.cutAll();
        long cutAt = System.nanoTime();
        Await.until(
                "DEGRADED",
                Duration.ofSeconds(5),
                () -> gw.health().path("status").asText().equals("DEGRADED"));
        assertThat((System.nanoTime() - cutAt) / 1_000_000).as("ms to DEGRADED").isLessThan(5_000);
        assertThat(gw.health()
                        .path("dependencies")
                        .path("mongodb")
                        .path("status")
                        .asText())
                .isEqualTo("DOWN");
        for (int i = 0; i < 30; i++) {
            made.add(matchAndLeave(x, y));
        }
        HttpResponse<String> read = get(gw, "/api/matches?user=u_ox", TestGateway.API_KEY);
        assertThat(read.statusCode()).isEqualTo(503);
        assertThat(json(read.body()).path("error").asText()).isEqualTo("unavailable");

        proxy.accept();
        Await.until(
                "UP again",
                Duration.ofSeconds(10),
                () -> gw.health().path("status").asText().equals("UP"));
        Await.until("every match recorded", Duration.ofSeconds(20), () -> recorded(gw, "u_ox") == 50);
        List<String> ids = new ArrayList<>();
        matches(gw, "u_ox", "500")
                .path("matches")
                .forEach(m -> ids.add(m.path("match").asText()));
        assertThat(ids).isEqualTo(newestFirst(made));
        assertThat(gw.gateway()
                        .metrics()
                        .registry()
                        .get("switchboard.store.writes.dropped")
                        .counter()
                        .count())
                .isZero();
    }

    @Test
    @DisplayName("a MongoDB that stops answering holds a join up for 250 ms at most; matching goes on")
    void slowStoreNeverHoldsMatchingUp() {
        TcpProxy proxy = closing.keep(TcpProxy.to(mongoDb.get().port()));
        TestGateway gw = gateway(
                MongoFixture.uri("127.0.0.1", proxy.port(), MongoFixture.freshDatabase("slow")),
                "SWITCHBOARD_MONGODB_TIMEOUT_MS",
                "5000");
        Await.until("MongoDB up", T, () -> gw.health().path("status").asText().equals("UP"));

        proxy.stall();
        User a = user(gw, "u_slow1");
        User b = user(gw, "u_slow2");
        long start = System.nanoTime();
        a.join();
        b.join();
        long joinedMs = (System.nanoTime() - start) / 1_000_000;
        ServerFrame.MatchFound found = a.events().next(ServerFrame.MatchFound.class);
        proxy.unstall();

        assertThat(found.partner()).isEqualTo("u_slow2");
        assertThat(joinedMs)
                .as("two joins, each waiting 250 ms at most, not the 5 s store timeout")
                .isLessThan(2_500);
    }

    @Test
    @DisplayName("when the buffer overflows during an outage the oldest records are dropped, counted and logged")
    void bufferOverflowIsCounted() {
        TcpProxy proxy = closing.keep(TcpProxy.to(mongoDb.get().port()));
        TestGateway gw = gateway(
                MongoFixture.uri("127.0.0.1", proxy.port(), MongoFixture.freshDatabase("full")),
                "SWITCHBOARD_MONGODB_BUFFER",
                "20");
        Await.until("MongoDB up", T, () -> gw.health().path("status").asText().equals("UP"));
        ListAppender<ILoggingEvent> logs = capture(StoreWriter.class);
        User x = user(gw, "u_fx");
        User y = user(gw, "u_fy");

        proxy.refuse();
        proxy.cutAll();
        Await.until(
                "DEGRADED",
                Duration.ofSeconds(5),
                () -> gw.health().path("status").asText().equals("DEGRADED"));
        List<String> made = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            made.add(matchAndLeave(x, y));
        }
        Counter dropped = gw.gateway()
                .metrics()
                .registry()
                .get("switchboard.store.writes.dropped")
                .counter();
        Await.until(
                "60 records (a start and an end per match) for 20 places: 40 dropped",
                T,
                () -> dropped.count() == 40.0);
        proxy.accept();
        Await.until("the buffer written", Duration.ofSeconds(20), () -> recorded(gw, "u_fx") >= 10);

        List<String> kept = new ArrayList<>();
        matches(gw, "u_fx", "500")
                .path("matches")
                .forEach(m -> kept.add(m.path("match").asText()));
        assertThat(kept)
                .as("the newest 10 matches, whole")
                .isEqualTo(newestFirst(made).subList(0, 10));
        assertThat(logs.list)
                .filteredOn(e -> e.getFormattedMessage().contains("write buffer full"))
                .hasSize(1);
        Await.until(
                "the recovery line",
                T,
                () -> logs.list.stream().anyMatch(e -> e.getFormattedMessage().contains("40 records were dropped")));
    }

    @Test
    @DisplayName("MongoDB that cannot be resolved at start-up: the gateway starts DEGRADED, with one line naming"
            + " the host and the cause")
    void unreachableAtStartUp() {
        ListAppender<ILoggingEvent> logs = capture(MongoUserStore.class);
        TestGateway gw = gateway("mongodb://nosuchhost.invalid:27017/switchboard");
        MongoUserStore store = (MongoUserStore) gw.gateway().store();
        Await.until(
                "the cause",
                T,
                () -> gw.health()
                        .path("dependencies")
                        .path("mongodb")
                        .path("detail")
                        .asText()
                        .contains("UnknownHostException"));
        long seen = store.probes();
        Await.until("three more probes", T, () -> store.probes() >= seen + 3);

        JsonNode health = gw.health();
        assertThat(health.path("status").asText()).isEqualTo("DEGRADED");
        assertThat(health.path("dependencies").path("mongodb").path("detail").asText())
                .contains("nosuchhost.invalid:27017");
        assertThat(gw.get("/health/ready").statusCode())
                .as("MongoDB is not needed to serve")
                .isEqualTo(200);
        assertThat(logs.list).hasSize(1);
        assertThat(logs.list.get(0).getFormattedMessage())
                .startsWith("MongoDB at nosuchhost.invalid:27017 is down:")
                .contains("UnknownHostException");
        // matching and messaging go on
        User a = user(gw, "u_s1");
        User b = user(gw, "u_s2");
        assertThat(matchAndLeave(a, b)).startsWith("m_");
    }

    private ListAppender<ILoggingEvent> capture(Class<?> source) {
        ListAppender<ILoggingEvent> logs = new ListAppender<>();
        logs.start();
        Logger logger = (Logger) LoggerFactory.getLogger(source);
        logger.addAppender(logs);
        closing.keep(() -> logger.detachAppender(logs));
        return logs;
    }
}
