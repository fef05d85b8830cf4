package io.switchboard.protocol.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.protocol.ServerFrame;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The roster of a joinLeave channel and the difference told after a presence read (docs/protocol.md section 10). */
class PresenceRosterUnitTests {
    private static final String C = "public:room";

    private static ServerFrame.Join join(String user) {
        return join(user, "{}");
    }

    private static ServerFrame.Join join(String user, String info) {
        return new ServerFrame.Join(C, user, info);
    }

    private static ServerFrame.Leave leave(String user) {
        return new ServerFrame.Leave(C, user);
    }

    private static ServerFrame.PresenceAck read(boolean truncated, String... users) {
        return new ServerFrame.PresenceAck(
                1,
                C,
                users.length,
                Arrays.stream(users)
                        .map(u -> new ServerFrame.PresentUser(u, "{}"))
                        .toList(),
                truncated);
    }

    /** A roster that was told {@code users}, not syncing. */
    private static PresenceRoster rosterOf(String... users) {
        PresenceRoster r = new PresenceRoster(C);
        r.synced(r.startSync(), read(false, users));
        assertThat(r.users()).containsOnlyKeys(users);
        return r;
    }

    @Test
    @DisplayName("section 10: the first read tells everyone present as a join, in the read's order")
    void firstReadTellsEveryoneAsJoin() {
        PresenceRoster r = new PresenceRoster(C);
        long sync = r.startSync();

        List<ServerFrame> told = r.synced(sync, read(false, "u_ann", "u_bob"));

        assertThat(told).containsExactly(join("u_ann"), join("u_bob"));
        assertThat(r.users()).containsExactly(Map.entry("u_ann", "{}"), Map.entry("u_bob", "{}"));
    }

    @Test
    @DisplayName("section 10: after a reconnect, a user gone is told as leave, a new one as join, an unchanged one"
            + " not at all")
    void resyncTellsTheDifference() {
        PresenceRoster r = rosterOf("u_ann", "u_bob", "u_me");

        List<ServerFrame> told = r.synced(r.startSync(), read(false, "u_bob", "u_cat", "u_me"));

        assertThat(told).containsExactly(leave("u_ann"), join("u_cat"));
        assertThat(r.users()).containsOnlyKeys("u_bob", "u_cat", "u_me");
    }

    @Test
    @DisplayName("live events are told once each: a join of a listed user or a leave of an unlisted one is dropped")
    void liveEventsAreChangesOnly() {
        PresenceRoster r = rosterOf("u_ann");

        assertThat(r.live(join("u_ann"))).isEmpty();
        assertThat(r.live(leave("u_bob"))).isEmpty();
        assertThat(r.live(join("u_bob"))).containsExactly(join("u_bob"));
        assertThat(r.live(leave("u_ann"))).containsExactly(leave("u_ann"));
        assertThat(r.users()).containsOnlyKeys("u_bob");
    }

    @Test
    @DisplayName("a join with other info replaces it and is told; the same info in another spelling is not")
    void infoChangeIsTold() {
        PresenceRoster r = new PresenceRoster(C);
        r.synced(r.startSync(), read(false));
        r.live(join("u_ann", "{\"name\":\"Ann\",\"age\":3}"));

        assertThat(r.live(join("u_ann", "{ \"age\": 3, \"name\": \"Ann\" }"))).isEmpty();
        assertThat(r.live(join("u_ann", "{\"name\":\"Anne\"}"))).containsExactly(join("u_ann", "{\"name\":\"Anne\"}"));
        assertThat(r.users()).containsEntry("u_ann", "{\"name\":\"Anne\"}");
    }

    @Test
    @DisplayName("events heard while the read is under way are kept and applied on top of its answer, in order:"
            + " those from after the read win, those from before change nothing")
    void eventsDuringTheReadAreAppliedOnTop() {
        PresenceRoster r = rosterOf("u_ann", "u_bob");
        long sync = r.startSync();

        // before the read: u_ann left and u_dan joined (the read already says so)
        assertThat(r.live(leave("u_ann"))).isEmpty();
        assertThat(r.live(join("u_dan"))).isEmpty();
        // after the read (it still lists u_bob and not u_eve): u_bob left, u_eve joined
        assertThat(r.live(leave("u_bob"))).isEmpty();
        assertThat(r.live(join("u_eve"))).isEmpty();
        List<ServerFrame> told = r.synced(sync, read(false, "u_bob", "u_dan"));

        assertThat(told).containsExactly(leave("u_ann"), leave("u_bob"), join("u_dan"), join("u_eve"));
        assertThat(r.users()).containsOnlyKeys("u_dan", "u_eve");
        assertThat(r.live(join("u_eve"))).as("not syncing any more: live").isEmpty();
        assertThat(r.live(join("u_fay"))).containsExactly(join("u_fay"));
    }

    @Test
    @DisplayName("section 10: a truncated read tells the new users it lists and no leave for known users it does not"
            + " list, who stay")
    void truncatedReadTellsNoLeaveBeyondTheList() {
        PresenceRoster r = rosterOf("u_ann", "u_zed");

        List<ServerFrame> told = r.synced(r.startSync(), read(true, "u_ann", "u_bob"));

        assertThat(told).containsExactly(join("u_bob"));
        assertThat(r.users()).containsOnlyKeys("u_ann", "u_zed", "u_bob");
    }

    @Test
    @DisplayName("a failed read applies the events kept meanwhile as live ones; an older sync's answer is ignored")
    void failedAndStaleSyncs() {
        PresenceRoster r = rosterOf("u_ann");
        long first = r.startSync();
        r.live(join("u_bob"));
        r.live(join("u_ann"));
        long second = r.startSync();

        assertThat(r.synced(first, read(false))).as("superseded").isEmpty();
        assertThat(r.unsynced(second)).containsExactly(join("u_bob"));
        assertThat(r.users()).containsOnlyKeys("u_ann", "u_bob");
        assertThat(r.unsynced(second)).as("once").isEmpty();
    }
}
