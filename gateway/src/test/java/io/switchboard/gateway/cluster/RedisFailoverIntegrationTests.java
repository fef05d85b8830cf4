package io.switchboard.gateway.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardException;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisCluster;
import io.switchboard.testing.redis.RedisSentinel;
import io.switchboard.testing.redis.RedisServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Redis changing shape under traffic (issue 14, docs/design.md failure model "Redis failover"): a Redis Cluster master
 * killed and its replica promoted, a Sentinel planned failover and a Sentinel master killed. Acknowledged means
 * delivered, or covered by a new epoch (docs/protocol.md section 5); an offset is never handed out twice in one epoch.
 */
class RedisFailoverIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    /** From a promotion to live delivery again: a few seconds (topology refresh, re-subscription). */
    private static final Duration FOLLOW = Duration.ofSeconds(15);

    @RegisterExtension
    final Closing owned = new Closing();

    private TestGateway instance(String url, String node) {
        Map<String, String> env = new HashMap<>();
        env.put("REDIS_URL", url);
        env.put("SWITCHBOARD_NODE_ID", node);
        env.put("SWITCHBOARD_RATE", "100000");
        env.put("SWITCHBOARD_BURST", "100000");
        TestGateway gw = TestGateway.start(env);
        owned.keep(gw);
        return gw;
    }

    private static String status(TestGateway gw) {
        return gw.health().path("status").asText();
    }

    /** A steady stream of publishes to one channel, each remembered as acknowledged or refused. */
    private final class Stream {
        final String channel;
        final List<ServerFrame.Ack> acked = new CopyOnWriteArrayList<>();
        final List<String> ackedData = new CopyOnWriteArrayList<>();
        final List<SwitchboardException> refused = new CopyOnWriteArrayList<>();
        final AtomicInteger sent = new AtomicInteger();
        final Disposable loop;

        Stream(
                SwitchboardClient publisher,
                String channel,
                Duration every,
                Function<String, Mono<ServerFrame.Ack>> publish) {
            this.channel = channel;
            this.loop = Flux.interval(every)
                    .onBackpressureDrop()
                    .concatMap(
                            i -> {
                                String data = "\"" + channel + "#" + sent.incrementAndGet() + "\"";
                                return publish.apply(data)
                                        .doOnNext(a -> {
                                            acked.add(a);
                                            ackedData.add(data);
                                        })
                                        .onErrorResume(SwitchboardException.class, e -> {
                                            refused.add(e);
                                            return Mono.empty();
                                        })
                                        .onErrorResume(e -> Mono.empty());
                            },
                            1)
                    .subscribe();
            owned.keep(loop::dispose);
        }

        int acks() {
            return acked.size();
        }
    }

    /** What one client received, in order (a client's events can be subscribed to once). */
    private static final class Inbound {
        final List<ServerFrame> frames = new CopyOnWriteArrayList<>();

        Inbound(SwitchboardClient client) {
            client.events().subscribe(frames::add);
        }

        Received of(String channel) {
            return new Received(this, channel);
        }
    }

    /** What one client received of one channel, in order. */
    private record Received(Inbound inbound, String channel) {
        List<ServerFrame.Message> messages() {
            return inbound.frames.stream()
                    .filter(f ->
                            f instanceof ServerFrame.Message m && m.channel().equals(channel))
                    .map(f -> (ServerFrame.Message) f)
                    .toList();
        }

        boolean has(String data) {
            return messages().stream().anyMatch(m -> m.data().equals(data));
        }
    }

    /**
     * Every acknowledged message reached the subscriber, or the subscriber moved on to a newer epoch after it (the
     * history of that epoch was lost, and the client is told so); no (epoch, offset) carries two different messages.
     */
    private static void assertAckedDeliveredOrEpochChanged(Stream stream, Received received, String who) {
        Map<String, String> byPosition = new HashMap<>();
        for (int i = 0; i < stream.acked.size(); i++) {
            ServerFrame.Ack a = stream.acked.get(i);
            String was = byPosition.put(a.epoch() + "/" + a.offset(), stream.ackedData.get(i));
            assertThat(was)
                    .as("%s: offset %s of epoch %s acknowledged twice", stream.channel, a.offset(), a.epoch())
                    .isNull();
        }
        Map<String, String> deliveredAt = new HashMap<>();
        List<String> epochs = new ArrayList<>();
        for (ServerFrame.Message m : received.messages()) {
            String was = deliveredAt.put(m.epoch() + "/" + m.offset(), m.data());
            assertThat(was)
                    .as("%s: %s received offset %s of epoch %s twice", stream.channel, who, m.offset(), m.epoch())
                    .isNull();
            if (!epochs.contains(m.epoch())) {
                epochs.add(m.epoch());
            }
            String acked = byPosition.get(m.epoch() + "/" + m.offset());
            if (acked != null) {
                assertThat(m.data())
                        .as("%s: %s got another message at an acknowledged position", stream.channel, who)
                        .isEqualTo(acked);
            }
        }
        String lastEpoch = epochs.isEmpty() ? null : epochs.get(epochs.size() - 1);
        List<String> missing = new ArrayList<>();
        for (int i = 0; i < stream.acked.size(); i++) {
            ServerFrame.Ack a = stream.acked.get(i);
            boolean delivered = stream.ackedData.get(i).equals(deliveredAt.get(a.epoch() + "/" + a.offset()));
            boolean covered = lastEpoch != null && !a.epoch().equals(lastEpoch);
            if (!delivered && !covered) {
                missing.add(a.epoch() + "/" + a.offset());
            }
        }
        assertThat(missing)
                .as(
                        "%s: acknowledged, neither delivered to %s nor covered by a new epoch (epochs seen" + " %s)",
                        stream.channel, who, epochs)
                .isEmpty();
    }

    /** A channel name whose slot the given master serves (or does not, when {@code on} is false). */
    private static String channelOn(RedisCluster cluster, RedisServer master, boolean on, String prefix) {
        for (int i = 0; ; i++) {
            String name = prefix + i;
            if ((cluster.masterForSlot(RedisCluster.slot(name)).port() == master.port()) == on) {
                return name;
            }
        }
    }

    private ListAppender<ILoggingEvent> logsOf(Class<?> type) {
        ListAppender<ILoggingEvent> logs = new ListAppender<>();
        logs.start();
        Logger logger = (Logger) LoggerFactory.getLogger(type);
        logger.addAppender(logs);
        owned.keep(() -> logger.detachAppender(logs));
        return logs;
    }

    @Test
    @DisplayName("Redis Cluster, a master killed: /health names it and says DEGRADED, its slots' publishes are"
            + " refused while other slots are unaffected, and after the promotion live delivery and directs resume on"
            + " both instances with nothing acknowledged lost")
    void clusterMasterKilled() {
        RedisCluster cluster = RedisCluster.start(3, 1);
        owned.keep(cluster);
        TestGateway a = instance(cluster.uri(), "gw-a");
        TestGateway b = instance(cluster.uri(), "gw-b");
        Await.until("both UP", T, () -> status(a).equals("UP") && status(b).equals("UP"));
        ListAppender<ILoggingEvent> logs = logsOf(RedisConnections.class);

        RedisServer victim = cluster.masters().get(0);
        String slots = cluster.slotRanges(victim);
        String onVictim = channelOn(cluster, victim, true, "public:v");
        String healthy = channelOn(cluster, victim, false, "public:h");
        String user = channelOn(cluster, victim, true, "user:u").substring("user:".length());

        SwitchboardClient subA = a.connect();
        SwitchboardClient subB = b.connect();
        SwitchboardClient recipient = b.connect(Tokens.user(user));
        Inbound inA = new Inbound(subA);
        Inbound inB = new Inbound(subB);
        Received victimOnA = inA.of(onVictim);
        Received victimOnB = inB.of(onVictim);
        Received healthyOnB = inB.of(healthy);
        List<ServerFrame.Direct> directs = new CopyOnWriteArrayList<>();
        recipient.events().ofType(ServerFrame.Direct.class).subscribe(directs::add);
        subA.subscribe(onVictim).block(T);
        subB.subscribe(onVictim).block(T);
        subB.subscribe(healthy).block(T);

        SwitchboardClient publisher = a.connect();
        Stream toVictim = new Stream(publisher, onVictim, Duration.ofMillis(20), d -> publisher.publish(onVictim, d));
        Stream toHealthy = new Stream(publisher, healthy, Duration.ofMillis(20), d -> publisher.publish(healthy, d));
        SwitchboardClient sender = a.connect();
        Stream sends = new Stream(sender, "direct", Duration.ofMillis(50), d -> sender.send(user, d));
        Await.until(
                "traffic on every stream",
                T,
                () -> toVictim.acks() >= 20 && toHealthy.acks() >= 20 && sends.acks() >= 10);

        cluster.killMaster(victim);
        int healthyRefusedBefore = toHealthy.refused.size();
        Await.until("DEGRADED naming the failed master on both", FOLLOW, () -> {
            for (TestGateway gw : List.of(a, b)) {
                JsonNode h = gw.health();
                if (!h.path("status").asText().equals("DEGRADED")
                        || !h.path("dependencies")
                                .path("redis")
                                .path("detail")
                                .asText()
                                .contains("127.0.0.1:" + victim.port())) {
                    return false;
                }
            }
            return true;
        });
        long promotedAt;
        cluster.awaitPromotion(victim, Duration.ofSeconds(30));
        promotedAt = System.nanoTime();
        int victimAcks = toVictim.acks();
        Await.until(
                "publishes to the failed slots acknowledged again", FOLLOW, () -> toVictim.acks() >= victimAcks + 20);
        String last = toVictim.ackedData.get(toVictim.acks() - 1);
        Await.until(
                "live delivery on both instances after the promotion",
                FOLLOW,
                () -> victimOnA.has(last) && victimOnB.has(last));
        long liveMs = (System.nanoTime() - promotedAt) / 1_000_000;
        Await.until(
                "UP on both after the promotion",
                FOLLOW,
                () -> status(a).equals("UP") && status(b).equals("UP"));

        // the old master comes back, as a replica of the promoted one: delivery goes on
        victim.restart();
        cluster.awaitRejoined(victim, Duration.ofSeconds(30));
        int acksAtRejoin = toVictim.acks();
        Await.until("publishes after the old master rejoined", FOLLOW, () -> toVictim.acks() >= acksAtRejoin + 20);
        String afterRejoin = toVictim.ackedData.get(toVictim.acks() - 1);
        Await.until(
                "live delivery on both instances after the old master rejoined",
                FOLLOW,
                () -> victimOnA.has(afterRejoin) && victimOnB.has(afterRejoin));

        toVictim.loop.dispose();
        toHealthy.loop.dispose();
        sends.loop.dispose();
        String lastHealthy = toHealthy.ackedData.get(toHealthy.acks() - 1);
        try {
            Await.until("the healthy channel's last message", T, () -> healthyOnB.has(lastHealthy));
        } catch (AssertionError e) {
            List<ServerFrame.Message> got = healthyOnB.messages();
            throw new AssertionError(
                    e.getMessage() + "; acked " + toHealthy.acks() + " last " + lastHealthy
                            + " at " + toHealthy.acked.get(toHealthy.acks() - 1).offset() + "; received " + got.size()
                            + " last " + (got.isEmpty() ? null : got.get(got.size() - 1)),
                    e);
        }
        String lastVictim = toVictim.ackedData.get(toVictim.acks() - 1);
        Await.until(
                "the failed-over channel's last message",
                T,
                () -> victimOnA.has(lastVictim) && victimOnB.has(lastVictim));

        assertThat(toHealthy.refused.subList(healthyRefusedBefore, toHealthy.refused.size()))
                .extracting(Throwable::getMessage)
                .as("publishes to slots of healthy masters are not refused")
                .isEmpty();
        assertThat(toVictim.refused).allSatisfy(e -> assertThat(e.code()).isEqualTo(ErrorCodes.UNAVAILABLE));
        assertAckedDeliveredOrEpochChanged(toHealthy, healthyOnB, "gw-b");
        assertAckedDeliveredOrEpochChanged(toVictim, victimOnA, "gw-a");
        assertAckedDeliveredOrEpochChanged(toVictim, victimOnB, "gw-b");
        List<String> sentDelivered = new ArrayList<>();
        for (int i = 0; i < sends.acked.size(); i++) {
            if (Boolean.TRUE.equals(sends.acked.get(i).delivered())) {
                sentDelivered.add(sends.ackedData.get(i));
            }
        }
        String lastDirect = sentDelivered.get(sentDelivered.size() - 1);
        Await.until(
                "the last direct delivered",
                T,
                () -> directs.stream().anyMatch(d -> d.data().equals(lastDirect)));
        List<String> got = directs.stream().map(ServerFrame.Direct::data).toList();
        assertThat(got)
                .as("every direct acknowledged as delivered arrives (promotion to live delivery %s ms)", liveMs)
                .containsAll(sentDelivered);

        Map<String, Long> epochs = new LinkedHashMap<>();
        toVictim.acked.forEach(k -> epochs.merge(k.epoch(), 1L, Long::sum));
        System.out.printf(
                "cluster failover: promotion to live delivery %d ms, refused %d, acks per epoch %s%n",
                liveMs, toVictim.refused.size(), epochs);
        List<String> lines =
                logs.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
        assertThat(lines)
                .anySatisfy(l -> assertThat(l)
                        .contains("Redis master 127.0.0.1:" + victim.port())
                        .contains("(slots " + slots + ")")
                        .contains("is down"));
        assertThat(logs.list).allSatisfy(e -> assertThat(e.getThrowableProxy()).isNull());
    }

    @Test
    @DisplayName("Sentinel, a planned failover and then the master killed, under a steady publish stream: no offset is"
            + " handed out twice in an epoch, and every acknowledged message is delivered or covered by a new epoch")
    void sentinelFailovers() {
        RedisSentinel sentinel = RedisSentinel.startWithReplica();
        owned.keep(sentinel);
        TestGateway a = instance(sentinel.uri(), "gw-a");
        TestGateway b = instance(sentinel.uri(), "gw-b");
        Await.until("both UP", T, () -> status(a).equals("UP") && status(b).equals("UP"));
        ListAppender<ILoggingEvent> logs = logsOf(RedisConnections.class);

        String channel = "public:sentinel";
        SwitchboardClient subA = a.connect();
        SwitchboardClient subB = b.connect();
        Received onA = new Inbound(subA).of(channel);
        Received onB = new Inbound(subB).of(channel);
        subA.subscribe(channel).block(T);
        subB.subscribe(channel).block(T);
        SwitchboardClient publisher = a.connect();
        Stream stream = new Stream(publisher, channel, Duration.ofMillis(10), d -> publisher.publish(channel, d));
        Await.until("a steady stream", T, () -> stream.acks() >= 50);

        RedisServer first = sentinel.currentMaster();
        long t0 = System.nanoTime();
        sentinel.failover();
        RedisServer second = sentinel.awaitNewMaster(first, Duration.ofSeconds(30));
        int acksAtSwitch = stream.acks();
        Await.until(
                "publishes acknowledged after the planned failover", FOLLOW, () -> stream.acks() >= acksAtSwitch + 50);
        long plannedMs = (System.nanoTime() - t0) / 1_000_000;

        second.kill();
        long t1 = System.nanoTime();
        sentinel.awaitNewMaster(second, Duration.ofSeconds(30));
        int acksAtKill = stream.acks();
        Await.until(
                "publishes acknowledged after the master was killed", FOLLOW, () -> stream.acks() >= acksAtKill + 50);
        long killedMs = (System.nanoTime() - t1) / 1_000_000;

        stream.loop.dispose();
        String last = stream.ackedData.get(stream.acks() - 1);
        Await.until("the last message on both", T, () -> onA.has(last) && onB.has(last));
        assertAckedDeliveredOrEpochChanged(stream, onA, "gw-a");
        assertAckedDeliveredOrEpochChanged(stream, onB, "gw-b");

        List<String> lines =
                logs.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
        assertThat(lines)
                .as("planned failover to writes again %s ms, kill to writes again %s ms", plannedMs, killedMs)
                .anySatisfy(l -> assertThat(l)
                        .contains("moved from")
                        .contains("127.0.0.1:" + second.port())
                        .contains("sentinels"));
        assertThat(logs.list).allSatisfy(e -> assertThat(e.getThrowableProxy()).isNull());
        Map<String, Long> epochs = new LinkedHashMap<>();
        stream.acked.forEach(k -> epochs.merge(k.epoch(), 1L, Long::sum));
        System.out.printf(
                "sentinel failovers: planned %d ms, kill %d ms, acks per epoch %s, refused %d%n",
                plannedMs, killedMs, epochs, stream.refused.size());
    }
}
