package io.switchboard.gateway.events;

import static io.switchboard.gateway.support.WebhookBackend.ofUser;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.micrometer.core.instrument.MeterRegistry;
import io.switchboard.gateway.cluster.RedisEventLog;
import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.GatewayProcess;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.gateway.support.WebhookBackend;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardClientOptions;
import io.switchboard.testing.Await;
import io.switchboard.testing.net.TcpProxy;
import io.switchboard.testing.redis.RedisExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Webhook events in the cluster mode (docs/protocol.md section 11, docs/operations.md): Redis streams shared by
 * the instances through a consumer group, at least once across a backend outage and an instance killed with
 * SIGKILL, and the {@code node_lost} disconnections of a dead instance's users.
 */
class ClusterWebhookEventsIntegrationTests {
    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    private static final Duration T = Duration.ofSeconds(40);
    /** Longer than the backoff a delivery that failed for some seconds may be in, plus a loaded machine's delays. */
    private static final Duration AFTER_BACKOFF = Duration.ofSeconds(90);
    /** A short lease and grace, so that a dead instance is noticed within seconds. */
    private static final Map<String, String> FAST = Map.of(
            "SWITCHBOARD_NODE_LEASE_MS", "3000",
            "SWITCHBOARD_RESUME_GRACE_MS", "1000");

    @RegisterExtension
    final Closing closing = new Closing();

    private WebhookBackend backend() {
        WebhookBackend b = WebhookBackend.start();
        closing.keep(b);
        return b;
    }

    private Map<String, String> env(WebhookBackend backend, Map<String, String> extra) {
        Map<String, String> env = new HashMap<>(backend.env());
        env.putAll(FAST);
        env.putAll(extra);
        return env;
    }

    private TestGateway instance(String node, WebhookBackend backend, Map<String, String> extra) {
        TestGateway gw = TestGateway.startClustered(redis.server().uri(), node, env(backend, extra));
        closing.keep(gw);
        return gw;
    }

    private static void closeNormally(SwitchboardClient c) {
        c.close(1000, "bye").block(T);
    }

    private static List<String> lines(List<JsonNode> events) {
        return events.stream()
                .map(e -> e.get("type").asText() + " " + e.get("session").asText() + " "
                        + e.path("reason").asText())
                .toList();
    }

    @Test
    @DisplayName("section 11: two instances share the delivery; each user's events arrive in order, a resume on the"
            + " other instance continues the session")
    void twoInstancesInOrderPerUser() {
        WebhookBackend backend = backend();
        TestGateway a = instance("gw-a", backend, Map.of());
        TestGateway b = instance("gw-b", backend, Map.of());
        Map<String, List<String>> expected = new HashMap<>();
        for (int round = 0; round < 3; round++) {
            for (int u = 0; u < 8; u++) {
                String user = "u_" + u;
                TestGateway gw = (round + u) % 2 == 0 ? a : b;
                SwitchboardClient c = gw.connect(Tokens.user(user));
                String s = c.welcome().session();
                // stored before the user's next connection (on the other instance) opens
                WebhookBackend.closeStored(gw, c, user, T);
                expected.computeIfAbsent(user, k -> new ArrayList<>()).add("user.connected " + s + " ");
                expected.get(user).add("user.disconnected " + s + " closed");
            }
        }
        SwitchboardClient first = a.connect(Tokens.user("u_roam"));
        ServerFrame.Welcome w = first.welcome();
        first.abort();
        Await.until("the drop to be noticed", T, () -> a.gateway().registry().local("u_roam") == null);
        SwitchboardClient again = b.open();
        assertThat(again.hello(new ClientFrame.Hello(1, Tokens.user("u_roam"), w.resume(), null, "test"))
                        .block(T)
                        .resumed())
                .isTrue();
        closeNormally(again);

        for (Map.Entry<String, List<String>> e : expected.entrySet()) {
            assertThat(lines(backend.await(6, ofUser(e.getKey()), T)))
                    .as(e.getKey())
                    .containsExactlyElementsOf(e.getValue());
        }
        assertThat(lines(backend.await(2, ofUser("u_roam"), T)))
                .containsExactly("user.connected " + w.session() + " ", "user.disconnected " + w.session() + " closed");
        Await.until(
                "the shards shared",
                T,
                () -> ownedShards(a) + ownedShards(b) == RedisEventLog.SHARDS
                        && ownedShards(a) > 0
                        && ownedShards(b) > 0);
        assertThat(backend.badSignatures()).isEmpty();
    }

    /** What the survivor's shards do, what the streams hold, and what the backend got: why events did not come. */
    private static String diagnostics(TestGateway gw, WebhookBackend backend) {
        StringBuilder b =
                new StringBuilder(((RedisEventLog) gw.gateway().events().log()).describe());
        for (int i = 0; i < RedisEventLog.SHARDS; i++) {
            b.append("stream ")
                    .append(i)
                    .append(": len ")
                    .append(redis.server().cli("XLEN", "sb:{ev:" + i + "}:s").trim())
                    .append(", pending ")
                    .append(redis.server()
                            .cli("XPENDING", "sb:{ev:" + i + "}:s", "deliver")
                            .replace('\n', ' '))
                    .append(", lease ")
                    .append(redis.server().cli("GET", "sb:{ev:" + i + "}:l").trim())
                    .append('\n');
        }
        return b.append("backend: posts ")
                .append(backend.posts())
                .append(", refused ")
                .append(backend.refused())
                .append(", events ")
                .append(backend.distinct().stream()
                        .map(e -> e.path("user").asText() + " " + e.path("type").asText() + " "
                                + e.path("reason").asText())
                        .toList())
                .toString();
    }

    /** How many connections the session index of {@code node}'s (one) incarnation holds. */
    private static long indexed(String node) {
        return redis.server()
                .cli("KEYS", "sb:en:{" + node + "#*")
                .lines()
                .filter(k -> !k.isBlank())
                .mapToLong(
                        k -> Long.parseLong(redis.server().cli("HLEN", k.trim()).trim()))
                .sum();
    }

    private static int ownedShards(TestGateway gw) {
        return ((RedisEventLog) gw.gateway().events().log()).ownedShards();
    }

    @Test
    @DisplayName("section 11: across a backend outage every event of the cluster is delivered once it is back,"
            + " duplicates only by id")
    void backendOutage() {
        WebhookBackend backend = backend();
        backend.failing(true);
        TestGateway a = instance("gw-a", backend, Map.of());
        TestGateway b = instance("gw-b", backend, Map.of());
        for (int u = 0; u < 10; u++) {
            closeNormally((u % 2 == 0 ? a : b).connect(Tokens.user("u_out" + u)));
        }
        Await.until("refused POSTs", T, () -> backend.refused() >= 2);
        Await.until(
                "the backlog in /health",
                T,
                () -> a.health()
                                .path("dependencies")
                                .path("webhooks")
                                .path("backlog")
                                .asLong()
                        == 20);
        backend.failing(false);
        List<JsonNode> events = backend.await(20, e -> e.path("user").asText().startsWith("u_out"), T);
        assertThat(events).hasSize(20);
        for (int u = 0; u < 10; u++) {
            assertThat(backend.distinct(ofUser("u_out" + u)))
                    .extracting(e -> e.get("type").asText())
                    .containsExactly("user.connected", "user.disconnected");
        }
        Await.until(
                "the backlog emptied",
                T,
                () -> a.health()
                                .path("dependencies")
                                .path("webhooks")
                                .path("backlog")
                                .asLong()
                        == 0);
    }

    @Test
    @DisplayName("section 11: an instance killed with SIGKILL: a survivor delivers what it left undelivered, and ends"
            + " its users' sessions with node_lost, but not a session resumed elsewhere")
    void killedInstance() throws Exception {
        WebhookBackend backend = backend();
        backend.failing(true);
        GatewayProcess doomed = GatewayProcess.start(redis.server().uri(), "gw-doomed", env(backend, Map.of()));
        closing.keep(doomed);
        doomed.awaitReady(T);
        TestGateway survivor = instance("gw-survivor", backend, Map.of());
        List<String> sessions = new ArrayList<>();
        List<SwitchboardClient> clients = new ArrayList<>();
        for (int u = 0; u < 6; u++) {
            SwitchboardClient c = SwitchboardClient.connect(SwitchboardClientOptions.of(doomed.wsUri())
                            .withToken(Tokens.user("u_k" + u))
                            .withConnectTimeout(T))
                    .block(T);
            clients.add(c);
            sessions.add(c.welcome().session());
        }
        // the doomed instance tries to deliver (and fails) what it read: its consumer holds pending entries
        Await.until("refused POSTs", T, () -> backend.refused() >= 2);
        Await.until(
                "the doomed instance's consumer holding events it read and could not deliver",
                T,
                () -> IntStream.range(0, RedisEventLog.SHARDS)
                        .anyMatch(i -> redis.server()
                                .cli("XPENDING", "sb:{ev:" + i + "}:s", "deliver")
                                .contains("gw-doomed#")));
        SwitchboardClient roaming = clients.get(5);
        ServerFrame.Welcome roamed = roaming.welcome();

        doomed.kill();
        // u_k5 resumes on the survivor before the grace: its session goes on there, and is not lost
        SwitchboardClient resumed = survivor.open();
        assertThat(resumed.hello(new ClientFrame.Hello(1, Tokens.user("u_k5"), roamed.resume(), null, "test"))
                        .block(T)
                        .resumed())
                .isTrue();
        backend.failing(false);

        for (int u = 0; u < 5; u++) {
            List<JsonNode> got;
            try {
                got = backend.await(2, ofUser("u_k" + u), AFTER_BACKOFF);
            } catch (AssertionError e) {
                throw new AssertionError(e.getMessage() + "\n" + diagnostics(survivor, backend), e);
            }
            assertThat(lines(got))
                    .as("u_k" + u)
                    .containsExactly(
                            "user.connected " + sessions.get(u) + " ",
                            "user.disconnected " + sessions.get(u) + " node_lost");
            JsonNode lost = backend.distinct(ofUser("u_k" + u)).get(1);
            assertThat(lost.get("node").asText()).isEqualTo("gw-doomed");
        }
        closeNormally(resumed);
        assertThat(lines(backend.await(2, ofUser("u_k5"), T)))
                .containsExactly(
                        "user.connected " + sessions.get(5) + " ", "user.disconnected " + sessions.get(5) + " closed");
        Await.until("the survivor delivering every shard", T, () -> ownedShards(survivor) == RedisEventLog.SHARDS);
    }

    @Test
    @DisplayName("section 11: sessions an instance opened while it could not reach Redis still end with node_lost"
            + " when it dies: what it could not write then it writes once Redis answers")
    void sessionsOpenedWithoutRedisEndWithNodeLost() throws Exception {
        WebhookBackend backend = backend();
        TcpProxy toRedis = TcpProxy.to(redis.server().port());
        closing.keep(toRedis);
        toRedis.refuse();
        GatewayProcess doomed =
                GatewayProcess.start("redis://127.0.0.1:" + toRedis.port(), "gw-doomed", env(backend, Map.of()));
        closing.keep(doomed);
        instance("gw-survivor", backend, Map.of());
        List<String> sessions = new ArrayList<>();
        for (int u = 0; u < 3; u++) {
            // served while Redis is away: the welcome comes, the session's records cannot be written yet
            SwitchboardClient c = SwitchboardClient.connect(SwitchboardClientOptions.of(doomed.wsUri())
                            .withToken(Tokens.user("u_nr" + u))
                            .withConnectTimeout(T))
                    .block(T);
            closing.<AutoCloseable>keep(c::abort);
            sessions.add(c.welcome().session());
        }
        assertThat(backend.posts())
                .as("nothing written or sent while Redis is away")
                .isZero();
        toRedis.accept();
        // Redis answers: the held user.connected events are written, and delivered
        backend.await(3, e -> e.path("user").asText().startsWith("u_nr"), T);
        Await.until("the sessions written into the doomed instance's index", T, () -> indexed("gw-doomed") == 3);
        doomed.kill();
        for (int u = 0; u < 3; u++) {
            assertThat(lines(backend.await(2, ofUser("u_nr" + u), T)))
                    .as("u_nr" + u)
                    .containsExactly(
                            "user.connected " + sessions.get(u) + " ",
                            "user.disconnected " + sessions.get(u) + " node_lost");
        }
    }

    @Test
    @DisplayName("section 11: beyond SWITCHBOARD_WEBHOOK_BACKLOG (split over the shards) the oldest are dropped and"
            + " counted")
    void backlogBound() {
        WebhookBackend backend = backend();
        backend.failing(true);
        // 32 over 16 shards: a shard keeps 2 events, and one user's events are all in one shard
        TestGateway gw = instance("gw-a", backend, Map.of("SWITCHBOARD_WEBHOOK_BACKLOG", "32"));
        List<String> sessions = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            SwitchboardClient c = gw.connect(Tokens.user("u_full"));
            sessions.add(c.welcome().session());
            WebhookBackend.closeStored(gw, c, "u_full", T);
        }
        MeterRegistry m = gw.gateway().metrics().registry();
        Await.until(
                "4 drops",
                T,
                () -> m.get("switchboard.webhook.events.dropped").counter().count() == 4);
        backend.failing(false);
        assertThat(lines(backend.await(2, ofUser("u_full"), T)))
                .as("the newest two, the oldest dropped")
                .containsExactly(
                        "user.connected " + sessions.get(2) + " ", "user.disconnected " + sessions.get(2) + " closed");
        Await.until(
                "the backlog emptied",
                T,
                () -> gw.health()
                                .path("dependencies")
                                .path("webhooks")
                                .path("backlog")
                                .asLong()
                        == 0);
        assertThat(backend.distinct(ofUser("u_full"))).hasSize(2);
    }
}
