package io.switchboard.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.switchboard.gateway.channel.Broker;
import io.switchboard.gateway.channel.ChannelHub;
import io.switchboard.gateway.channel.ChannelService;
import io.switchboard.gateway.channel.LocalBroker;
import io.switchboard.gateway.channel.MemoryHistory;
import io.switchboard.gateway.channel.Occupancy;
import io.switchboard.gateway.channel.Publication;
import io.switchboard.gateway.cluster.RedisUnavailableException;
import io.switchboard.gateway.config.GatewayConfig;
import io.switchboard.gateway.id.Ids;
import io.switchboard.gateway.match.MatchService;
import io.switchboard.gateway.metrics.GatewayMetrics;
import io.switchboard.gateway.support.MemorySessions;
import io.switchboard.gateway.wire.EventLoops;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import reactor.test.scheduler.VirtualTimeScheduler;

/**
 * The session's protocol logic without a socket (docs/protocol.md sections 2 to 5 and 7): fed frames as the transport
 * would, answering through a fake {@link Outbound}, on virtual time.
 */
class SessionUnitTests {
    private static final String HELLO = "{\"type\":\"hello\",\"v\":1}";

    private final VirtualTimeScheduler time = VirtualTimeScheduler.create();
    private final LongSupplier nanoTime = () -> time.now(TimeUnit.NANOSECONDS);
    private final GatewayMetrics metrics = new GatewayMetrics();
    private final EventLoops loops = new EventLoops("session-test", 1);
    private final Scheduler matchScheduler = Schedulers.newSingle("session-test-match");
    private final FakeOutbound out = new FakeOutbound();
    private final GatewayConfig config = GatewayConfig.fromEnvironment(Map.of(
            "SWITCHBOARD_HELLO_TIMEOUT_MS",
            "2000",
            "SWITCHBOARD_PING_INTERVAL_MS",
            "10000",
            "SWITCHBOARD_PING_TIMEOUT_MS",
            "5000",
            "SWITCHBOARD_RATE",
            "1",
            "SWITCHBOARD_BURST",
            "3"));
    private MatchService matches;
    private Session session;

    /** Publishing to {@code public:redis-down} fails as during a Redis outage, to {@code public:bug} as a bug. */
    private Session start() {
        Ids ids = new Ids(new SplittableRandom(1));
        ChannelHub hub = new ChannelHub(loops, metrics);
        MemoryHistory history = new MemoryHistory(10, 60_000, nanoTime, ids);
        LocalBroker local = new LocalBroker(history, hub);
        Broker broker = new Broker() {
            @Override
            public Mono<Publication> publish(String channel, String type, String from, String data) {
                return switch (channel) {
                    case "public:redis-down" -> Mono.error(new RedisUnavailableException("Redis is not connected"));
                    case "public:bug" -> Mono.error(new IllegalStateException("a bug"));
                    default -> local.publish(channel, type, from, data);
                };
            }

            @Override
            public Mono<Void> attach(String channel) {
                return local.attach(channel);
            }

            @Override
            public void detach(String channel) {
                local.detach(channel);
            }

            @Override
            public void close() {
                local.close();
            }
        };
        ChannelService channels = new ChannelService(hub, broker, history, Occupancy.NONE);
        MemorySessions parts = MemorySessions.create(config, channels, metrics, ids, nanoTime, matchScheduler);
        matches = parts.matches();
        SessionContext ctx = parts.context();
        session = new Session(ctx, out, time, 0);
        out.session = session;
        session.start();
        return session;
    }

    @AfterEach
    void close() {
        if (matches != null) {
            matches.close();
        }
        matchScheduler.dispose();
        loops.close();
        time.dispose();
    }

    /** Feeds one text message as the transport does: counted, then processed in turn. */
    private void receive(String text) {
        if (session.arrived()) {
            session.process(session.textArrived(text)).block(Duration.ofSeconds(5));
        }
    }

    private void advance(long ms) {
        time.advanceTimeBy(Duration.ofMillis(ms));
    }

    private ServerFrame.Welcome hello() {
        receive(HELLO);
        assertThat(out.frames).hasSize(1).first().isInstanceOf(ServerFrame.Welcome.class);
        return (ServerFrame.Welcome) out.frames.remove(0);
    }

    @Test
    void noHelloWithinTheHelloTimeoutClosesWith4005() {
        start();
        advance(1_999);
        assertThat(out.closeCode).isZero();
        advance(1);
        assertThat(out.closeCode).isEqualTo(CloseCodes.HELLO_TIMEOUT);
        assertThat(out.closeReason).isEqualTo("no hello within 2000 ms");
    }

    @Test
    void helloInTimeOpensTheSessionAndCancelsTheHelloTimeout() {
        start();
        ServerFrame.Welcome welcome = hello();
        assertThat(welcome.guest()).isTrue();
        advance(5_000);
        assertThat(out.closeCode).isZero();
    }

    @Test
    void heartbeatPingsEveryIntervalAndClosesASilentClientWith4003() {
        start();
        hello();
        advance(9_999);
        assertThat(out.pings).isZero();
        advance(1);
        assertThat(out.pings).isEqualTo(1);
        // a pong (any frame) within the timeout keeps the connection
        advance(4_000);
        session.arrived();
        session.controlArrived();
        advance(6_000);
        assertThat(out.pings).isEqualTo(2);
        assertThat(out.closeCode).isZero();
        // then silence for ping.interval + ping.timeout since the last frame
        advance(8_999);
        assertThat(out.closeCode).isZero();
        advance(1);
        assertThat(out.closeCode).isEqualTo(CloseCodes.HEARTBEAT_TIMEOUT);
        assertThat(out.closeReason).isEqualTo("nothing received for 15000 ms");
    }

    @Test
    void requestsOverTheRateAreAnsweredRateLimitedAndAFloodIsClosedWith1008() {
        start();
        hello(); // one of the burst of 3, counted like any frame
        receive("{\"type\":\"publish\",\"id\":1,\"channel\":\"public:a\",\"data\":1}");
        receive("{\"type\":\"publish\",\"id\":2,\"channel\":\"public:a\",\"data\":2}");
        receive("{\"type\":\"publish\",\"id\":3,\"channel\":\"public:a\",\"data\":3}");
        assertThat(out.frames).hasSize(3);
        assertThat(out.frames.get(0)).isInstanceOf(ServerFrame.Ack.class);
        assertThat(out.frames.get(1)).isInstanceOf(ServerFrame.Ack.class);
        ServerFrame.Error limited = (ServerFrame.Error) out.frames.get(2);
        assertThat(limited.id()).isEqualTo(3L);
        assertThat(limited.code()).isEqualTo(ErrorCodes.RATE_LIMITED);
        assertThat(limited.retryAfter()).isPositive();
        // ten times the rate (a burst of 30) is abuse: closed with 1008, nothing more is read
        for (int i = 0; i < 40 && out.closeCode == 0; i++) {
            receive("{\"type\":\"publish\",\"channel\":\"public:a\",\"data\":0}");
        }
        assertThat(out.closeCode).isEqualTo(CloseCodes.POLICY_VIOLATION);
        assertThat(session.arrived()).isFalse();
    }

    @Test
    void repliesComeInRequestOrder() {
        start();
        hello();
        advance(10_000); // a full bucket
        out.pings = 0;
        receive("{\"type\":\"publish\",\"id\":1,\"channel\":\"public:a\",\"data\":1}");
        receive("{\"type\":\"send\",\"id\":2,\"to\":\"u_nobody\",\"data\":2}");
        receive("{\"type\":\"publish\",\"id\":3,\"channel\":\"public:a\",\"data\":3}");
        assertThat(out.frames).extracting(f -> ((ServerFrame.Ack) f).id()).containsExactly(1L, 2L, 3L);
        assertThat(((ServerFrame.Ack) out.frames.get(0)).offset()).isEqualTo(1L);
        assertThat(((ServerFrame.Ack) out.frames.get(1)).delivered()).isFalse();
        assertThat(((ServerFrame.Ack) out.frames.get(2)).offset()).isEqualTo(2L);
    }

    @Test
    void aDependencyOutageIsUnavailableWithRetryAfterAndABugIsInternal() {
        start();
        hello();
        receive("{\"type\":\"publish\",\"id\":1,\"channel\":\"public:redis-down\",\"data\":1}");
        receive("{\"type\":\"publish\",\"id\":2,\"channel\":\"public:bug\",\"data\":2}");
        ServerFrame.Error outage = (ServerFrame.Error) out.frames.get(0);
        assertThat(outage.id()).isEqualTo(1L);
        assertThat(outage.code()).isEqualTo(ErrorCodes.UNAVAILABLE);
        assertThat(outage.retryAfter()).isEqualTo(1_000L);
        ServerFrame.Error bug = (ServerFrame.Error) out.frames.get(1);
        assertThat(bug.id()).isEqualTo(2L);
        assertThat(bug.code()).isEqualTo(ErrorCodes.INTERNAL);
        assertThat(bug.retryAfter()).isNull();
        assertThat(out.closeCode).isZero();
    }

    @Test
    void aSlowConsumerIsClosedWith4004ThroughThePort() {
        start();
        hello();
        out.bound = 0; // the client stopped reading: the next frame goes past the outbound bound
        receive("{\"type\":\"publish\",\"id\":1,\"channel\":\"public:a\",\"data\":1}");
        assertThat(out.writesStopped).isTrue();
        assertThat(out.closeCode).isEqualTo(CloseCodes.SLOW_CONSUMER);
        assertThat(metrics.registry()
                        .get("switchboard.slow.consumer.closes")
                        .counter()
                        .count())
                .isEqualTo(1);
    }

    @Test
    void closingUnregistersTheUserAsResumableAfterALostConnection() {
        start();
        ServerFrame.Welcome welcome = hello();
        out.open = false;
        session.closed(CloseCodes.ABNORMAL);
        assertThat(metrics.registry()
                        .get("switchboard.connections.closed")
                        .tag("code", "1006")
                        .counter()
                        .count())
                .isEqualTo(1);
        assertThat(session.userId()).isEqualTo(welcome.user());
    }

    /** The outbound as the session sees it: frames kept in order, a bound counted in frames, the close noted. */
    private static final class FakeOutbound implements Outbound {
        final List<ServerFrame> frames = new ArrayList<>();
        Session session;
        int bound = Integer.MAX_VALUE;
        int pings;
        boolean writesStopped;
        boolean open = true;
        int closeCode;
        String closeReason;

        @Override
        public void write(ServerFrame frame) {
            if (writesStopped) {
                return;
            }
            frames.add(frame);
            if (frames.size() > bound) {
                session.slowConsumer();
            }
        }

        @Override
        public void writeWire(ByteBuf wire) {
            wire.release();
        }

        @Override
        public void writeReplay(ServerFrame frame) {
            write(frame);
        }

        @Override
        public void writeReplayWire(ByteBuf wire) {
            wire.release();
        }

        @Override
        public void ping() {
            pings++;
        }

        @Override
        public void stopWrites() {
            writesStopped = true;
        }

        @Override
        public void close(int code, String reason, boolean cut) {
            closeCode = code;
            closeReason = reason;
        }

        @Override
        public boolean isOpen() {
            return open;
        }
    }
}
