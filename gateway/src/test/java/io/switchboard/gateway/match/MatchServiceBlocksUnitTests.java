package io.switchboard.gateway.match;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.switchboard.gateway.channel.ChannelHub;
import io.switchboard.gateway.channel.ChannelService;
import io.switchboard.gateway.channel.LocalBroker;
import io.switchboard.gateway.channel.MemoryHistory;
import io.switchboard.gateway.channel.Occupancy;
import io.switchboard.gateway.events.EventService;
import io.switchboard.gateway.id.Ids;
import io.switchboard.gateway.metrics.GatewayMetrics;
import io.switchboard.gateway.store.MemoryUserStore;
import io.switchboard.gateway.store.StoreWrite;
import io.switchboard.gateway.store.StoreWriter;
import io.switchboard.gateway.wire.EventLoops;
import io.switchboard.matchmaking.MatchmakerSettings;
import io.switchboard.matchmaking.MemoryMatchmaker;
import io.switchboard.matchmaking.Outcome;
import io.switchboard.testing.Await;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * What {@code block} (docs/protocol.md section 6) lets a client make the server hold: only valid user ids, at most
 * {@code SWITCHBOARD_MAX_BLOCKS} per user, and nothing durable for guests.
 */
class MatchServiceBlocksUnitTests {
    private static final Duration T = Duration.ofSeconds(5);
    private static final int MAX_BLOCKS = 3;

    private final GatewayMetrics metrics = new GatewayMetrics();
    private final EventLoops loops = new EventLoops("test-io", 1);
    private final Scheduler scheduler = Schedulers.newSingle("test-match");
    private final MemoryUserStore store = new MemoryUserStore(100);
    private final StoreWriter writer = new StoreWriter(store, 100, new SimpleMeterRegistry());
    private final MatchService matches;

    MatchServiceBlocksUnitTests() {
        Ids ids = new Ids(new SplittableRandom(1));
        ChannelHub hub = new ChannelHub(loops, metrics);
        MemoryHistory history = new MemoryHistory(10, 60_000, System::nanoTime, ids);
        ChannelService channels = new ChannelService(hub, new LocalBroker(history, hub), history, Occupancy.NONE);
        MemoryMatchmaker matchmaker = new MemoryMatchmaker(
                new MatchmakerSettings(5_000, 3, 30_000, 10_000, 1_000, MAX_BLOCKS), System::currentTimeMillis);
        matches = new MatchService(
                matchmaker,
                channels,
                "gw-test",
                30_000,
                scheduler,
                new SimpleMeterRegistry(),
                store,
                writer,
                EventService.disabled());
    }

    @AfterEach
    void close() {
        matches.close();
        writer.close();
        scheduler.dispose();
        loops.close();
        metrics.close();
    }

    private Outcome block(String user, String other) {
        return matches.block(user, other).block(T);
    }

    @ParameterizedTest(name = "user {0}")
    @ValueSource(strings = {"", "u_a\nb", "u b", "u{x}", "\u00e9", "u\u0000"})
    @DisplayName("section 6: block of something that is not a user id is refused naming the field user")
    void blockOfAnInvalidIdIsRefused(String other) {
        assertThatThrownBy(() -> block("u_a", other))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("field 'user'")
                .hasMessageNotContaining("\n");
        assertThat(MatchService.blockProblem(other)).contains("field 'user'");
        assertThat(MatchService.blockProblem("u".repeat(124))).contains("124 characters");
        assertThat(MatchService.blockProblem("g_Qm3vAbCdEfGh"))
                .as("guests can be blocked")
                .isNull();
    }

    @Test
    @DisplayName("section 6: beyond SWITCHBOARD_MAX_BLOCKS, block answers too_many and nothing is stored")
    void blocksBeyondTheLimitAreTooMany() {
        List<String> statuses = List.of(
                block("u_a", "u_1").status(),
                block("u_a", "u_2").status(),
                block("u_a", "u_3").status(),
                block("u_a", "u_4").status());

        assertThat(statuses).containsExactly(Outcome.NOTHING, Outcome.NOTHING, Outcome.NOTHING, Outcome.TOO_MANY);
        Await.until(
                "the three blocks stored",
                T,
                () -> store.blocksOf("u_a").block(T).size() == 3);
        assertThat(store.blocksOf("u_a").block(T)).containsExactlyInAnyOrder("u_1", "u_2", "u_3");
        assertThat(store.blocksOf("u_4").block(T)).isEmpty();
    }

    @Test
    @DisplayName("a block involving a guest is not written to the store: guest ids never come back")
    void guestBlocksAreNotStored() {
        block("g_AAAAAAAAAAAA", "u_b");
        block("u_c", "g_BBBBBBBBBBBB");
        block("u_c", "u_d");

        Await.until(
                "the registered users' block stored",
                T,
                () -> store.blocksOf("u_c").block(T).contains("u_d"));
        assertThat(store.blocksOf("u_b").block(T)).isEmpty();
        assertThat(store.blocksOf("g_BBBBBBBBBBBB").block(T)).isEmpty();
        assertThat(store.blocksOf("u_c").block(T)).containsExactly("u_d");
    }

    @Test
    @DisplayName("blocks loaded from the store when a user connects do not count toward its limit")
    void storedBlocksDoNotCount() {
        Instant now = Instant.now();
        store.write(List.of(
                        new StoreWrite.Block("u_a", "u_1", now),
                        new StoreWrite.Block("u_a", "u_2", now),
                        new StoreWrite.Block("u_3", "u_a", now),
                        new StoreWrite.Block("u_a", "u_4", now)))
                .block(T);

        matches.returned("u_a", "s_1");
        matches.join("u_a", "s_1", List.of()).block(T);

        assertThat(block("u_a", "u_5").status()).isEqualTo(Outcome.NOTHING);
        assertThat(matches.join("u_3", "s_3", List.of()).block(T).status())
                .as("the stored block of u_a by u_3 holds")
                .isEqualTo(Outcome.QUEUED);
    }
}
