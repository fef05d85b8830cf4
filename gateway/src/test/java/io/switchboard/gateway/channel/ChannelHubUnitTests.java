package io.switchboard.gateway.channel;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.switchboard.gateway.metrics.GatewayMetrics;
import io.switchboard.gateway.wire.EventLoops;
import io.switchboard.gateway.wire.WireFrames;
import io.switchboard.protocol.Channels;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * This instance's fan-out from a channel to its local subscribers, docs/protocol.md section 5: every subscriber gets
 * a channel's messages in offset order, each once, and only on its own I/O loop.
 */
class ChannelHubUnitTests {

    private static final String CHANNEL = "public:lobby";
    private static final long AWAIT_SECONDS = 10;

    private EventLoops loops;
    private GatewayMetrics metrics;
    private ChannelHub hub;
    private volatile CountDownLatch delivered = new CountDownLatch(0);

    @BeforeEach
    void start() {
        loops = new EventLoops("hub-test", 2);
        metrics = new GatewayMetrics();
        hub = new ChannelHub(loops, metrics);
        assertThat(loops.count()).isEqualTo(2);
    }

    @AfterEach
    void stop() {
        metrics.close();
        loops.close();
    }

    /** A subscriber that records what it receives, and whether it was called on its own loop. */
    private final class Recorder implements Subscriber {
        private final int loop;
        final List<Long> offsets = Collections.synchronizedList(new ArrayList<>());
        final List<Boolean> onOwnLoop = Collections.synchronizedList(new ArrayList<>());
        final List<byte[]> wires = Collections.synchronizedList(new ArrayList<>());
        final List<ByteBuf> buffers = Collections.synchronizedList(new ArrayList<>());

        Recorder(int loop) {
            this.loop = loop;
        }

        @Override
        public int loop() {
            return loop;
        }

        @Override
        public void deliver(Publication publication, ByteBuf wire) {
            onOwnLoop.add(loops.loop(loop).inEventLoop());
            offsets.add(publication.offset());
            wires.add(ByteBufUtil.getBytes(wire));
            buffers.add(wire);
            delivered.countDown();
        }
    }

    private static Publication publication(String channel, long offset) {
        return new Publication(channel, offset, "a1b2", Publication.MESSAGE, "u_alice", "{\"n\":" + offset + "}", 0);
    }

    private void expect(int deliveries) {
        delivered = new CountDownLatch(deliveries);
    }

    private void awaitDeliveries() throws InterruptedException {
        assertThat(delivered.await(AWAIT_SECONDS, TimeUnit.SECONDS))
                .as("%d deliveries still missing", delivered.getCount())
                .isTrue();
    }

    /** Waits until every loop has run every task handed to it so far. */
    private void drainLoops() throws Exception {
        for (int i = 0; i < loops.count(); i++) {
            loops.loop(i).submit(() -> {}).get(AWAIT_SECONDS, TimeUnit.SECONDS);
        }
    }

    private static byte[] wireBytes(Publication p) {
        ByteBuf expected = WireFrames.encode(new UnpooledByteBufAllocator(false), p.toFrame());
        try {
            return ByteBufUtil.getBytes(expected);
        } finally {
            expected.release();
        }
    }

    private static List<Long> oneTo(int n) {
        List<Long> out = new ArrayList<>(n);
        for (long i = 1; i <= n; i++) {
            out.add(i);
        }
        return out;
    }

    @Test
    @DisplayName("add is true only for a channel's first local subscriber; adding the same one again is a no-op")
    void addReportsTheFirstSubscriber() {
        Recorder a = new Recorder(0);
        Recorder b = new Recorder(1);
        Recorder c = new Recorder(0);

        assertThat(hub.add(CHANNEL, a)).isTrue();
        assertThat(hub.add(CHANNEL, b)).isFalse();
        assertThat(hub.add(CHANNEL, c)).isFalse();
        assertThat(hub.add(CHANNEL, a)).as("again").isFalse();
        assertThat(hub.add("public:other", c)).isTrue();

        assertThat(hub.hasSubscribers(CHANNEL)).isTrue();
        assertThat(hub.hasSubscribers("public:nobody")).isFalse();
        assertThat(hub.channels()).isEqualTo(2);
    }

    @Test
    @DisplayName("remove is true only when the channel's last local subscriber leaves, on whichever loop")
    void removeReportsTheLastSubscriber() {
        Recorder a = new Recorder(0);
        Recorder b = new Recorder(1);
        Recorder c = new Recorder(1);
        hub.add(CHANNEL, a);
        hub.add(CHANNEL, b);
        hub.add(CHANNEL, c);

        assertThat(hub.remove(CHANNEL, b)).isFalse();
        assertThat(hub.remove(CHANNEL, b)).as("not subscribed any more").isFalse();
        assertThat(hub.remove(CHANNEL, a)).as("c is still on loop 1").isFalse();
        assertThat(hub.remove("public:nobody", c)).isFalse();
        assertThat(hub.hasSubscribers(CHANNEL)).isTrue();
        assertThat(hub.remove(CHANNEL, c)).isTrue();

        assertThat(hub.hasSubscribers(CHANNEL)).isFalse();
        assertThat(hub.channels()).isZero();
        assertThat(hub.remove(CHANNEL, c)).isFalse();
        assertThat(hub.add(CHANNEL, a)).as("first again").isTrue();
    }

    @Test
    @DisplayName("docs/protocol.md section 5: every subscriber gets every publication once, in order, on its own loop")
    void dispatchDeliversToEverySubscriberOnItsOwnLoopInOrder() throws Exception {
        List<Recorder> subscribers =
                List.of(new Recorder(0), new Recorder(0), new Recorder(1), new Recorder(1), new Recorder(1));
        subscribers.forEach(s -> hub.add(CHANNEL, s));
        int publications = 200;
        expect(publications * subscribers.size());

        List<Integer> counts = new ArrayList<>();
        for (int offset = 1; offset <= publications; offset++) {
            counts.add(hub.dispatch(publication(CHANNEL, offset)));
        }
        awaitDeliveries();
        drainLoops();

        assertThat(counts).containsOnly(subscribers.size());
        for (Recorder s : subscribers) {
            assertThat(s.offsets).containsExactlyElementsOf(oneTo(publications));
            assertThat(s.onOwnLoop).hasSize(publications).containsOnly(true);
        }
    }

    @Test
    @DisplayName("docs/protocol.md section 5: subscribers receive the message frame as WebSocket wire bytes")
    void subscribersReceiveTheWireBytesOfTheFrame() throws Exception {
        Recorder onFirst = new Recorder(0);
        Recorder onSecond = new Recorder(1);
        hub.add(CHANNEL, onFirst);
        hub.add(CHANNEL, onSecond);
        hub.add(Channels.inboxOf("u_bob"), onSecond);
        Publication message = publication(CHANNEL, 21);
        Publication direct = new Publication(
                Channels.inboxOf("u_bob"), 3, "k2x9", Publication.DIRECT, "u_alice", "{\"text\":\"psst\"}", 0);
        expect(3);

        hub.dispatch(message);
        hub.dispatch(direct);
        awaitDeliveries();

        assertThat(onFirst.wires).singleElement().isEqualTo(wireBytes(message));
        assertThat(onSecond.wires).containsExactly(wireBytes(message), wireBytes(direct));
    }

    @Test
    @DisplayName("a channel without local subscribers gets a count of 0 and nobody is called")
    void dispatchWithoutSubscribersReturnsZero() throws Exception {
        Recorder elsewhere = new Recorder(0);
        hub.add("public:other", elsewhere);

        assertThat(hub.dispatch(publication(CHANNEL, 1))).isZero();
        drainLoops();

        assertThat(elsewhere.offsets).isEmpty();
    }

    @Test
    @DisplayName("docs/protocol.md section 5: a removed subscriber gets nothing published after its removal")
    void removedSubscriberGetsNothingMore() throws Exception {
        Recorder leaving = new Recorder(0);
        Recorder staying = new Recorder(1);
        hub.add(CHANNEL, leaving);
        hub.add(CHANNEL, staying);
        expect(2);
        assertThat(hub.dispatch(publication(CHANNEL, 1))).isEqualTo(2);
        awaitDeliveries();

        hub.remove(CHANNEL, leaving);
        expect(2);
        assertThat(hub.dispatch(publication(CHANNEL, 2))).isEqualTo(1);
        assertThat(hub.dispatch(publication(CHANNEL, 3))).isEqualTo(1);
        awaitDeliveries();
        drainLoops();

        assertThat(leaving.offsets).containsExactly(1L);
        assertThat(staying.offsets).containsExactly(1L, 2L, 3L);
    }

    @Test
    @DisplayName("docs/protocol.md section 5: a subscriber added twice still gets each message once")
    void subscriberAddedTwiceGetsEachMessageOnce() throws Exception {
        Recorder twice = new Recorder(1);
        hub.add(CHANNEL, twice);
        hub.add(CHANNEL, twice);
        expect(1);

        assertThat(hub.dispatch(publication(CHANNEL, 1))).isEqualTo(1);
        awaitDeliveries();
        drainLoops();

        assertThat(twice.offsets).containsExactly(1L);
    }

    @Test
    @DisplayName("dispatching on a subscriber's own loop delivers in a later task, never inside dispatch, in order")
    void dispatchOnTheSubscribersLoopDeliversInALaterTask() throws Exception {
        Recorder local = new Recorder(0);
        Recorder remote = new Recorder(1);
        hub.add(CHANNEL, local);
        hub.add(CHANNEL, remote);
        expect(4);

        List<Long> seenByLocalWhenDispatchReturned = loops.loop(0)
                .submit(() -> {
                    hub.dispatch(publication(CHANNEL, 1));
                    hub.dispatch(publication(CHANNEL, 2));
                    return List.copyOf(local.offsets);
                })
                .get(AWAIT_SECONDS, TimeUnit.SECONDS);
        awaitDeliveries();

        assertThat(seenByLocalWhenDispatchReturned)
                .as("the publisher does not run the fan-out")
                .isEmpty();
        assertThat(local.offsets).containsExactly(1L, 2L);
        assertThat(local.onOwnLoop).containsExactly(true, true);
        assertThat(remote.offsets).containsExactly(1L, 2L);
        assertThat(remote.onOwnLoop).containsExactly(true, true);
    }

    @Test
    @DisplayName("the shared wire buffer is released once every loop has delivered it")
    void sharedBufferIsReleasedAfterDelivery() throws Exception {
        Recorder a = new Recorder(0);
        Recorder b = new Recorder(1);
        hub.add(CHANNEL, a);
        hub.add(CHANNEL, b);
        expect(2);

        hub.dispatch(publication(CHANNEL, 1));
        awaitDeliveries();
        drainLoops();

        assertThat(a.buffers).singleElement().isSameAs(b.buffers.get(0));
        assertThat(a.buffers.get(0).refCnt()).isZero();
    }

    @Test
    @DisplayName("each delivery is counted in switchboard.frames.out under the frame's type")
    void deliveriesAreCounted() throws Exception {
        hub.add(CHANNEL, new Recorder(0));
        hub.add(CHANNEL, new Recorder(1));
        hub.add(CHANNEL, new Recorder(1));
        expect(6);

        hub.dispatch(publication(CHANNEL, 1));
        hub.dispatch(publication(CHANNEL, 2));
        awaitDeliveries();

        double count = metrics.registry()
                .get("switchboard.frames.out")
                .tag("type", "message")
                .counter()
                .count();
        assertThat(count).isEqualTo(6.0);
    }
}
