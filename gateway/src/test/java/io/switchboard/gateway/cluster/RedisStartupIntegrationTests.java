package io.switchboard.gateway.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardException;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisServer;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An instance starting on Redis (docs/design.md failure model, "Redis at start-up"; docs/protocol.md sections 2, 5 and 9):
 * not ready until it can deliver to the users it welcomes, or until its start wait has passed; a connection
 * welcomed while Redis was away gets its inbox when Redis is back, and {@code delivered:true} always arrives.
 */
class RedisStartupIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private static final int ROUNDS = 5;

    @RegisterExtension
    final Closing owned = new Closing();

    /** An instance on {@code redis}, returned at once: it may not be ready yet. */
    private TestGateway instance(RedisServer redis, String node, Map<String, String> extra) {
        Map<String, String> env = new HashMap<>(extra);
        env.put("REDIS_URL", redis.uri());
        env.put("SWITCHBOARD_NODE_ID", node);
        return owned.keep(TestGateway.start(env));
    }

    private static boolean ready(TestGateway gw) {
        return gw.get("/health/ready").statusCode() == 200;
    }

    @Test
    @DisplayName("sections 2, 5 and 9: the first connections to a fresh instance, made as soon as it is ready, are"
            + " welcomed with an inbox, count as delivered, and receive what another instance sends them"
            + " (" + ROUNDS + " rounds)")
    void firstConnectionsAfterReadyHaveAnInbox() {
        RedisServer redis = owned.keep(RedisServer.start());
        TestGateway b = owned.keep(TestGateway.startClustered(redis.uri(), "gw-b", Map.of()));
        SwitchboardClient sender = b.connect(Tokens.user("u_sender"));
        for (int round = 1; round <= ROUNDS; round++) {
            TestGateway a = instance(redis, "gw-a" + round, Map.of());
            Await.until("gw-a" + round + " to be ready", T, () -> ready(a));
            SwitchboardClient guest = a.connect();
            SwitchboardClient user = a.connect(Tokens.user("u_first" + round));
            EventRecorder guestEvents = EventRecorder.of(guest);
            EventRecorder userEvents = EventRecorder.of(user);
            assertThat(guest.welcome().inbox())
                    .as("round %d: the guest's welcome has an inbox", round)
                    .isNotNull();
            assertThat(user.welcome().inbox())
                    .as("round %d: the user's welcome has an inbox", round)
                    .isNotNull();

            assertThat(sender.send(guest.welcome().user(), "\"g" + round + "\"")
                            .block(T)
                            .delivered())
                    .as("round %d: delivered to the guest", round)
                    .isTrue();
            assertThat(sender.send("u_first" + round, "\"u" + round + "\"")
                            .block(T)
                            .delivered())
                    .as("round %d: delivered to the user", round)
                    .isTrue();
            assertThat(guestEvents.next(ServerFrame.Direct.class).data()).isEqualTo("\"g" + round + "\"");
            assertThat(userEvents.next(ServerFrame.Direct.class).data()).isEqualTo("\"u" + round + "\"");
            a.close();
        }
    }

    @Test
    @DisplayName("section 9: an instance started while Redis is down is not ready until Redis comes up")
    void notReadyUntilRedisComesUp() {
        RedisServer redis = owned.keep(RedisServer.start());
        redis.kill();
        TestGateway a = instance(redis, "gw-a", Map.of("SWITCHBOARD_REDIS_START_WAIT_MS", "60000"));
        Await.until(
                "Redis to be seen down",
                T,
                () -> a.health().path("status").asText().equals("DEGRADED"));
        HttpResponse<String> starting = a.get("/health/ready");
        assertThat(starting.statusCode()).isEqualTo(503);
        assertThat(starting.body()).contains("starting");

        redis.restart();
        Await.until("ready once Redis answers", T, () -> ready(a));
        assertThat(a.connect().welcome().inbox()).isNotNull();
    }

    @Test
    @DisplayName("sections 2 and 5: after the start wait an instance serves without Redis; a connection welcomed"
            + " then has no inbox and is not matched, and once Redis is back it gets its inbox and every message"
            + " acknowledged delivered:true, and nothing else")
    void lateInboxReceivesWhatIsSentOnceRedisIsBack() {
        RedisServer redis = owned.keep(RedisServer.start());
        redis.kill();
        TestGateway a = instance(redis, "gw-a", Map.of("SWITCHBOARD_REDIS_START_WAIT_MS", "1000"));
        Await.until("ready after the start wait", T, () -> ready(a));
        assertThat(a.health().path("status").asText()).isEqualTo("DEGRADED");
        SwitchboardClient guest = a.connect();
        SwitchboardClient user = a.connect(Tokens.user("u_early"));
        assertThat(guest.welcome().inbox())
                .as("no inbox is promised while Redis is down")
                .isNull();
        assertThat(user.welcome().inbox()).isNull();
        List<ServerFrame.Direct> guestGot = new CopyOnWriteArrayList<>();
        List<ServerFrame.Direct> userGot = new CopyOnWriteArrayList<>();
        guest.events().ofType(ServerFrame.Direct.class).subscribe(guestGot::add);
        user.events().ofType(ServerFrame.Direct.class).subscribe(userGot::add);
        assertThatThrownBy(() -> guest.request(id -> new ClientFrame.MatchJoin(id, List.of()))
                        .block(T))
                .as("not queued while its inbox cannot receive match.found")
                .isInstanceOfSatisfying(SwitchboardException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCodes.UNAVAILABLE);
                    assertThat(e.retryAfter()).isPositive();
                });

        redis.restart();
        // gw-a reconnects with its own backoff, up to seconds after gw-b: the history holds every send meanwhile
        TestGateway b = owned.keep(TestGateway.startClustered(
                redis.uri(),
                "gw-b",
                Map.of(
                        "SWITCHBOARD_RATE",
                        "100000",
                        "SWITCHBOARD_BURST",
                        "100000",
                        "SWITCHBOARD_HISTORY_SIZE",
                        "100000")));
        SwitchboardClient sender = b.connect(Tokens.user("u_sender"));
        // send from the moment Redis answers until both count as delivered, so that some sends race the late
        // inbox subscriptions
        List<String> deliveredToGuest = new ArrayList<>();
        List<String> deliveredToUser = new ArrayList<>();
        boolean guestDelivered = false;
        boolean userDelivered = false;
        for (int i = 1; !(guestDelivered && userDelivered); i++) {
            assertThat(i).as("sends before both count as delivered").isLessThan(50_000);
            String data = "\"" + i + "\"";
            if (TestGateway.sendWhenAvailable(sender, guest.welcome().user(), data)
                    .delivered()) {
                guestDelivered = true;
                deliveredToGuest.add(data);
            }
            if (TestGateway.sendWhenAvailable(sender, "u_early", data).delivered()) {
                userDelivered = true;
                deliveredToUser.add(data);
            }
        }
        // a send to a recipient that cannot receive yet stores nothing (delivered:false): the guest gets exactly
        // the messages acknowledged delivered:true, in order
        Await.until("every message delivered:true to the guest", T, () -> guestGot.size() >= deliveredToGuest.size());
        assertThat(guestGot).extracting(ServerFrame.Direct::data).containsExactlyElementsOf(deliveredToGuest);
        Await.until(
                "every message delivered:true to the user",
                T,
                () -> userGot.stream().map(ServerFrame.Direct::data).toList().containsAll(deliveredToUser));
        assertThat(userGot).extracting(ServerFrame.Direct::data).doesNotHaveDuplicates();
        assertThat(guest.request(id -> new ClientFrame.MatchJoin(id, List.of()))
                        .block(T)
                        .queued())
                .as("queued once its inbox is subscribed")
                .isTrue();
    }

    @Test
    @DisplayName("section 5: right after Redis came back empty, a connected user on another instance is reported"
            + " delivered:true, and gets the message")
    void connectedUserIsDeliveredRightAfterRedisCameBackEmpty() {
        RedisServer redis = owned.keep(RedisServer.start());
        TestGateway a = owned.keep(TestGateway.startClustered(redis.uri(), "gw-a", Map.of()));
        TestGateway b = owned.keep(TestGateway.startClustered(redis.uri(), "gw-b", Map.of()));
        SwitchboardClient alice = a.connect(Tokens.user("u_alice"));
        SwitchboardClient bob = b.connect(Tokens.user("u_bob"));
        EventRecorder bobEvents = EventRecorder.of(bob);
        assertThat(alice.send("u_bob", "\"before\"").block(T).delivered()).isTrue();
        assertThat(bobEvents.next(ServerFrame.Direct.class).data()).isEqualTo("\"before\"");

        redis.restart();
        ServerFrame.Ack ack = TestGateway.sendWhenAvailable(alice, "u_bob", "\"after\"");
        assertThat(ack.delivered()).as("bob is connected all along").isTrue();
        assertThat(bobEvents.next(ServerFrame.Direct.class).data()).isEqualTo("\"after\"");
    }
}
