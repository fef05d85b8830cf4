package io.switchboard.gateway.channel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;

/** Subscribing, publishing, offsets, epochs, permissions and recovery (docs/protocol.md section 5). */
class ChannelsIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private TestGateway gw;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
    }

    private static String code(Throwable e) {
        return ((SwitchboardException) e).code();
    }

    @Test
    @DisplayName("section 5: subscribe acks offset 0 and an epoch; publishes get offsets 1, 2, 3 delivered to all")
    void publishAndDeliver() {
        gw = TestGateway.start();
        SwitchboardClient alice = gw.connect();
        SwitchboardClient bob = gw.connect();
        EventRecorder aliceEvents = EventRecorder.of(alice);
        EventRecorder bobEvents = EventRecorder.of(bob);
        ServerFrame.Ack sub = bob.subscribe("public:lobby").block(T);
        assertThat(sub.channel()).isEqualTo("public:lobby");
        assertThat(sub.offset()).isZero();
        assertThat(sub.epoch()).isNotEmpty();
        assertThat(sub.recovered()).isNull();
        alice.subscribe("public:lobby").block(T);
        for (int i = 1; i <= 3; i++) {
            ServerFrame.Ack ack =
                    alice.publish("public:lobby", "{\"text\":\"hi " + i + "\"}").block(T);
            assertThat(ack.offset()).isEqualTo(i);
            assertThat(ack.epoch()).isEqualTo(sub.epoch());
        }
        for (EventRecorder r : List.of(bobEvents, aliceEvents)) {
            List<ServerFrame.Message> got = r.next(ServerFrame.Message.class, 3);
            assertThat(got).extracting(ServerFrame.Message::offset).containsExactly(1L, 2L, 3L);
            assertThat(got)
                    .extracting(ServerFrame.Message::from)
                    .containsOnly(alice.welcome().user());
            assertThat(got).extracting(ServerFrame.Message::epoch).containsOnly(sub.epoch());
            assertThat(got.get(0).data()).isEqualTo("{\"text\":\"hi 1\"}");
        }
    }

    @Test
    @DisplayName("section 5: data is any JSON value, delivered as equivalent JSON")
    void dataRelayedAsIs() {
        gw = TestGateway.start();
        SwitchboardClient c = gw.connect();
        EventRecorder events = EventRecorder.of(c);
        c.subscribe("public:data").block(T);
        List<String> values = List.of(
                "{\"nested\":{\"a\":[1,2.50,{\"b\":null}],\"t\":true}}",
                "[]",
                "\"\u00e9\u4e2d\ud83d\ude00\"",
                "12345678901234567890123",
                "1.0e+3",
                "null",
                "false",
                "\"quote \\\" and \\\\ backslash\"");
        for (String v : values) {
            c.publish("public:data", v).block(T);
        }
        for (String v : values) {
            String got = events.next(ServerFrame.Message.class).data();
            assertThat(parse(got)).isEqualTo(parse(v));
            assertThat(got).isEqualTo(v);
        }
    }

    private static JsonNode parse(String json) {
        try {
            return FrameCodec.mapper().readTree(json);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    @DisplayName("section 5: subscribing twice is idempotent; unsubscribing a channel not subscribed is acked")
    void subscribeTwiceAndUnsubscribeUnknown() {
        gw = TestGateway.start();
        SwitchboardClient c = gw.connect();
        EventRecorder events = EventRecorder.of(c);
        c.subscribe("public:twice").block(T);
        c.publish("public:twice", "1").block(T);
        ServerFrame.Ack second = c.subscribe("public:twice").block(T);
        assertThat(second.channel()).isEqualTo("public:twice");
        assertThat(second.offset()).isEqualTo(1L);
        c.publish("public:twice", "2").block(T);
        assertThat(events.next(ServerFrame.Message.class).offset()).isEqualTo(1L);
        assertThat(events.next(ServerFrame.Message.class).offset()).isEqualTo(2L);
        assertThat(c.unsubscribe("public:never").block(T).id()).isPositive();
    }

    @Test
    @DisplayName("section 5: after unsubscribe no more messages of that channel arrive")
    void unsubscribeStopsDelivery() {
        gw = TestGateway.start();
        SwitchboardClient c = gw.connect();
        SwitchboardClient publisher = gw.connect();
        EventRecorder events = EventRecorder.of(c);
        c.subscribe("public:a").block(T);
        c.subscribe("public:marker").block(T);
        publisher.publish("public:a", "1").block(T);
        assertThat(events.next(ServerFrame.Message.class).channel()).isEqualTo("public:a");
        c.unsubscribe("public:a").block(T);
        publisher.publish("public:a", "2").block(T);
        publisher.publish("public:marker", "\"m\"").block(T);
        ServerFrame.Message next = events.next(ServerFrame.Message.class);
        assertThat(next.channel()).isEqualTo("public:marker");
    }

    @Test
    @DisplayName("section 5: guests may use public: channels only; user: is reserved")
    void guestPermissions() {
        gw = TestGateway.start();
        SwitchboardClient c = gw.connect();
        assertThatThrownBy(() -> c.subscribe("room:1").block(T))
                .satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.FORBIDDEN));
        assertThatThrownBy(() -> c.publish("room:1", "1").block(T))
                .satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.FORBIDDEN));
        assertThatThrownBy(() -> c.subscribe("user:" + c.welcome().user()).block(T))
                .satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.FORBIDDEN));
        assertThatThrownBy(() -> c.publish("user:someone", "1").block(T))
                .satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.FORBIDDEN));
    }

    @Test
    @DisplayName("section 5: token claims grant channels by exact name or prefix*, subscribe and publish apart")
    void tokenClaims() {
        gw = TestGateway.start();
        SwitchboardClient c = gw.connect(Tokens.user("u_t", List.of("room:*", "team:red"), List.of("room:1")));
        assertThat(c.subscribe("room:42").block(T).channel()).isEqualTo("room:42");
        assertThat(c.subscribe("team:red").block(T).channel()).isEqualTo("team:red");
        assertThatThrownBy(() -> c.subscribe("team:blue").block(T))
                .satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.FORBIDDEN));
        assertThat(c.publish("room:1", "1").block(T).offset()).isEqualTo(1L);
        assertThatThrownBy(() -> c.publish("room:42", "1").block(T))
                .satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.FORBIDDEN));
        assertThatThrownBy(() -> c.subscribe("user:u_t").block(T))
                .satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.FORBIDDEN));
    }

    @Test
    @DisplayName("section 7: more than maxSubscriptions channels gets too_many")
    void tooManySubscriptions() {
        gw = TestGateway.start(Map.of("SWITCHBOARD_MAX_SUBSCRIPTIONS", "3"));
        SwitchboardClient c = gw.connect();
        for (int i = 0; i < 3; i++) {
            c.subscribe("public:s" + i).block(T);
        }
        assertThatThrownBy(() -> c.subscribe("public:s3").block(T))
                .satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.TOO_MANY));
        c.subscribe("public:s0").block(T);
        c.unsubscribe("public:s1").block(T);
        assertThat(c.subscribe("public:s3").block(T).channel()).isEqualTo("public:s3");
    }

    @Test
    @DisplayName("section 5: since within history recovers every later message after the ack, before newer ones")
    void recoveryWithinHistory() {
        gw = TestGateway.start();
        SwitchboardClient publisher = gw.connect();
        String epoch = null;
        for (int i = 1; i <= 5; i++) {
            epoch = publisher.publish("public:rec", String.valueOf(i)).block(T).epoch();
        }
        SwitchboardClient late = gw.connect();
        EventRecorder events = EventRecorder.of(late);
        late.sendText("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"public:rec\",\"since\":{\"offset\":2,\"epoch\":\""
                + epoch + "\"}}");
        publisher.publish("public:rec", "6").block(T);
        ServerFrame.Ack ack = events.next(ServerFrame.Ack.class);
        assertThat(ack.recovered()).isTrue();
        assertThat(ack.epoch()).isEqualTo(epoch);
        assertThat(ack.offset()).isBetween(5L, 6L);
        List<ServerFrame.Message> got = events.next(ServerFrame.Message.class, 4);
        assertThat(got).extracting(ServerFrame.Message::offset).containsExactly(3L, 4L, 5L, 6L);
        assertThat(got).extracting(ServerFrame.Message::data).containsExactly("3", "4", "5", "6");
    }

    @Test
    @DisplayName("section 5: since at the latest offset recovers nothing and says recovered")
    void recoveryAtLatest() {
        gw = TestGateway.start();
        SwitchboardClient c = gw.connect();
        String epoch = c.publish("public:r", "1").block(T).epoch();
        ServerFrame.Ack ack =
                c.subscribe("public:r", new StreamPosition(1, epoch)).block(T);
        assertThat(ack.recovered()).isTrue();
        assertThat(ack.offset()).isEqualTo(1L);
    }

    @Test
    @DisplayName("section 5: since older than the history holds says recovered false and replays nothing")
    void recoveryBeyondHistory() {
        gw = TestGateway.start(Map.of("SWITCHBOARD_HISTORY_SIZE", "3"));
        SwitchboardClient publisher = gw.connect();
        String epoch = null;
        for (int i = 1; i <= 10; i++) {
            epoch = publisher.publish("public:old", String.valueOf(i)).block(T).epoch();
        }
        SwitchboardClient late = gw.connect();
        EventRecorder events = EventRecorder.of(late);
        ServerFrame.Ack ack =
                late.subscribe("public:old", new StreamPosition(2, epoch)).block(T);
        assertThat(ack.recovered()).isFalse();
        assertThat(ack.offset()).isEqualTo(10L);
        publisher.publish("public:old", "11").block(T);
        assertThat(events.next(ServerFrame.Message.class).offset()).isEqualTo(11L);
        ServerFrame.Ack fromEight = gw.connect()
                .subscribe("public:old", new StreamPosition(8, epoch))
                .block(T);
        assertThat(fromEight.recovered()).isTrue();
    }

    @Test
    @DisplayName("section 5: since with another epoch says recovered false")
    void recoveryOtherEpoch() {
        gw = TestGateway.start();
        SwitchboardClient c = gw.connect();
        c.publish("public:e", "1").block(T);
        ServerFrame.Ack ack =
                c.subscribe("public:e", new StreamPosition(0, "not-the-epoch")).block(T);
        assertThat(ack.recovered()).isFalse();
        assertThat(ack.offset()).isEqualTo(1L);
    }

    @Test
    @DisplayName("section 5: 1,000 messages reach each of 100 subscribers in offset order, exactly once")
    void fanOutInOrderExactlyOnce() throws InterruptedException {
        gw = TestGateway.start(Map.of("SWITCHBOARD_RATE", "100000", "SWITCHBOARD_BURST", "100000"));
        int subscribers = 100;
        int messages = 1000;
        CountDownLatch done = new CountDownLatch(subscribers);
        AtomicReference<String> failure = new AtomicReference<>();
        List<SwitchboardClient> clients = new ArrayList<>();
        for (int s = 0; s < subscribers; s++) {
            SwitchboardClient c = gw.connect();
            clients.add(c);
            long[] expected = {1};
            c.events().ofType(ServerFrame.Message.class).subscribe(m -> {
                if (m.offset() != expected[0] || !m.data().equals("{\"n\":" + m.offset() + "}")) {
                    failure.compareAndSet(
                            null,
                            "subscriber got offset " + m.offset() + " data " + m.data() + " expecting " + expected[0]);
                }
                expected[0]++;
                if (expected[0] == messages + 1) {
                    done.countDown();
                }
            });
            c.subscribe("public:fan").block(T);
        }
        SwitchboardClient publisher = gw.connect();
        Flux.range(1, messages)
                .concatMap(i -> publisher.publish("public:fan", "{\"n\":" + i + "}"), 64)
                .blockLast(T.multipliedBy(3));
        assertThat(done.await(30, TimeUnit.SECONDS))
                .as("all subscribers got all messages")
                .isTrue();
        assertThat(failure.get()).isNull();
        SwitchboardClient marker = gw.connect();
        marker.publish("public:fan", "\"end\"").block(T);
        for (SwitchboardClient c : clients) {
            assertThat(c.isClosed()).isFalse();
        }
    }
}
