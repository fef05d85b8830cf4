package io.switchboard.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** Rate limits and the bounded outbound buffer (docs/protocol.md section 7). */
class LimitsIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private TestGateway gw;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
    }

    @Test
    @DisplayName("section 7: frames over the rate get rate_limited with retryAfter; the connection stays open")
    void overRateGetsRateLimited() {
        gw = TestGateway.start(Map.of("SWITCHBOARD_RATE", "2", "SWITCHBOARD_BURST", "5"));
        SwitchboardClient c = gw.connect();
        EventRecorder events = EventRecorder.of(c);
        for (int id = 1; id <= 8; id++) {
            c.sendText("{\"type\":\"publish\",\"id\":" + id + ",\"channel\":\"public:r\",\"data\":" + id + "}");
        }
        List<ServerFrame> replies = new ArrayList<>();
        while (replies.size() < 8) {
            ServerFrame f = events.next();
            if (f instanceof ServerFrame.Ack || f instanceof ServerFrame.Error) {
                replies.add(f);
            }
        }
        // hello took one token of the burst: every frame counts, from the first
        assertThat(replies.subList(0, 4)).allMatch(f -> f instanceof ServerFrame.Ack);
        ServerFrame.Error limited = (ServerFrame.Error) replies.get(4);
        assertThat(limited.code()).isEqualTo(ErrorCodes.RATE_LIMITED);
        assertThat(limited.id()).isEqualTo(5L);
        assertThat(limited.retryAfter()).isPositive().isLessThanOrEqualTo(500L);
        assertThat(replies.subList(4, 8))
                .allMatch(f -> f instanceof ServerFrame.Error e && e.code().equals(ErrorCodes.RATE_LIMITED));
        assertThat(c.isClosed()).isFalse();
    }

    @Test
    @DisplayName("section 7: a client that keeps sending at more than 10 times the rate is closed with 1008")
    void floodClosedWith1008() {
        gw = TestGateway.start(Map.of("SWITCHBOARD_RATE", "2", "SWITCHBOARD_BURST", "5"));
        SwitchboardClient c = gw.connect();
        for (int i = 0; i < 500 && !c.isClosed(); i++) {
            c.sendText("{\"type\":\"pong\"}");
        }
        assertThat(c.closed().block(T).code()).isEqualTo(CloseCodes.POLICY_VIOLATION);
    }

    @Test
    @DisplayName("section 7: a client that stops reading is closed with 4004; other subscribers get everything")
    void slowConsumerClosedWith4004() {
        gw = TestGateway.start(Map.of("SWITCHBOARD_OUTBOUND_BYTES", "131072"));
        Counter slowCloses = gw.gateway()
                .metrics()
                .registry()
                .get("switchboard.slow.consumer.closes")
                .counter();
        SwitchboardClient slow = gw.connect();
        SwitchboardClient fast = gw.connect();
        long[] fastReceived = {0};
        fast.events().ofType(ServerFrame.Message.class).subscribe(m -> fastReceived[0] = m.offset());
        slow.subscribe("public:firehose").block(T);
        fast.subscribe("public:firehose").block(T);
        slow.pauseReading();
        String payload = "\"" + "x".repeat(4000) + "\"";
        long published = 0;
        while (slowCloses.count() < 1 && published < 50_000) {
            for (int i = 0; i < 100; i++) {
                gw.post("/api/publish", "{\"channel\":\"public:firehose\",\"data\":" + payload + "}");
                published++;
            }
        }
        assertThat(slowCloses.count())
                .as("slow consumer closes after %d messages", published)
                .isEqualTo(1.0);
        slow.resumeReading();
        assertThat(slow.closed().block(T).code()).isEqualTo(CloseCodes.SLOW_CONSUMER);
        long total = published;
        Await.until("the fast subscriber to get every message", T, () -> fastReceived[0] == total);
        assertThat(fast.isClosed()).isFalse();
    }

    @Test
    @DisplayName("section 7: a recovery replay larger than the outbound bound is read in full, not closed with 4004;"
            + " a client that stops reading during it still is")
    void replayMayExceedTheBoundWhileRead() {
        gw = TestGateway.start(Map.of("SWITCHBOARD_OUTBOUND_BYTES", "131072", "SWITCHBOARD_HISTORY_SIZE", "400"));
        Counter slowCloses = gw.gateway()
                .metrics()
                .registry()
                .get("switchboard.slow.consumer.closes")
                .counter();
        String payload = "\"" + "x".repeat(2000) + "\"";
        String epoch = null;
        for (int i = 0; i < 300; i++) {
            HttpResponse<String> res = gw.post("/api/publish", "{\"channel\":\"public:big\",\"data\":" + payload + "}");
            assertThat(res.statusCode()).isEqualTo(200);
            epoch = res.body().replaceAll(".*\"epoch\":\"([^\"]+)\".*", "$1");
        }

        SwitchboardClient reader = gw.connect();
        List<Long> offsets = new CopyOnWriteArrayList<>();
        reader.events().ofType(ServerFrame.Message.class).subscribe(m -> offsets.add(m.offset()));
        ServerFrame.Ack ack =
                reader.subscribe("public:big", new StreamPosition(0, epoch)).block(T);
        Await.until("the whole replay (about 600 KB, the bound is 128 KB)", T, () -> offsets.size() == 300);

        assertThat(ack.recovered()).isTrue();
        assertThat(offsets).first().isEqualTo(1L);
        assertThat(offsets).last().isEqualTo(300L);
        assertThat(slowCloses.count()).isZero();
        assertThat(reader.isClosed()).isFalse();

        SwitchboardClient stalled = gw.connect();
        stalled.pauseReading();
        stalled.subscribe("public:big", new StreamPosition(0, epoch)).subscribe(a -> {}, e -> {});
        for (int i = 0; i < 20_000 && slowCloses.count() < 1; i++) {
            gw.post("/api/publish", "{\"channel\":\"public:big\",\"data\":" + payload + "}");
        }
        assertThat(slowCloses.count())
                .as("the reader that stopped is closed at the larger bound")
                .isEqualTo(1.0);
        stalled.resumeReading();
        assertThat(stalled.closed().block(T).code()).isEqualTo(CloseCodes.SLOW_CONSUMER);
    }

    @Test
    @DisplayName("section 7: a user connecting more often than SWITCHBOARD_USER_CONNECT_RATE gets rate_limited with"
            + " retryAfter and close 1013, which clients reconnect after")
    void userConnectingTooOftenIsToldToTryLater() {
        gw = TestGateway.start(Map.of("SWITCHBOARD_USER_CONNECT_RATE", "1", "SWITCHBOARD_USER_CONNECT_BURST", "2"));
        String token = Tokens.user("u_looping");
        gw.connect(token).close();
        gw.connect(token).close();
        SwitchboardClient third = gw.open();
        EventRecorder events = EventRecorder.of(third);
        third.sendText("{\"type\":\"hello\",\"v\":1,\"token\":\"" + token + "\"}");
        ServerFrame.Error refused = events.next(ServerFrame.Error.class);
        assertThat(refused.code()).isEqualTo(ErrorCodes.RATE_LIMITED);
        assertThat(refused.retryAfter()).isPositive().isLessThanOrEqualTo(1_000L);
        assertThat(third.closed().block(TestGateway.TIMEOUT).code()).isEqualTo(CloseCodes.TRY_AGAIN_LATER);
        assertThat(CloseCodes.shouldReconnect(CloseCodes.TRY_AGAIN_LATER)).isTrue();
        assertThat(gw.connect(Tokens.user("u_other")).welcome().user())
                .as("other users are not held up")
                .isEqualTo("u_other");
    }
}
