package io.switchboard.loadtest.scenario;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.loadtest.backend.HookBackend;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the events' part makes of the backend's counts. */
class HookEventsUnitTests {

    private static HookBackend.Events events(long connected, long disconnected, Map<String, Long> reasons) {
        return new HookBackend.Events(
                10,
                connected + disconnected + 3,
                Map.of("user.connected", connected, "user.disconnected", disconnected),
                reasons,
                3,
                0,
                1,
                Map.of());
    }

    @Test
    void everyEventThereWithCopiesPasses() {
        HookBackend.Events e = events(5, 5, Map.of("closed", 5L));
        assertThat(HookEvents.complete(e, 5)).isTrue();
        Map<String, Object> r = HookEvents.check(e, 5);
        assertThat(r)
                .containsEntry("expectedEvents", 10L)
                .containsEntry("eventsMissing", 0L)
                .containsEntry("disconnectsNotClosed", 0L)
                .containsEntry("eventsUnexpected", 0L)
                .containsEntry("duplicateEvents", 3L)
                .containsEntry("badSignatures", 0L)
                .containsEntry("noEventChecked", 0);
    }

    @Test
    void missingWrongReasonsAndExtraEventsAreCounted() {
        HookBackend.Events e = events(6, 3, Map.of("closed", 2L, "timeout", 1L));
        assertThat(HookEvents.complete(e, 5)).isFalse();
        Map<String, Object> r = HookEvents.check(e, 5);
        assertThat(r)
                .containsEntry("eventsMissing", 2L)
                .containsEntry("disconnectsNotClosed", 1L)
                .containsEntry("eventsUnexpected", 0L);
        assertThat(HookEvents.check(events(7, 5, Map.of("closed", 5L)), 5)).containsEntry("eventsUnexpected", 2L);
        assertThat(HookEvents.check(events(0, 0, Map.of()), 0)).containsEntry("noEventChecked", 1);
    }
}
