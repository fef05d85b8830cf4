package io.switchboard.gateway.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** What every {@link UserStore} does; run against memory and against MongoDB through the real driver. */
abstract class UserStoreContract {
    static final Duration T = Duration.ofSeconds(10);
    static final Instant T0 = Instant.parse("2026-11-26T12:00:00Z");

    UserStore store;

    abstract UserStore create();

    @BeforeEach
    void open() {
        store = create();
    }

    @AfterEach
    void close() {
        store.close();
    }

    void write(StoreWrite... writes) {
        store.write(List.of(writes)).block(T);
    }

    static StoreWrite.MatchStarted started(String match, String a, String b, int second) {
        return new StoreWrite.MatchStarted(match, a, b, List.of("chess"), T0.plusSeconds(second), "gw-1");
    }

    static StoreWrite.MatchEnded ended(String match, int second, String reason) {
        return new StoreWrite.MatchEnded(match, T0.plusSeconds(second), reason);
    }

    @Test
    @DisplayName("blocks count in both directions, and a block written twice is one")
    void blocksBothWays() {
        write(
                new StoreWrite.Block("u1", "u2", T0),
                new StoreWrite.Block("u3", "u1", T0),
                new StoreWrite.Block("u1", "u2", T0.plusSeconds(5)));

        assertThat(store.blocksOf("u1").block(T)).isEqualTo(Set.of("u2", "u3"));
        assertThat(store.blocksOf("u2").block(T)).isEqualTo(Set.of("u1"));
        assertThat(store.blocksOf("u3").block(T)).isEqualTo(Set.of("u1"));
        assertThat(store.blocksOf("u4").block(T)).isEmpty();
    }

    @Test
    @DisplayName("the history holds both users, the interests, start, end, reason and instance, newest first")
    void historyNewestFirst() {
        write(
                started("m1", "a", "b", 1),
                ended("m1", 2, "next"),
                started("m2", "c", "a", 3),
                ended("m2", 4, "left"),
                started("m3", "a", "d", 5));

        List<MatchRecord> ofA = store.matches("a", 10).block(T);

        assertThat(ofA).extracting(MatchRecord::match).containsExactly("m3", "m2", "m1");
        assertThat(ofA.get(1))
                .isEqualTo(new MatchRecord(
                        "m2",
                        List.of("c", "a"),
                        List.of("chess"),
                        T0.plusSeconds(3),
                        T0.plusSeconds(4),
                        "left",
                        "gw-1"));
        assertThat(ofA.get(1).partnerOf("a")).isEqualTo("c");
        assertThat(ofA.get(0).ended()).as("a match that goes on").isNull();
        assertThat(store.matches("b", 10).block(T))
                .extracting(MatchRecord::match)
                .containsExactly("m1");
        assertThat(store.matches("a", 2).block(T))
                .extracting(MatchRecord::match)
                .containsExactly("m3", "m2");
        assertThat(store.matches("nobody", 10).block(T)).isEmpty();
    }

    @Test
    @DisplayName("the end of a match may land before its start (a retried batch); the record comes out whole")
    void endBeforeStart() {
        write(ended("m9", 8, "disconnected"));
        assertThat(store.matches("x", 10).block(T))
                .as("no start yet: not listed")
                .isEmpty();

        write(started("m9", "x", "y", 7));

        assertThat(store.matches("x", 10).block(T))
                .containsExactly(new MatchRecord(
                        "m9",
                        List.of("x", "y"),
                        List.of("chess"),
                        T0.plusSeconds(7),
                        T0.plusSeconds(8),
                        "disconnected",
                        "gw-1"));
    }

    @Test
    @DisplayName("500 matches of one user come back complete and in order")
    void fiveHundred() {
        List<StoreWrite> batch = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            batch.add(started("m" + i, "busy", "p" + i, i));
            batch.add(ended("m" + i, i, "next"));
        }
        store.write(batch).block(T);

        List<MatchRecord> all = store.matches("busy", UserStore.MAX_LIMIT).block(T);

        assertThat(all).hasSize(500);
        for (int i = 0; i < 500; i++) {
            assertThat(all.get(i).match()).isEqualTo("m" + (499 - i));
        }
    }
}
