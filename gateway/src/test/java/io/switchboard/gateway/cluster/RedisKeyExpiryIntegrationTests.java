package io.switchboard.gateway.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.support.TestGateway;
import io.switchboard.protocol.StreamPosition;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisExtension;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What a channel or a guest leaves in Redis: its keys live as long as a recovery can need them (the history TTL
 * and the resume grace, whichever is longer), then go (docs/design.md, hostile clients: every byte a client can make
 * the server hold is bounded).
 */
class RedisKeyExpiryIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private static final long TTL_MS = 1_000;

    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    private TestGateway gw;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
    }

    private TestGateway start() {
        gw = TestGateway.startClustered(
                redis.server().uri(),
                "gw-ttl",
                Map.of(
                        "SWITCHBOARD_HISTORY_TTL_MS", String.valueOf(TTL_MS),
                        "SWITCHBOARD_RESUME_GRACE_MS", String.valueOf(TTL_MS)));
        return gw;
    }

    private long exists(String... keys) {
        String[] args = new String[keys.length + 1];
        args[0] = "EXISTS";
        System.arraycopy(keys, 0, args, 1, keys.length);
        return Long.parseLong(redis.server().cli(args).trim());
    }

    private long pttl(String key) {
        return Long.parseLong(redis.server().cli("PTTL", key).trim());
    }

    @Test
    @DisplayName("the counter, epoch and history of a channel published once expire on the history TTL, not after"
            + " 24 h; a since into it is then answered recovered:false with a new epoch")
    void keysOfAChannelPublishedOnceExpire() {
        start();
        SwitchboardClient guest = gw.connect();
        var ack = guest.publish("public:once", "{\"n\":1}").block(T);
        String[] keys = RedisKeys.channelKeys("public:once");

        assertThat(exists(keys)).isEqualTo(3);
        for (String key : keys) {
            assertThat(pttl(key)).as("PTTL of %s", key).isPositive().isLessThanOrEqualTo(TTL_MS);
        }
        Await.until("the keys of public:once to expire", T, () -> exists(keys) == 0);

        var resubscribed = guest.subscribe("public:once", new StreamPosition(ack.offset(), ack.epoch()))
                .block(T);
        assertThat(resubscribed.recovered()).isFalse();
        assertThat(resubscribed.epoch()).isNotEqualTo(ack.epoch());
        assertThat(resubscribed.offset()).isZero();
    }

    @Test
    @DisplayName("a guest's inbox keys expire once it is gone, and nothing of the guest's channel is left")
    void keysOfAGuestExpire() {
        start();
        SwitchboardClient guest = gw.connect();
        SwitchboardClient other = gw.connect();
        String user = guest.welcome().user();
        assertThat(other.send(user, "1").block(T).delivered()).isTrue();
        String[] inbox = RedisKeys.channelKeys("user:" + user);
        assertThat(exists(inbox)).isEqualTo(3);

        guest.close();

        Await.until("the inbox keys of the guest to expire", T, () -> exists(inbox) == 0);
        for (String key : inbox) {
            assertThat(pttl(key)).as("PTTL of %s", key).isEqualTo(-2);
        }
    }
}
