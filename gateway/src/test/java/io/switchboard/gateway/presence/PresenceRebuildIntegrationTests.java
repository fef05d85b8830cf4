package io.switchboard.gateway.presence;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.switchboard.gateway.cluster.RedisConnections;
import io.switchboard.gateway.cluster.RedisPresence;
import io.switchboard.gateway.config.RedisConfig;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * A rebuild (after an outage) running while connections join and leave: it never writes back a holder that went
 * meanwhile, nor removes one that came (found by the presence benchmark: ghosts after Redis stalled under churn).
 */
class PresenceRebuildIntegrationTests {
    private static final Duration T = Duration.ofSeconds(20);

    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    private RedisConnections connections;
    private PresenceService presence;
    private RedisPresence store;
    private Scheduler scheduler;

    @BeforeEach
    void start() {
        connections = new RedisConnections(
                new RedisConfig(redis.server().uri(), null, 5_000, 10_000), new SimpleMeterRegistry());
        Await.until("Redis up", T, connections::isUp);
        scheduler = Schedulers.newSingle("presence-test");
        store = new RedisPresence(connections, "gw-a", 10_000, 1_000);
        presence = new PresenceService(
                store, () -> 0, () -> 0, 30_000, scheduler, System::nanoTime, new SimpleMeterRegistry());
    }

    @AfterEach
    void stop() {
        presence.close();
        connections.close();
        scheduler.dispose();
    }

    @Test
    @DisplayName("section 10: joins and leaves racing rebuilds leave the store holding exactly what is held")
    void churnDuringRebuilds() {
        Random random = new Random(7);
        List<String> channels = List.of("public:a", "public:b", "public:c");
        Disposable rebuilding =
                Flux.defer(() -> presence.rebuildNow().thenReturn(1)).repeat().subscribe();
        List<Mono<Void>> changes = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            String connection = "c" + i;
            String user = "u_" + (i % 50);
            String channel = channels.get(random.nextInt(channels.size()));
            boolean stays = random.nextInt(4) == 0;
            changes.add(presence.join(connection, user, "{}", channel).then(Mono.fromRunnable(() -> {
                if (!stays) {
                    presence.leave(connection, channel);
                }
            })));
        }
        Flux.merge(Flux.fromIterable(changes), 32).blockLast(T);
        rebuilding.dispose();
        presence.rebuildNow().block(T);

        for (String channel : channels) {
            List<String> held = presence.usersHeldIn(channel).stream().sorted().toList();
            assertThat(store.list(channel, 10_000).block(T).users())
                    .as("%s: the store holds exactly the users held", channel)
                    .extracting(ServerFrame.PresentUser::user)
                    .containsExactlyElementsOf(held);
        }
    }
}
