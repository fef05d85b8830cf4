package io.switchboard.gateway.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import io.switchboard.testing.net.TcpProxy;
import io.switchboard.testing.redis.RedisServer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

/**
 * Redis losing acknowledged writes, as an asynchronous failover or a restart from an old snapshot does: the
 * channel's offset counter goes back. Offsets are never handed out twice in one epoch: whoever saw the lost
 * offsets (the publishing instance, a subscribing instance, a catch-up) starts a new epoch, and clients see the
 * epoch change, never a reused offset or a silent gap (docs/protocol.md section 5, docs/design.md "Redis failover").
 */
class RedisDataLossIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;

    @RegisterExtension
    final Closing owned = new Closing();

    private RedisServer redis;
    private ListAppender<ILoggingEvent> brokerLogs;

    @BeforeEach
    void redis() {
        redis = RedisServer.start();
        owned.keep(redis);
        brokerLogs = new ListAppender<>();
        brokerLogs.start();
        Logger logger = (Logger) LoggerFactory.getLogger(RedisBroker.class);
        logger.addAppender(brokerLogs);
        owned.keep(() -> logger.detachAppender(brokerLogs));
    }

    private TestGateway instance(String node) {
        TestGateway gw = TestGateway.startClustered(redis.uri(), node, Map.of());
        owned.keep(gw);
        return gw;
    }

    /** An instance reaching Redis through {@code proxy}, which the test can cut. */
    private TestGateway behind(TcpProxy proxy) {
        return owned.keep(TestGateway.startClustered("redis://127.0.0.1:" + proxy.port(), "gw-b", Map.of()));
    }

    /** Makes Redis forget every message of {@code channel} after {@code keep}, as a failover can. */
    private void loseAfter(String channel, int keep) {
        redis.cli("SET", "sb:{" + channel + "}:s", Integer.toString(keep));
        redis.cli("LTRIM", "sb:{" + channel + "}:h", "0", Integer.toString(keep - 1));
    }

    private String epochInRedis(String channel) {
        return redis.cli("GET", "sb:{" + channel + "}:e");
    }

    private List<String> lostLines() {
        return brokerLogs.list.stream()
                .map(ILoggingEvent::getFormattedMessage)
                .filter(l -> l.startsWith("Redis lost acknowledged messages"))
                .toList();
    }

    /** Publishes {@code n} messages and waits until {@code subscriber} has them all; returns the epoch. */
    private static String publishAndReceive(
            SwitchboardClient publisher, EventRecorder subscriber, String channel, int n) {
        String epoch = null;
        for (int i = 1; i <= n; i++) {
            epoch = publisher.publish(channel, Integer.toString(i)).block(T).epoch();
        }
        assertThat(subscriber.next(ServerFrame.Message.class, n))
                .extracting(ServerFrame.Message::offset)
                .last()
                .isEqualTo((long) n);
        return epoch;
    }

    @Test
    @DisplayName("section 5: the instance that acknowledged offsets Redis lost starts a new epoch at its next publish;"
            + " the subscriber gets the new epoch from offset 1, and one log line says so")
    void publisherNoticesTheCounterWentBack() {
        TestGateway a = instance("gw-a");
        TestGateway b = instance("gw-b");
        SwitchboardClient sub = b.connect();
        EventRecorder events = EventRecorder.of(sub);
        sub.subscribe("public:lost").block(T);
        SwitchboardClient pub = a.connect();
        String epoch = publishAndReceive(pub, events, "public:lost", 10);

        loseAfter("public:lost", 5);
        ServerFrame.Ack next = pub.publish("public:lost", "11").block(T);

        assertThat(next.epoch()).as("a new epoch, not offset 6 again").isNotEqualTo(epoch);
        assertThat(next.offset()).isEqualTo(1L);
        ServerFrame.Message got = events.next(ServerFrame.Message.class);
        assertThat(got.epoch()).isEqualTo(next.epoch());
        assertThat(got.offset()).isEqualTo(1L);
        assertThat(got.data()).isEqualTo("11");
        Await.until("one line naming the channel", T, () -> lostLines().size() == 1);
        assertThat(lostLines().get(0)).contains("public:lost").contains(epoch).contains(next.epoch());
        ServerFrame.Ack resubscribed = a.connect()
                .subscribe("public:lost", new StreamPosition(10, epoch))
                .block(T);
        assertThat(resubscribed.recovered())
                .as("a client recovering from before the loss is told")
                .isFalse();
    }

    @Test
    @DisplayName("section 5: an offset handed out a second time by an instance that never saw the first is not"
            + " delivered as new where the first was: that instance starts a new epoch for the channel")
    void subscriberNoticesAnOffsetHandedOutTwice() {
        TestGateway a = instance("gw-a");
        TestGateway b = instance("gw-b");
        SwitchboardClient sub = b.connect();
        EventRecorder events = EventRecorder.of(sub);
        sub.subscribe("public:twice").block(T);
        String epoch = publishAndReceive(a.connect(), events, "public:twice", 10);

        loseAfter("public:twice", 5);
        TestGateway c = instance("gw-c");
        SwitchboardClient stranger = c.connect();
        ServerFrame.Ack reused = stranger.publish("public:twice", "\"again\"").block(T);
        assertThat(reused.epoch())
                .as("gw-c knew nothing: Redis handed offset 6 out again")
                .isEqualTo(epoch);
        assertThat(reused.offset()).isEqualTo(6L);

        Await.until("gw-b starts a new epoch", T, () -> !epoch.equals(epochInRedis("public:twice")));
        ServerFrame.Ack after = stranger.publish("public:twice", "\"after\"").block(T);
        assertThat(after.epoch()).isNotEqualTo(epoch);
        ServerFrame.Message got = events.next(ServerFrame.Message.class);
        assertThat(got.epoch())
                .as("offset 6 of the old epoch is not delivered twice")
                .isEqualTo(after.epoch());
        assertThat(got.data()).isEqualTo("\"after\"");
        assertThat(lostLines())
                .singleElement()
                .asString()
                .contains("public:twice")
                .contains("handed out twice");
    }

    @Test
    @DisplayName("section 5: after a pub/sub reconnect, a catch-up that finds Redis behind what this instance"
            + " delivered starts a new epoch")
    void catchUpNoticesTheCounterWentBack() {
        TestGateway b = instance("gw-b");
        SwitchboardClient sub = b.connect();
        EventRecorder events = EventRecorder.of(sub);
        sub.subscribe("public:behind").block(T);
        String epoch = publishAndReceive(instance("gw-a").connect(), events, "public:behind", 10);

        loseAfter("public:behind", 5);
        redis.cli("CLIENT", "KILL", "TYPE", "pubsub");

        Await.until("the catch-up starts a new epoch", T, () -> !epoch.equals(epochInRedis("public:behind")));
        Await.until("one line naming the channel", T, () -> lostLines().size() == 1);
        assertThat(lostLines().get(0)).contains("public:behind");
        assertThat(redis.cli("GET", "sb:{public:behind}:s"))
                .as("offsets restart in the new epoch")
                .isEmpty();
    }

    @Test
    @DisplayName("section 5: Redis lost a channel while an instance was cut off, and a new epoch got messages"
            + " meanwhile: after the reconnect that instance delivers them from the new epoch's start")
    void newEpochPublishedWhileCutOffIsDelivered() {
        TcpProxy proxy = owned.keep(TcpProxy.to(redis.port()));
        TestGateway b = behind(proxy);
        SwitchboardClient sub = b.connect();
        EventRecorder events = EventRecorder.of(sub);
        sub.subscribe("public:reborn").block(T);
        SwitchboardClient pub = instance("gw-a").connect();
        String epoch = publishAndReceive(pub, events, "public:reborn", 3);

        proxy.refuse();
        proxy.cutAll();
        Await.until(
                "gw-b sees Redis gone",
                T,
                () -> b.health().path("status").asText().equals("DEGRADED"));
        redis.cli("DEL", "sb:{public:reborn}:s", "sb:{public:reborn}:e", "sb:{public:reborn}:h");
        ServerFrame.Ack first = pub.publish("public:reborn", "\"a\"").block(T);
        pub.publish("public:reborn", "\"b\"").block(T);
        assertThat(first.epoch()).isNotEqualTo(epoch);
        proxy.accept();

        List<ServerFrame.Message> got = events.next(ServerFrame.Message.class, 2);
        assertThat(got).extracting(ServerFrame.Message::epoch).containsOnly(first.epoch());
        assertThat(got).extracting(ServerFrame.Message::data).containsExactly("\"a\"", "\"b\"");
    }

    @Test
    @DisplayName("section 5: Redis going back to an older state (a failover to a replica that lagged) brings an earlier"
            + " epoch back: its new offsets are delivered, its old ones never twice, and offsets it hands out again"
            + " start a new epoch")
    void earlierEpochComingBack() {
        TestGateway b = instance("gw-b");
        SwitchboardClient sub = b.connect();
        EventRecorder events = EventRecorder.of(sub);
        sub.subscribe("public:aba").block(T);
        SwitchboardClient pub = instance("gw-a").connect();
        String first = publishAndReceive(pub, events, "public:aba", 5);

        // Redis loses the channel: a second epoch gets three messages
        redis.cli("DEL", "sb:{public:aba}:s", "sb:{public:aba}:e", "sb:{public:aba}:h");
        String second = publishAndReceive(pub, events, "public:aba", 3);
        assertThat(second).isNotEqualTo(first);

        // the first epoch comes back whole: the next offset is new in it, and is delivered
        redis.cli("SET", "sb:{public:aba}:e", first);
        redis.cli("SET", "sb:{public:aba}:s", "5");
        ServerFrame.Ack sixth = pub.publish("public:aba", "\"sixth\"").block(T);
        assertThat(sixth.epoch()).isEqualTo(first);
        ServerFrame.Message got = events.next(ServerFrame.Message.class);
        assertThat(got.epoch()).isEqualTo(first);
        assertThat(got.offset()).isEqualTo(6L);

        // it comes back once more, behind what was delivered of it. The publisher that acknowledged offset 6 would
        // notice; one that never published here does not: offset 4 again is not delivered, a new epoch is
        redis.cli("SET", "sb:{public:aba}:s", "3");
        SwitchboardClient stranger = instance("gw-c").connect();
        ServerFrame.Ack reused = stranger.publish("public:aba", "\"reused\"").block(T);
        assertThat(reused.epoch()).isEqualTo(first);
        assertThat(reused.offset()).isEqualTo(4L);
        Await.until("gw-b starts a new epoch", T, () -> !first.equals(epochInRedis("public:aba")));
        ServerFrame.Ack after = stranger.publish("public:aba", "\"after\"").block(T);
        ServerFrame.Message next = events.next(ServerFrame.Message.class);
        assertThat(next.epoch())
                .as("offset 4 of the first epoch was not delivered twice")
                .isEqualTo(after.epoch());
        assertThat(next.data()).isEqualTo("\"after\"");
    }

    @Test
    @DisplayName("section 5: an earlier epoch back while an instance was cut off is caught up from where that"
            + " instance left it, never from its start: nothing is delivered twice")
    void earlierEpochBackWhileCutOffIsNotRepeated() {
        TcpProxy proxy = owned.keep(TcpProxy.to(redis.port()));
        TestGateway b = behind(proxy);
        SwitchboardClient sub = b.connect();
        EventRecorder events = EventRecorder.of(sub);
        sub.subscribe("public:back").block(T);
        SwitchboardClient pub = instance("gw-a").connect();
        String first = publishAndReceive(pub, events, "public:back", 5);
        redis.cli("DEL", "sb:{public:back}:s", "sb:{public:back}:e", "sb:{public:back}:h");
        publishAndReceive(pub, events, "public:back", 3);

        proxy.refuse();
        proxy.cutAll();
        Await.until(
                "gw-b sees Redis gone",
                T,
                () -> b.health().path("status").asText().equals("DEGRADED"));
        redis.cli("SET", "sb:{public:back}:e", first);
        redis.cli("SET", "sb:{public:back}:s", "5");
        ServerFrame.Ack sixth = pub.publish("public:back", "\"sixth\"").block(T);
        assertThat(sixth.epoch()).isEqualTo(first);
        proxy.accept();

        ServerFrame.Message got = events.next(ServerFrame.Message.class);
        assertThat(got.epoch() + "/" + got.offset())
                .as("only what gw-b had not delivered of the first epoch")
                .isEqualTo(first + "/6");
        events.assertNothingWithin(Duration.ofMillis(500));
    }
}
