package io.switchboard.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.support.TestGateway;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.CloseStatus;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardClientOptions;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import reactor.netty.http.server.WebsocketServerSpec;

/**
 * The heartbeat (docs/protocol.md section 3) with a 200 ms interval and 200 ms timeout: the server's pings, the
 * server closing a silent client with 4003, and the Java client giving up on a silent server.
 */
class HeartbeatIntegrationTests {
    private static final long INTERVAL_MS = 200;
    private static final long TIMEOUT_MS = 200;
    private static final long SILENT_LIMIT_MS = INTERVAL_MS + TIMEOUT_MS;

    private TestGateway gw;
    private DisposableServer stub;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
        if (stub != null) {
            stub.disposeNow(Duration.ofSeconds(5));
        }
    }

    private TestGateway start() {
        return TestGateway.start(Map.of(
                "SWITCHBOARD_PING_INTERVAL_MS",
                String.valueOf(INTERVAL_MS),
                "SWITCHBOARD_PING_TIMEOUT_MS",
                String.valueOf(TIMEOUT_MS)));
    }

    /** A client that neither answers pings nor gives up on a silent server: only what it sends shows life. */
    private SwitchboardClientOptions mute() {
        return gw.options().withAutoPong(false).withHeartbeatWatchdog(false);
    }

    /** The arrival time ({@link System#nanoTime()}) of each ping {@code c} receives from now on. */
    private static BlockingQueue<Long> pingArrivals(SwitchboardClient c) {
        BlockingQueue<Long> arrivals = new LinkedBlockingQueue<>();
        c.events().subscribe(f -> {
            if (f instanceof ServerFrame.Ping) {
                arrivals.add(System.nanoTime());
            }
        });
        return arrivals;
    }

    private static List<Long> take(BlockingQueue<Long> arrivals, int n) throws InterruptedException {
        List<Long> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Long t = arrivals.poll(TestGateway.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(t)
                    .as("ping %d of %d within %s", i + 1, n, TestGateway.TIMEOUT)
                    .isNotNull();
            out.add(t);
        }
        return out;
    }

    private static long millisSince(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - nanos);
    }

    @Test
    @DisplayName("section 3: the server sends {\"type\":\"ping\"} every ping.interval, as announced in welcome")
    void serverPingsEveryInterval() throws InterruptedException {
        gw = start();
        long before = System.nanoTime();
        SwitchboardClient c = gw.connect();
        BlockingQueue<Long> arrivals = pingArrivals(c);

        List<Long> pings = take(arrivals, 3);

        assertThat(c.welcome().pingInterval()).isEqualTo(INTERVAL_MS);
        assertThat(c.welcome().pingTimeout()).isEqualTo(TIMEOUT_MS);
        assertThat(TimeUnit.NANOSECONDS.toMillis(pings.get(0) - before))
                .as("the first ping comes one interval after hello")
                .isGreaterThanOrEqualTo(INTERVAL_MS);
        for (int i = 1; i < pings.size(); i++) {
            assertThat(TimeUnit.NANOSECONDS.toMillis(pings.get(i) - pings.get(i - 1)))
                    .as("gap before ping %d", i + 1)
                    .isBetween(INTERVAL_MS * 3 / 4, INTERVAL_MS * 5);
        }
    }

    @Test
    @DisplayName("section 3: a client answering pings with pong stays connected well past interval + timeout")
    void answeringClientStaysConnected() throws InterruptedException {
        gw = start();
        long before = System.nanoTime();
        SwitchboardClient c = gw.connect();
        BlockingQueue<Long> arrivals = pingArrivals(c);

        take(arrivals, 6);

        assertThat(millisSince(before)).isGreaterThan(2 * SILENT_LIMIT_MS);
        assertThat(c.isClosed()).isFalse();
        assertThat(c.subscribe("public:still-here").block(TestGateway.TIMEOUT).channel())
                .isEqualTo("public:still-here");
        assertThat(c.isClosed()).isFalse();
    }

    @Test
    @DisplayName("section 3: a client that sends nothing, not even pong, is closed with 4003 after interval + timeout")
    void silentClientClosedWith4003() {
        gw = start();
        long before = System.nanoTime();
        SwitchboardClient c = gw.connect(mute());
        BlockingQueue<Long> arrivals = pingArrivals(c);

        CloseStatus status = c.closed().block(TestGateway.TIMEOUT);
        long elapsed = millisSince(before);

        assertThat(status.code()).isEqualTo(CloseCodes.HEARTBEAT_TIMEOUT);
        assertThat(status.local()).as("closed by the server").isFalse();
        assertThat(status.shouldReconnect()).isTrue();
        assertThat(elapsed).as("not before ping.interval + ping.timeout").isGreaterThanOrEqualTo(SILENT_LIMIT_MS);
        assertThat(elapsed).as("soon after ping.interval + ping.timeout").isLessThan(5 * SILENT_LIMIT_MS);
        assertThat(arrivals).as("the server pinged before giving up").isNotEmpty();
    }

    @Test
    @DisplayName("section 3: any frame counts as a sign of life: a client sending requests but no pong stays connected")
    void anyFrameIsSignOfLife() {
        gw = start();
        SwitchboardClient c = gw.connect(mute());
        BlockingQueue<Long> arrivals = pingArrivals(c);
        long before = System.nanoTime();
        AtomicInteger acks = new AtomicInteger();

        Flux.interval(Duration.ofMillis(100))
                .take(15)
                .concatMap(i -> c.subscribe("public:alive"))
                .doOnNext(ack -> acks.incrementAndGet())
                .blockLast(TestGateway.TIMEOUT);

        assertThat(millisSince(before)).isGreaterThan(3 * SILENT_LIMIT_MS);
        assertThat(acks).hasValue(15);
        assertThat(c.isClosed()).isFalse();
        assertThat(arrivals.size()).as("pings received and left unanswered").isGreaterThanOrEqualTo(4);

        // once it falls silent, the same client is closed: the requests were what kept it
        long silentSince = System.nanoTime();
        CloseStatus status = c.closed().block(TestGateway.TIMEOUT);
        assertThat(status.code()).isEqualTo(CloseCodes.HEARTBEAT_TIMEOUT);
        assertThat(millisSince(silentSince)).isLessThanOrEqualTo(SILENT_LIMIT_MS + 1_000);
    }

    private static final String STUB_WELCOME = "{\"type\":\"welcome\",\"session\":\"s_1\",\"user\":\"g_1\","
            + "\"guest\":true,\"resumed\":false,\"recovered\":false,\"inbox\":{\"offset\":0,\"epoch\":\"e\"},"
            + "\"ping\":{\"interval\":100,\"timeout\":100},"
            + "\"limits\":{\"maxFrame\":65536,\"rate\":100,\"burst\":200,\"maxSubscriptions\":1000},\"node\":\"stub\"}";

    @Test
    @DisplayName("section 3: a client that receives nothing for interval + timeout drops the connection itself: 4003")
    void clientGivesUpOnSilentServer() throws InterruptedException {
        List<String> received = new CopyOnWriteArrayList<>();
        CountDownLatch connectionEnded = new CountDownLatch(1);
        stub = HttpServer.create()
                .host("127.0.0.1")
                .port(0)
                .route(r -> r.ws(
                        "/ws",
                        (in, out) -> {
                            in.withConnection(conn -> conn.onDispose(connectionEnded::countDown));
                            // answers hello with a welcome, then says nothing more but keeps reading until the client
                            // leaves
                            return in.receive()
                                    .asString()
                                    .concatMap(text -> {
                                        received.add(text);
                                        return received.size() == 1
                                                ? out.sendString(Mono.just(STUB_WELCOME))
                                                        .then()
                                                : Mono.<Void>empty();
                                    })
                                    .then();
                        },
                        WebsocketServerSpec.builder()
                                .protocols("switchboard.v1")
                                .build()))
                .bindNow(Duration.ofSeconds(10));
        SwitchboardClientOptions options = SwitchboardClientOptions.of(
                        URI.create("ws://127.0.0.1:" + stub.port() + "/ws"))
                .withConnectTimeout(TestGateway.TIMEOUT);

        long before = System.nanoTime();
        SwitchboardClient c = SwitchboardClient.connect(options).block(TestGateway.TIMEOUT);
        CloseStatus status = c.closed().block(TestGateway.TIMEOUT);
        long elapsed = millisSince(before);

        assertThat(c.welcome().node()).isEqualTo("stub");
        assertThat(received).hasSize(1);
        assertThat(received.get(0)).contains("\"type\":\"hello\"");
        assertThat(status.code()).isEqualTo(CloseCodes.HEARTBEAT_TIMEOUT);
        assertThat(status.local()).isTrue();
        assertThat(status.shouldReconnect()).isTrue();
        assertThat(elapsed).as("not before ping.interval + ping.timeout").isGreaterThanOrEqualTo(200);
        assertThat(elapsed).as("soon after ping.interval + ping.timeout").isLessThan(2_000);
        assertThat(connectionEnded.await(TestGateway.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS))
                .as("the client dropped the connection")
                .isTrue();
        assertThat(c.isClosed()).isTrue();
    }
}
