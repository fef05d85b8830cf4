package io.switchboard.loadtest.backend;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The backend's answers and counters, and how its counters are read back; no process started. */
class HookBackendUnitTests {

    @Test
    void allowsEveryHookAndCountsPublishesByChannel() throws Exception {
        HookBackend.Counters c = new HookBackend.Counters();
        assertThat(c.call("publish", "{\"user\":\"g_1\",\"session\":\"s_1\",\"channel\":\"public:fan-1\",\"data\":{}}"))
                .isEqualTo("{\"allow\":true}");
        c.call("publish", "{\"channel\":\"public:fan-1\",\"data\":{\"t\":1}}");
        c.call("publish", "{\"channel\":\"public:fan-2\",\"data\":null}");
        c.call("publish", "not json");
        assertThat(c.call("subscribe", "{\"channel\":\"room:1\"}")).isEqualTo("{\"allow\":true}");
        assertThat(c.call("rpc", "{\"method\":\"m\"}")).isEqualTo("{\"result\":null}");

        HookBackend.Stats all = HookBackend.parseStats(c.json(true));
        assertThat(all.calls("publish")).isEqualTo(4);
        assertThat(all.calls("subscribe")).isEqualTo(1);
        assertThat(all.calls("connect")).isZero();
        assertThat(all.publishByChannel()).containsEntry("public:fan-1", 2L).containsEntry("public:fan-2", 1L);
        assertThat(all.publishByChannel()).containsEntry("?", 1L).hasSize(3);

        HookBackend.Stats totals = HookBackend.parseStats(c.json(false));
        assertThat(totals.calls("publish")).isEqualTo(4);
        assertThat(totals.publishByChannel()).isEmpty();
    }
}
