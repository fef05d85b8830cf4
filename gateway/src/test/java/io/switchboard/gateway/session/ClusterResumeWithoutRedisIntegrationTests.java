package io.switchboard.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardException;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisServer;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Resume across instances without any secret configured, and resume while Redis cannot be asked (docs/protocol.md
 * sections 2 and 5): a client that asks to keep its identity keeps it, or is refused with a close it reconnects
 * after; never a fresh identity it did not ask for.
 */
class ClusterResumeWithoutRedisIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    /** Neither a JWT secret nor a resume secret: the instances share one through Redis. */
    private static final Map<String, String> NO_SECRETS = noSecrets();

    @RegisterExtension
    final Closing owned = new Closing();

    private static Map<String, String> noSecrets() {
        Map<String, String> env = new HashMap<>();
        env.put("SWITCHBOARD_JWT_SECRET", null);
        env.put("SWITCHBOARD_RESUME_SECRET", null);
        return env;
    }

    private TestGateway clustered(RedisServer redis, String node, Map<String, String> env) {
        return owned.keep(TestGateway.startClustered(redis.uri(), node, env));
    }

    private static ServerFrame.Welcome resume(
            SwitchboardClient c, String token, ServerFrame.Welcome previous, StreamPosition since) {
        return c.hello(new ClientFrame.Hello(1, token, previous.resume(), since, "test"))
                .block(T);
    }

    private static String owner(RedisServer redis, String user) {
        return redis.cli("GET", "sb:{u:" + user + "}:o");
    }

    @Test
    @DisplayName("section 2: with no secret configured, a guest welcomed on one instance resumes on another with the"
            + " same user id (the instances share a resume key through Redis)")
    void guestResumesOnAnotherInstanceWithoutAnySecret() {
        RedisServer redis = owned.keep(RedisServer.start());
        TestGateway a = clustered(redis, "gw-a", NO_SECRETS);
        TestGateway b = clustered(redis, "gw-b", NO_SECRETS);
        Await.until(
                "both ready",
                T,
                () -> a.get("/health/ready").statusCode() == 200
                        && b.get("/health/ready").statusCode() == 200);
        SwitchboardClient guest = a.connect();
        ServerFrame.Welcome first = guest.welcome();
        guest.abort();
        Await.until("the drop to be noticed", T, () -> a.gateway().registry().local(first.user()) == null);

        ServerFrame.Welcome w = resume(b.open(), null, first, first.inbox());
        assertThat(w.user()).isEqualTo(first.user());
        assertThat(w.resumed()).isTrue();
        assertThat(w.recovered()).isTrue();
        assertThat(redis.cli("EXISTS", "sb:resume-secret")).isEqualTo("1");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"guest", "token user"})
    @DisplayName("sections 2 and 5: while Redis is down, a dropped client resuming on another instance keeps its"
            + " user id (resumed, nothing recovered yet); once Redis is back (empty) it owns its session there, and"
            + " what is sent to it counts as delivered and arrives")
    void resumeWhileRedisIsDownKeepsTheUser(String kind) {
        boolean guestKind = kind.equals("guest");
        Map<String, String> env = guestKind ? NO_SECRETS : Map.of();
        RedisServer redis = owned.keep(RedisServer.start());
        TestGateway a = clustered(redis, "gw-a", env);
        TestGateway b = clustered(redis, "gw-b", env);
        Await.until(
                "both ready",
                T,
                () -> a.get("/health/ready").statusCode() == 200
                        && b.get("/health/ready").statusCode() == 200);
        String token = guestKind ? null : Tokens.user("u_tina");
        SwitchboardClient first = guestKind ? a.connect() : a.connect(token);
        ServerFrame.Welcome welcome = first.welcome();
        String user = welcome.user();
        SwitchboardClient sender = guestKind ? a.connect() : a.connect(Tokens.user("u_sender"));
        EventRecorder firstEvents = EventRecorder.of(first);
        assertThat(sender.send(user, "\"1\"").block(T).delivered()).isTrue();
        ServerFrame.Direct seen = firstEvents.next(ServerFrame.Direct.class);
        first.abort();
        Await.until("the drop to be noticed", T, () -> a.gateway().registry().local(user) == null);

        redis.kill();
        SwitchboardClient again = b.open();
        List<ServerFrame.Direct> got = new CopyOnWriteArrayList<>();
        again.events().ofType(ServerFrame.Direct.class).subscribe(got::add);
        ServerFrame.Welcome w = resume(again, token, welcome, new StreamPosition(seen.offset(), seen.epoch()));
        assertThat(w.user()).as("the identity the client asked to keep").isEqualTo(user);
        assertThat(w.resumed()).isTrue();
        assertThat(w.recovered()).as("nothing could be replayed yet").isFalse();
        assertThat(w.inbox()).as("no inbox is promised while Redis is down").isNull();

        redis.restart();
        Await.until(
                "gw-b's session recorded in Redis", T, () -> owner(redis, user).startsWith("gw-b " + w.session()));
        ServerFrame.Ack ack = TestGateway.sendWhenAvailable(sender, user, "\"2\"");
        assertThat(ack.delivered()).isTrue();
        Await.until(
                "the message to arrive",
                T,
                () -> got.stream().anyMatch(d -> d.data().equals("\"2\"")));
        assertThat(again.isClosed()).isFalse();
    }

    @Test
    @DisplayName("section 8: a guest token that an instance cannot check yet (it has not learned the cluster's key and"
            + " Redis is down) is refused with unavailable and 1011, not given a fresh identity; once Redis is back"
            + " it resumes there")
    void resumeThatCannotBeCheckedIsRefusedRetryably() {
        RedisServer redis = owned.keep(RedisServer.start());
        TestGateway a = clustered(redis, "gw-a", NO_SECRETS);
        Await.until("gw-a ready", T, () -> a.get("/health/ready").statusCode() == 200);
        SwitchboardClient guest = a.connect();
        ServerFrame.Welcome first = guest.welcome();
        guest.abort();
        Await.until("the drop to be noticed", T, () -> a.gateway().registry().local(first.user()) == null);
        Await.until("the resumable record", T, () -> owner(redis, first.user()).startsWith("- "));

        redis.kill();
        Map<String, String> env = new HashMap<>(NO_SECRETS);
        env.put("REDIS_URL", redis.uri());
        env.put("SWITCHBOARD_NODE_ID", "gw-c");
        env.put("SWITCHBOARD_REDIS_START_WAIT_MS", "1000");
        TestGateway c = owned.keep(TestGateway.start(env));
        Await.until(
                "gw-c ready after its start wait",
                T,
                () -> c.get("/health/ready").statusCode() == 200);
        SwitchboardClient refused = c.open();
        assertThatThrownBy(() -> resume(refused, null, first, first.inbox()))
                .isInstanceOfSatisfying(SwitchboardException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCodes.UNAVAILABLE);
                    assertThat(e.retryAfter()).isPositive();
                });
        assertThat(refused.closed().block(T).code()).isEqualTo(CloseCodes.INTERNAL_ERROR);

        redis.restart();
        Await.until(
                "gw-a to record its resumable drop again in the empty Redis",
                T,
                () -> owner(redis, first.user()).startsWith("- "));
        Await.until("gw-c up", T, () -> c.health().path("status").asText().equals("UP"));
        ServerFrame.Welcome w = resume(c.open(), null, first, first.inbox());
        assertThat(w.user()).isEqualTo(first.user());
        assertThat(w.resumed()).isTrue();
    }
}
