package io.switchboard.loadtest.backend;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
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

    private static final String SECRET = "webhook-secret-webhook-secret-0123456789";

    private static String sign(String t, String body) throws Exception {
        javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
        mac.init(new javax.crypto.spec.SecretKeySpec(SECRET.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        mac.update((t + ".").getBytes(StandardCharsets.US_ASCII));
        return "t=" + t + ",v1="
                + java.util.HexFormat.of().formatHex(mac.doFinal(body.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void verifiesTheGatewaysKnownSignatureVector() {
        byte[] key = SECRET.getBytes(StandardCharsets.UTF_8);
        byte[] body = "{\"events\":[]}".getBytes(StandardCharsets.UTF_8);
        String v1 = "ce453efd77d65416b2e70374e844a937a620ec1dd2ba9663bd2ae3a5c4cff238";
        assertThat(HookBackend.Counters.verify("t=1700000000,v1=" + v1, body, key))
                .isTrue();
        assertThat(HookBackend.Counters.verify("t=1700000001,v1=" + v1, body, key))
                .isFalse();
        assertThat(HookBackend.Counters.verify("t=1700000000,v1=" + v1, "{\"events\":[ ]}".getBytes(), key))
                .isFalse();
        assertThat(HookBackend.Counters.verify("t=1700000000,v1=zz", body, key)).isFalse();
        assertThat(HookBackend.Counters.verify("v1=" + v1, body, key)).isFalse();
        assertThat(HookBackend.Counters.verify(null, body, key)).isFalse();
        assertThat(HookBackend.Counters.verify("t=1700000000,v1=" + v1, body, null))
                .isFalse();
    }

    @Test
    void countsEventsByTypeOnceByIdRejectsBadSignaturesAndRecordsLatency() throws Exception {
        HookBackend.Counters c = new HookBackend.Counters(SECRET);
        String first = "{\"events\":["
                + "{\"id\":\"ev_s_1_c\",\"type\":\"user.connected\",\"at\":\"2026-12-01T10:00:00.000Z\","
                + "\"node\":\"gw-1\",\"user\":\"g_1\",\"session\":\"s_1\"},"
                + "{\"id\":\"ev_s_1_d\",\"type\":\"user.disconnected\",\"at\":\"2026-12-01T10:00:00.100Z\","
                + "\"node\":\"gw-1\",\"user\":\"g_1\",\"session\":\"s_1\",\"reason\":\"closed\"}]}";
        long now = java.time.Instant.parse("2026-12-01T10:00:00.200Z").toEpochMilli();
        assertThat(c.events(sign("1796119200", first), first.getBytes(StandardCharsets.UTF_8), now))
                .isEqualTo(204);
        // the same batch again (its answer was lost): copies, not new events
        assertThat(c.events(sign("1796119201", first), first.getBytes(StandardCharsets.UTF_8), now + 5000))
                .isEqualTo(204);
        String second = "{\"events\":[{\"id\":\"ev_s_2_d\",\"type\":\"user.disconnected\","
                + "\"at\":\"2026-12-01T10:00:00.150Z\",\"user\":\"g_2\",\"session\":\"s_2\",\"reason\":\"timeout\"}]}";
        // signed with another key, and not signed at all: rejected, not counted
        assertThat(c.events("t=1,v1=00", second.getBytes(StandardCharsets.UTF_8), now))
                .isEqualTo(401);
        assertThat(c.events(null, second.getBytes(StandardCharsets.UTF_8), now)).isEqualTo(401);
        assertThat(c.events(sign("2", "not json"), "not json".getBytes(StandardCharsets.UTF_8), now))
                .isEqualTo(400);
        assertThat(c.events(sign("3", second), second.getBytes(StandardCharsets.UTF_8), now + 50))
                .isEqualTo(204);

        HookBackend.Events e = HookBackend.parseStats(c.json(false)).events();
        assertThat(e.batches()).isEqualTo(6);
        assertThat(e.received()).isEqualTo(5);
        assertThat(e.distinctByType()).containsEntry("user.connected", 1L).containsEntry("user.disconnected", 2L);
        assertThat(e.distinct()).isEqualTo(3);
        assertThat(e.disconnectReasons()).containsEntry("closed", 1L).containsEntry("timeout", 1L);
        assertThat(e.duplicates()).isEqualTo(2);
        assertThat(e.badSignatures()).isEqualTo(2);
        assertThat(e.lastNewAtMillis()).isEqualTo(now + 50);
        // first copies only: 200, 100 and 100 ms
        assertThat(e.latencyMs())
                .containsEntry("count", 3L)
                .containsEntry("p50", 100L)
                .containsEntry("max", 200L);
    }

    @Test
    void statsWithoutEventsReadAsNone() throws Exception {
        HookBackend.Stats s = HookBackend.parseStats("{\"calls\":{\"publish\":2}}");
        assertThat(s.calls("publish")).isEqualTo(2);
        assertThat(s.events().distinct()).isZero();
        assertThat(new HookBackend.Counters().events("t=1,v1=00", new byte[0], 0))
                .isEqualTo(401);
    }
}
