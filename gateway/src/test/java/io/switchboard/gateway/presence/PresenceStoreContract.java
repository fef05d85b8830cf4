package io.switchboard.gateway.presence;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.presence.PresenceStore.Holder;
import io.switchboard.gateway.presence.PresenceStore.Roster;
import io.switchboard.protocol.Limits;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.testing.Await;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;

/**
 * What every {@link PresenceStore} does (docs/protocol.md section 10), run against the memory store and the Redis
 * one: a user is present while it has a holder; the first holder is a join, the last one gone a leave; counts and
 * lists; the cap on events; a rebuild makes the store hold exactly what the instance holds.
 */
abstract class PresenceStoreContract {
    static final Duration T = Duration.ofSeconds(10);
    /** The stores under test tell join and leave only while a channel has at most this many users. */
    static final int EVENTS_MAX = 3;

    PresenceStore store;
    final List<ServerFrame> events = new CopyOnWriteArrayList<>();

    /** A new, empty store with {@link #EVENTS_MAX}, its events subscribed. */
    abstract PresenceStore newStore();

    @BeforeEach
    void open() {
        store = newStore();
        store.onEvent(events::add);
        store.tick(0, 0).block(T);
    }

    @AfterEach
    void close() {
        store.close();
    }

    private static ServerFrame join(String channel, String user, String info) {
        return new ServerFrame.Join(channel, user, info);
    }

    private static ServerFrame leave(String channel, String user) {
        return new ServerFrame.Leave(channel, user);
    }

    /** Waits until the events told are exactly {@code expected}, in order. */
    void awaitEvents(ServerFrame... expected) {
        Await.until("events " + List.of(expected) + ", have " + events, T, () -> events.size() >= expected.length);
        assertThat(events).containsExactly(expected);
    }

    /**
     * A marker event made after the change under test: once it arrives, every event of that change has (events
     * come in the order the changes were made).
     */
    void awaitQuiet() {
        store.add("public:marker", "u_marker", "m1", "{}").block(T);
        Await.until("the marker's join", T, () -> events.contains(join("public:marker", "u_marker", "{}")));
        events.remove(join("public:marker", "u_marker", "{}"));
        store.remove("public:marker", "u_marker", "m1").block(T);
        Await.until("the marker's leave", T, () -> events.contains(leave("public:marker", "u_marker")));
        events.remove(leave("public:marker", "u_marker"));
    }

    @Test
    @DisplayName("section 10: the first holder makes a user present (a join with its info); a second is no join")
    void firstHolderJoinsSecondDoesNot() {
        assertThat(store.add("public:lobby", "u_ann", "c1", "{\"name\":\"Ann\"}")
                        .block(T))
                .isTrue();
        assertThat(store.add("public:lobby", "u_ann", "c2", "{\"name\":\"Ann\"}")
                        .block(T))
                .isFalse();
        awaitQuiet();

        awaitEvents(join("public:lobby", "u_ann", "{\"name\":\"Ann\"}"));
        assertThat(store.count("public:lobby").block(T)).isEqualTo(1);
    }

    @Test
    @DisplayName("section 10: a user leaves when its last holder goes, not before")
    void lastHolderGoneLeaves() {
        store.add("public:lobby", "u_ann", "c1", "{}").block(T);
        store.add("public:lobby", "u_ann", "c2", "{}").block(T);

        assertThat(store.remove("public:lobby", "u_ann", "c1").block(T)).isFalse();
        assertThat(store.count("public:lobby").block(T)).isEqualTo(1);
        assertThat(store.remove("public:lobby", "u_ann", "c2").block(T)).isTrue();
        awaitQuiet();

        awaitEvents(join("public:lobby", "u_ann", "{}"), leave("public:lobby", "u_ann"));
        assertThat(store.count("public:lobby").block(T)).isZero();
        assertThat(store.list("public:lobby", 10).block(T).users()).isEmpty();
    }

    @Test
    @DisplayName("section 10: the same holder added twice is one holder; removing an unknown one changes nothing")
    void holdersAreASet() {
        store.add("public:lobby", "u_ann", "c1", "{}").block(T);
        assertThat(store.add("public:lobby", "u_ann", "c1", "{}").block(T)).isFalse();
        assertThat(store.remove("public:lobby", "u_ann", "nope").block(T)).isFalse();
        assertThat(store.remove("public:lobby", "u_bob", "c1").block(T)).isFalse();
        assertThat(store.remove("public:lobby", "u_ann", "c1").block(T)).isTrue();
        awaitQuiet();

        awaitEvents(join("public:lobby", "u_ann", "{}"), leave("public:lobby", "u_ann"));
    }

    @Test
    @DisplayName("section 10: a lingering holder (a dropped connection) is replaced by the user's next holder with no"
            + " leave and no join; when that one goes, the user leaves at once")
    void lingeringHolderIsTakenOver() {
        store.add("public:lobby", "u_ann", "old", "{}").block(T);
        store.linger("public:lobby", "u_ann", "old").block(T);

        assertThat(store.add("public:lobby", "u_ann", "new", "{}").block(T)).isFalse();
        assertThat(store.count("public:lobby").block(T)).isEqualTo(1);
        assertThat(store.remove("public:lobby", "u_ann", "new").block(T))
                .as("the last holder")
                .isTrue();
        assertThat(store.remove("public:lobby", "u_ann", "old").block(T))
                .as("already replaced")
                .isFalse();
        awaitQuiet();

        awaitEvents(join("public:lobby", "u_ann", "{}"), leave("public:lobby", "u_ann"));
        assertThat(store.count("public:lobby").block(T)).isZero();
    }

    @Test
    @DisplayName("section 10: a drop told after the user's resumed connection subscribed again: the dropped holder"
            + " goes at once, no leave; the user leaves at once when the resumed one ends")
    void dropToldAfterTheResumedSubscribe() {
        store.add("public:lobby", "u_ann", "old", "{}").block(T);
        assertThat(store.add("public:lobby", "u_ann", "new", "{}").block(T)).isFalse();
        store.linger("public:lobby", "u_ann", "old").block(T);

        assertThat(store.count("public:lobby").block(T)).isEqualTo(1);
        assertThat(store.remove("public:lobby", "u_ann", "new").block(T))
                .as("the last holder")
                .isTrue();
        assertThat(store.remove("public:lobby", "u_ann", "old").block(T))
                .as("gone already")
                .isFalse();
        awaitQuiet();

        awaitEvents(join("public:lobby", "u_ann", "{}"), leave("public:lobby", "u_ann"));
    }

    @Test
    @DisplayName("section 10: a lingering holder nobody replaces leaves when it is removed; a linger elsewhere or of"
            + " a holder that is not there changes nothing")
    void lingeringHolderNotReplacedLeavesWhenRemoved() {
        store.add("public:lobby", "u_ann", "old", "{}").block(T);
        store.add("public:other", "u_ann", "new", "{}").block(T);
        store.linger("public:lobby", "u_ann", "old").block(T);
        store.linger("public:lobby", "u_ann", "nope").block(T);
        store.linger("public:nowhere", "u_ann", "old").block(T);

        assertThat(store.count("public:lobby").block(T)).isEqualTo(1);
        assertThat(store.remove("public:lobby", "u_ann", "old").block(T)).isTrue();
        assertThat(store.count("public:other").block(T)).isEqualTo(1);
        assertThat(store.add("public:lobby", "u_ann", "again", "{}").block(T))
                .as("a join again")
                .isTrue();
    }

    @Test
    @DisplayName("section 10: a list gives the count and at most the users asked for, by user id, with their info")
    void listIsBoundedAndOrdered() {
        for (String u : List.of("u_e", "u_c", "u_a", "u_d", "u_b")) {
            store.add("public:big", u, "c-" + u, "{\"n\":\"" + u + "\"}").block(T);
        }

        Roster all = store.list("public:big", 10).block(T);
        assertThat(all.count()).isEqualTo(5);
        assertThat(all.truncated()).isFalse();
        assertThat(all.users())
                .extracting(ServerFrame.PresentUser::user)
                .containsExactly("u_a", "u_b", "u_c", "u_d", "u_e");
        assertThat(all.users().get(0).info()).isEqualTo("{\"n\":\"u_a\"}");

        Roster some = store.list("public:big", 3).block(T);
        assertThat(some.count()).isEqualTo(5);
        assertThat(some.truncated()).isTrue();
        assertThat(some.users()).hasSize(3);
        assertThat(some.users()).extracting(ServerFrame.PresentUser::user).isSorted();
        assertThat(store.count("public:big").block(T)).isEqualTo(5);
    }

    @Test
    @DisplayName("section 10: a channel nobody is in counts 0 and lists nobody")
    void emptyChannel() {
        assertThat(store.count("public:nobody").block(T)).isZero();
        Roster r = store.list("public:nobody", 10).block(T);
        assertThat(r.count()).isZero();
        assertThat(r.users()).isEmpty();
        assertThat(r.truncated()).isFalse();
    }

    @Test
    @DisplayName("SWITCHBOARD_PRESENCE_EVENTS_MAX: no join or leave while a channel has more users than the cap")
    void noEventsAboveTheCap() {
        for (int i = 1; i <= EVENTS_MAX + 1; i++) {
            store.add("public:crowd", "u_" + i, "c" + i, "{}").block(T);
        }
        // u_4 leaves a channel of 4 users (above the cap): no leave; u_3 then leaves a channel of 3: a leave
        store.remove("public:crowd", "u_4", "c4").block(T);
        store.remove("public:crowd", "u_3", "c3").block(T);
        awaitQuiet();

        awaitEvents(
                join("public:crowd", "u_1", "{}"),
                join("public:crowd", "u_2", "{}"),
                join("public:crowd", "u_3", "{}"),
                leave("public:crowd", "u_3"));
        assertThat(store.count("public:crowd").block(T)).isEqualTo(2);
    }

    @Test
    @DisplayName("section 10: channels are independent")
    void channelsAreIndependent() {
        store.add("public:a", "u_ann", "c1", "{}").block(T);
        store.add("public:b", "u_ann", "c1", "{}").block(T);
        store.remove("public:a", "u_ann", "c1").block(T);

        assertThat(store.count("public:a").block(T)).isZero();
        assertThat(store.count("public:b").block(T)).isEqualTo(1);
    }

    @Test
    @DisplayName("a rebuild adds the holders the store lacks (joins) and removes this instance's others (leaves)")
    void rebuildHoldsExactlyWhatIsHeld() {
        store.add("public:lobby", "u_ann", "c1", "{}").block(T);
        store.add("public:lobby", "u_bob", "c2", "{}").block(T);
        awaitQuiet();
        events.clear();

        store.rebuild(List.of(
                        new Holder("public:lobby", "u_ann", "c1", "{}"),
                        new Holder("public:lobby", "u_cat", "c3", "{\"name\":\"Cat\"}")))
                .block(T);
        awaitQuiet();

        assertThat(events)
                .containsExactlyInAnyOrder(
                        join("public:lobby", "u_cat", "{\"name\":\"Cat\"}"), leave("public:lobby", "u_bob"));
        assertThat(store.list("public:lobby", 10).block(T).users())
                .extracting(ServerFrame.PresentUser::user)
                .containsExactly("u_ann", "u_cat");
        store.rebuild(List.of(
                        new Holder("public:lobby", "u_ann", "c1", "{}"),
                        new Holder("public:lobby", "u_cat", "c3", "{\"name\":\"Cat\"}")))
                .block(T);
        assertThat(store.count("public:lobby").block(T))
                .as("a rebuild again changes nothing")
                .isEqualTo(2);
    }

    @Test
    @DisplayName("section 10: a presence read of more than 1,000 users lists 1,000 and says truncated")
    void readOfMoreThanTheMaximumIsTruncated() {
        Flux.range(0, Limits.MAX_PRESENCE_USERS + 1)
                .flatMap(i -> store.add("public:crowd", "u_" + i, "c" + i, "{}"), 64)
                .blockLast(T);

        Roster r = store.list("public:crowd", Limits.MAX_PRESENCE_USERS).block(T);

        assertThat(r.count()).isEqualTo(Limits.MAX_PRESENCE_USERS + 1);
        assertThat(r.users()).hasSize(Limits.MAX_PRESENCE_USERS).doesNotHaveDuplicates();
        assertThat(r.truncated()).isTrue();
        assertThat(store.count("public:crowd").block(T)).isEqualTo(Limits.MAX_PRESENCE_USERS + 1);
    }

    @Test
    @DisplayName("a tick reports this instance's figures")
    void tickReportsFigures() {
        PresenceStore.Figures f = store.tick(7, 3).block(T);
        assertThat(f.online()).isEqualTo(7);
        assertThat(f.present()).isEqualTo(3);
        assertThat(f.lost()).isFalse();
    }
}
