package io.switchboard.gateway.events;

import static io.switchboard.gateway.support.WebhookBackend.channelEvents;
import static io.switchboard.gateway.support.WebhookBackend.ofChannel;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.GatewayProcess;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.gateway.support.WebhookBackend;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardClientOptions;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code channel.occupied} and {@code channel.vacated} in the cluster mode (docs/protocol.md section 11,
 * docs/operations.md): first subscriber in and last one out over every instance, decided in Redis; a killed
 * instance's channels vacated by a survivor; Redis restarted empty under subscribers that stay.
 */
class ClusterChannelEventsIntegrationTests {
    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    private static final Duration T = Duration.ofSeconds(40);
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

    private Map<String, String> env(WebhookBackend backend) {
        Map<String, String> env = new HashMap<>(backend.env());
        env.putAll(FAST);
        return env;
    }

    private TestGateway instance(String node, WebhookBackend backend) {
        TestGateway gw = TestGateway.startClustered(redis.server().uri(), node, env(backend));
        closing.keep(gw);
        return gw;
    }

    private static List<String> lines(List<JsonNode> events) {
        return events.stream()
                .map(e -> e.get("type").asText() + " " + e.get("node").asText())
                .toList();
    }

    /** The incarnations listed in the channel's hash in Redis. */
    private static List<String> holders(String channel) {
        String all = redis.server().cli("HKEYS", "sb:{" + channel + "}:o");
        return all.lines().filter(l -> l.startsWith("@")).toList();
    }

    private static boolean subscribed(SwitchboardClient c, String channel) {
        try {
            c.subscribe(channel).block(T);
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Test
    @DisplayName("section 11: the first subscriber on any instance occupies the channel, a second one on another"
            + " instance does not, the last one out anywhere vacates it")
    void firstAnywhereOccupiesLastAnywhereVacates() {
        WebhookBackend backend = backend();
        TestGateway a = instance("gw-a", backend);
        TestGateway b = instance("gw-b", backend);
        SwitchboardClient onA = a.connect(Tokens.user("u_c1"));
        SwitchboardClient onB = b.connect(Tokens.user("u_c2"));

        onA.subscribe("public:hall").block(T);
        // the ack comes once the event is in Redis: what B's subscribe would tell is stored before B's ack
        onB.subscribe("public:hall").block(T);
        assertThat(holders("public:hall")).hasSize(2);
        onA.unsubscribe("public:hall").block(T);
        onB.unsubscribe("public:hall").block(T);
        onA.subscribe("public:hall").block(T);

        List<JsonNode> events = backend.await(3, ofChannel("public:hall"), T);
        assertThat(lines(events))
                .containsExactly("channel.occupied gw-a", "channel.vacated gw-b", "channel.occupied gw-a");
        assertThat(events.stream().map(e -> e.get("id").asText()).distinct()).hasSize(3);
        assertThat(holders("public:hall")).hasSize(1);
        assertThat(backend.distinct(channelEvents()))
                .as("the users' inboxes are not channels here")
                .allMatch(e -> e.get("channel").asText().equals("public:hall"));
    }

    @Test
    @DisplayName("section 11: an instance killed with SIGKILL holding a channel's last subscribers: a survivor vacates"
            + " it, with the dead instance as node; a channel the survivor still holds stays occupied")
    void killedInstanceIsVacatedByASurvivor() throws Exception {
        WebhookBackend backend = backend();
        GatewayProcess doomed = GatewayProcess.start(redis.server().uri(), "gw-doomed", env(backend));
        closing.keep(doomed);
        TestGateway survivor = instance("gw-survivor", backend);
        SwitchboardClient there = SwitchboardClient.connect(SwitchboardClientOptions.of(doomed.wsUri())
                        .withToken(Tokens.user("u_k1"))
                        .withConnectTimeout(T))
                .block(T);
        // the new process may still be connecting to Redis: its subscribes answer unavailable until it is
        Await.until("the doomed instance subscribing", T, () -> subscribed(there, "public:alone"));
        there.subscribe("public:shared").block(T);
        SwitchboardClient here = survivor.connect(Tokens.user("u_k2"));
        here.subscribe("public:shared").block(T);
        backend.await(1, ofChannel("public:alone"), T);
        backend.await(1, ofChannel("public:shared"), T);

        doomed.kill();
        List<JsonNode> alone = backend.await(2, ofChannel("public:alone"), T);
        assertThat(lines(alone)).containsExactly("channel.occupied gw-doomed", "channel.vacated gw-doomed");
        Await.until(
                "the dead instance's list of channels reaped",
                T,
                () -> redis.server().cli("KEYS", "sb:ch:{gw-doomed#*").isBlank()
                        && holders("public:shared").size() == 1);

        here.unsubscribe("public:shared").block(T);
        List<JsonNode> shared = backend.await(2, ofChannel("public:shared"), T);
        assertThat(lines(shared))
                .as("not vacated when the dead instance was reaped: the survivor held it")
                .containsExactly("channel.occupied gw-doomed", "channel.vacated gw-survivor");
    }

    @Test
    @DisplayName("section 11: Redis restarted empty while subscribers stay: no event is told for it, the channels"
            + " are listed again, and the last one out vacates as before")
    void redisRestartedEmptyUnderSubscribers() {
        WebhookBackend backend = backend();
        TestGateway a = instance("gw-a", backend);
        TestGateway b = instance("gw-b", backend);
        SwitchboardClient onA = a.connect(Tokens.user("u_r1"));
        SwitchboardClient onB = b.connect(Tokens.user("u_r2"));
        onA.subscribe("public:x").block(T);
        onA.subscribe("public:y").block(T);
        onB.subscribe("public:x").block(T);
        List<String> before = new ArrayList<>();
        backend.await(1, ofChannel("public:x"), T)
                .forEach(e -> before.add(e.get("id").asText()));
        backend.await(1, ofChannel("public:y"), T)
                .forEach(e -> before.add(e.get("id").asText()));

        redis.server().restart();
        Await.until(
                "both instances telling Redis their channels again",
                T,
                () -> holders("public:x").size() == 2 && holders("public:y").size() == 1);

        onB.unsubscribe("public:x").block(T);
        onA.unsubscribe("public:x").block(T);
        onA.unsubscribe("public:y").block(T);
        List<JsonNode> x = backend.await(2, ofChannel("public:x"), T);
        List<JsonNode> y = backend.await(2, ofChannel("public:y"), T);
        assertThat(lines(x))
                .as("no occupied told again, no vacated while B left first")
                .containsExactly("channel.occupied gw-a", "channel.vacated gw-a");
        assertThat(lines(y)).containsExactly("channel.occupied gw-a", "channel.vacated gw-a");
        assertThat(x.get(1).get("id").asText()).isNotIn(before);
        assertThat(backend.distinct(channelEvents())).hasSize(4);
    }
}
