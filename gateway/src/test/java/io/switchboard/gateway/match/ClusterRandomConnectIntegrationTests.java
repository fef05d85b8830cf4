package io.switchboard.gateway.match;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.matchmaking.MatchmakerSettings;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.redis.RedisExtension;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The random-connect tests with the two users on two instances sharing one redis-server (issue 4). */
class ClusterRandomConnectIntegrationTests extends RandomConnectIntegrationTests {
    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    @Override
    protected List<TestGateway> gateways(Map<String, String> env) {
        TestGateway a = instance("gw-a", env);
        TestGateway b = instance("gw-b", env);
        return List.of(a, b);
    }

    @Test
    @DisplayName("section 6: a pairing made by a join whose reply from Redis was lost (the command timed out, then"
            + " the script ran) still reaches both users")
    void pairingWhoseReplyWasLostReachesBothUsers() {
        List<TestGateway> gw = gateways(Map.of());
        SwitchboardClient a = gw.get(0).connect(Tokens.user("u_a"));
        SwitchboardClient b = gw.get(1).connect(Tokens.user("u_b"));
        EventRecorder ae = EventRecorder.of(a);
        EventRecorder be = EventRecorder.of(b);
        assertThat(join(a).queued()).isTrue();

        // Redis holds every write for three times the command timeout (1 s), then runs them: u_b's join times out
        // at its instance, which never learns that the script then paired u_b with u_a
        redis.server().cli("CLIENT", "PAUSE", "3000", "WRITE");
        Throwable answer = catchThrowable(() -> join(b));

        Duration announcedAgain = Duration.ofMillis(MatchmakerSettings.DEFAULT_ANNOUNCE_TIMEOUT_MS)
                .plus(T);
        ServerFrame fa = ae.next(announcedAgain);
        ServerFrame fb = be.next(announcedAgain);
        assertThat(answer).as("u_b's join while Redis holds it").isNotNull();
        assertThat(code(answer)).isEqualTo(ErrorCodes.UNAVAILABLE);
        assertThat(fa).isInstanceOfSatisfying(ServerFrame.MatchFound.class, f -> {
            assertThat(f.partner()).isEqualTo("u_b");
            assertThat(f.initiator()).isTrue();
        });
        assertThat(fb).isInstanceOfSatisfying(ServerFrame.MatchFound.class, f -> {
            assertThat(f.partner()).isEqualTo("u_a");
            assertThat(f.match()).isEqualTo(((ServerFrame.MatchFound) fa).match());
        });
    }

    private TestGateway instance(String node, Map<String, String> env) {
        TestGateway gw = TestGateway.startClustered(redis.server().uri(), node, env);
        started.add(gw);
        return gw;
    }
}
