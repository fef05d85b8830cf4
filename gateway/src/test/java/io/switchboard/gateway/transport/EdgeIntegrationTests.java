package io.switchboard.gateway.transport;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

/**
 * The gateway's edge against hostile clients (docs/design.md failure model; docs/protocol.md sections 1 and 9): what a
 * connection may hold before its WebSocket upgrade, and what a client sees when it goes over a limit. Raw sockets,
 * since the point is what an HTTP library would never send.
 */
class EdgeIntegrationTests {
    /** The longest a test waits for the server to close a connection. */
    private static final Duration CLOSE_BOUND = Duration.ofSeconds(5);

    private static final String KEY = "dGhlIHNhbXBsZSBub25jZQ==";

    @RegisterExtension
    final Closing closing = new Closing();

    private TestGateway start(Map<String, String> env) {
        return closing.keep(TestGateway.start(env));
    }

    private Raw raw(TestGateway gw) {
        return raw(gw, "127.0.0.1");
    }

    /** A connection to {@code gw} from {@code localAddress} (any of 127.0.0.0/8 on Linux's loopback). */
    private Raw raw(TestGateway gw, String localAddress) {
        return closing.keep(new Raw(gw.port(), localAddress));
    }

    private static String get(String path, String... headers) {
        return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + String.join("", headers) + "\r\n";
    }

    /** A valid WebSocket opening handshake with these extra headers (each ending in CRLF). */
    private static String handshake(String... headers) {
        return get(
                "/ws",
                "Upgrade: websocket\r\n",
                "Connection: Upgrade\r\n",
                "Sec-WebSocket-Key: " + KEY + "\r\n",
                "Sec-WebSocket-Version: 13\r\n",
                String.join("", headers));
    }

    /** The status of a WebSocket handshake sent with these extra headers on a new connection from 127.0.0.1. */
    private int upgradeStatus(TestGateway gw, String... headers) {
        try (Raw c = new Raw(gw.port(), "127.0.0.1")) {
            c.send(handshake(headers));
            return c.response().status();
        }
    }

    private static double refused(TestGateway gw, String reason) {
        return gw.gateway()
                .metrics()
                .registry()
                .get("switchboard.edge.refused")
                .tag("reason", reason)
                .counter()
                .count();
    }

    private static double openConnections(TestGateway gw) {
        return gw.gateway()
                .metrics()
                .registry()
                .get("switchboard.edge.connections")
                .gauge()
                .value();
    }

    private ListAppender<ILoggingEvent> edgeLog() {
        return appender((Logger) LoggerFactory.getLogger(EdgeGuard.class));
    }

    private ListAppender<ILoggingEvent> appender(Logger logger) {
        ListAppender<ILoggingEvent> logs = new ListAppender<>();
        logs.start();
        logger.addAppender(logs);
        closing.keep(() -> logger.detachAppender(logs));
        return logs;
    }

    private static List<String> lines(ListAppender<ILoggingEvent> logs, String containing) {
        return List.copyOf(logs.list).stream()
                .map(ILoggingEvent::getFormattedMessage)
                .filter(m -> m.contains(containing))
                .toList();
    }

    @Test
    @DisplayName("a connection that never sends a request is closed within SWITCHBOARD_HEADER_TIMEOUT_MS")
    void idleNewConnectionIsClosedWithinTheHeaderTimeout() {
        TestGateway gw = start(Map.of("SWITCHBOARD_HEADER_TIMEOUT_MS", "500"));
        Raw idle = raw(gw);

        long waited = idle.millisUntilClosed();

        assertThat(waited).isBetween(400L, 3_000L);
        Await.until("the timeout to be counted", TestGateway.TIMEOUT, () -> refused(gw, "header_timeout") == 1);
    }

    @Test
    @DisplayName("slowloris: a request head sent a byte at a time is cut at the header timeout, however steady")
    void slowlorisIsClosedWithinTheHeaderTimeout() {
        TestGateway gw = start(Map.of("SWITCHBOARD_HEADER_TIMEOUT_MS", "500"));
        ListAppender<ILoggingEvent> everything =
                appender((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME));
        Raw slow = raw(gw);
        slow.send("GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ");
        AtomicInteger dribbled = new AtomicInteger();
        ScheduledExecutorService dribbler = Executors.newSingleThreadScheduledExecutor();
        closing.keep(dribbler::shutdownNow);
        dribbler.scheduleAtFixedRate(
                () -> {
                    if (slow.trySend("a")) {
                        dribbled.incrementAndGet();
                    }
                },
                0,
                50,
                TimeUnit.MILLISECONDS);

        long waited = slow.millisUntilClosed();

        assertThat(waited).isBetween(400L, 3_000L);
        assertThat(dribbled.get())
                .as("bytes sent while the connection was open")
                .isGreaterThan(3);
        Await.until("the timeout to be counted", TestGateway.TIMEOUT, () -> refused(gw, "header_timeout") == 1);
        assertThat(List.copyOf(everything.list))
                .singleElement()
                .satisfies(ev -> assertThat(ev.getFormattedMessage()).contains("no complete request within 500 ms"));
    }

    @Test
    @DisplayName("an idle keep-alive connection is closed after SWITCHBOARD_IDLE_TIMEOUT_MS, one that dribbles its"
            + " next request after idle plus header timeout")
    void idleKeepAliveConnectionIsClosed() {
        TestGateway gw = start(Map.of("SWITCHBOARD_IDLE_TIMEOUT_MS", "500", "SWITCHBOARD_HEADER_TIMEOUT_MS", "500"));
        Raw idle = raw(gw);
        idle.send(get("/health/live"));
        assertThat(idle.response().status()).isEqualTo(200);

        assertThat(idle.millisUntilClosed()).isBetween(400L, 3_000L);

        Raw dribbling = raw(gw);
        dribbling.send(get("/health/live"));
        assertThat(dribbling.response().status()).isEqualTo(200);
        ScheduledExecutorService dribbler = Executors.newSingleThreadScheduledExecutor();
        closing.keep(dribbler::shutdownNow);
        dribbling.send("GET /health/live HTTP/1.1\r\nX-Padding: ");
        dribbler.scheduleAtFixedRate(() -> dribbling.trySend("a"), 0, 50, TimeUnit.MILLISECONDS);

        // reactor-netty's idle timeout closes it already, as a partial head is not a request; the edge's deadline
        // (idle plus header timeout) would otherwise
        assertThat(dribbling.millisUntilClosed()).isBetween(400L, 3_500L);
    }

    @Test
    @DisplayName("a WebSocket is not a request in progress: it outlives the header and idle timeouts")
    void webSocketOutlivesTheTimeouts() throws InterruptedException {
        TestGateway gw = start(Map.of(
                "SWITCHBOARD_IDLE_TIMEOUT_MS",
                "300",
                "SWITCHBOARD_HEADER_TIMEOUT_MS",
                "300",
                "SWITCHBOARD_PING_INTERVAL_MS",
                "400"));
        long before = System.nanoTime();
        SwitchboardClient c = gw.connect();
        BlockingQueue<ServerFrame> pings = new LinkedBlockingQueue<>();
        c.events().filter(f -> f instanceof ServerFrame.Ping).subscribe(pings::add);

        for (int i = 0; i < 3; i++) {
            assertThat(pings.poll(TestGateway.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS))
                    .as("ping %d", i)
                    .isNotNull();
        }

        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - before)).isGreaterThan(1_000);
        assertThat(c.isClosed()).isFalse();
        assertThat(c.subscribe("public:still-here").block(TestGateway.TIMEOUT).channel())
                .isEqualTo("public:still-here");
        assertThat(refused(gw, "header_timeout")).isZero();
    }

    @Test
    @DisplayName("over SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS an address gets 429 with Retry-After, counted and"
            + " logged once, while other addresses are served")
    void perAddressCapAnswers429() {
        TestGateway gw =
                start(Map.of("SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS", "2", "SWITCHBOARD_HEADER_TIMEOUT_MS", "30000"));
        ListAppender<ILoggingEvent> logs = edgeLog();
        Raw first = raw(gw);
        raw(gw);
        Await.until("two connections to be counted", TestGateway.TIMEOUT, () -> openConnections(gw) == 2);

        for (int i = 0; i < 3; i++) {
            Raw over = raw(gw);
            over.send(get("/health/live"));
            Response refused = over.response();
            assertThat(refused.status()).isEqualTo(429);
            assertThat(refused.headers()).containsEntry("retry-after", "5").containsEntry("connection", "close");
            assertThat(refused.body()).contains("too many open connections from your address");
            over.millisUntilClosed();
        }
        Raw other = raw(gw, "127.0.0.2");
        other.send(get("/health/live"));
        assertThat(other.response().status()).isEqualTo(200);

        assertThat(refused(gw, "address_connections")).isEqualTo(3);
        assertThat(lines(logs, "SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS=2"))
                .singleElement()
                .asString()
                .contains("127.0.0.1");
        first.close();
        Await.until("the closed connection to be released", TestGateway.TIMEOUT, () -> openConnections(gw) == 2);
        Raw again = raw(gw);
        again.send(get("/health/live"));
        assertThat(again.response().status()).isEqualTo(200);
    }

    @Test
    @DisplayName("over SWITCHBOARD_MAX_CONNECTIONS the instance answers 503 with Retry-After, yet still answers"
            + " its health checks")
    void totalCapAnswers503() {
        TestGateway gw = start(Map.of("SWITCHBOARD_MAX_CONNECTIONS", "2", "SWITCHBOARD_HEADER_TIMEOUT_MS", "30000"));
        ListAppender<ILoggingEvent> logs = edgeLog();
        Raw a = raw(gw, "127.0.0.2");
        raw(gw, "127.0.0.3");
        Await.until("two connections to be counted", TestGateway.TIMEOUT, () -> openConnections(gw) == 2);

        Raw over = raw(gw, "127.0.0.4");
        over.send(handshake());
        Response refused = over.response();
        assertThat(refused.status()).isEqualTo(503);
        assertThat(refused.headers()).containsEntry("retry-after", "5");
        Raw probe = raw(gw, "127.0.0.5");
        probe.send(get("/health/live"));
        assertThat(probe.response().status())
                .as("the liveness probe at the cap")
                .isEqualTo(200);

        assertThat(refused(gw, "max_connections"))
                .as("the probe is not refused")
                .isEqualTo(1);
        assertThat(lines(logs, "SWITCHBOARD_MAX_CONNECTIONS=2")).hasSize(1);
        a.close();
        probe.close();
        over.millisUntilClosed();
        Await.until("the closed connections to be released", TestGateway.TIMEOUT, () -> openConnections(gw) == 1);
        assertThat(upgradeStatus(gw)).isEqualTo(101);
    }

    @Test
    @DisplayName("an address over SWITCHBOARD_CONNECT_RATE gets 429 with Retry-After before the upgrade; other"
            + " addresses still connect")
    void connectRateAnswers429WithRetryAfter() {
        TestGateway gw = start(Map.of("SWITCHBOARD_CONNECT_RATE", "1", "SWITCHBOARD_CONNECT_BURST", "2"));
        ListAppender<ILoggingEvent> logs = edgeLog();
        assertThat(upgradeStatus(gw)).isEqualTo(101);
        assertThat(upgradeStatus(gw)).isEqualTo(101);

        Raw third = raw(gw);
        third.send(handshake());
        Response limited = third.response();

        assertThat(limited.status()).isEqualTo(429);
        assertThat(Long.parseLong(limited.headers().get("retry-after"))).isBetween(1L, 2L);
        assertThat(limited.body()).contains("connecting too often");
        Raw other = raw(gw, "127.0.0.2");
        other.send(handshake());
        assertThat(other.response().status()).isEqualTo(101);
        assertThat(refused(gw, "connect_rate")).isEqualTo(1);
        assertThat(lines(logs, "SWITCHBOARD_CONNECT_RATE=1"))
                .singleElement()
                .asString()
                .contains("127.0.0.1");
    }

    @Test
    @DisplayName("X-Forwarded-For from a peer that is not a trusted proxy changes nothing: a client cannot pick"
            + " the address it is limited by")
    void forwardedForIsIgnoredFromAnUntrustedPeer() {
        TestGateway gw = start(Map.of("SWITCHBOARD_CONNECT_RATE", "1", "SWITCHBOARD_CONNECT_BURST", "1"));

        assertThat(upgradeStatus(gw, "X-Forwarded-For: 203.0.113.1\r\n")).isEqualTo(101);
        assertThat(upgradeStatus(gw, "X-Forwarded-For: 203.0.113.2\r\n")).isEqualTo(429);
    }

    @Test
    @DisplayName("from a trusted proxy, X-Forwarded-For names the client that the rate and the per-address cap"
            + " count, read from the right so that a client's own entries are not believed")
    void forwardedForIsHonouredFromATrustedPeer() {
        TestGateway gw = start(Map.of(
                "SWITCHBOARD_TRUSTED_PROXIES",
                "127.0.0.1/32, 10.0.0.0/8",
                "SWITCHBOARD_CONNECT_RATE",
                "1",
                "SWITCHBOARD_CONNECT_BURST",
                "1",
                "SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS",
                "1",
                "SWITCHBOARD_HEADER_TIMEOUT_MS",
                "30000"));

        assertThat(upgradeStatus(gw, "X-Forwarded-For: 203.0.113.1\r\n")).isEqualTo(101);
        assertThat(upgradeStatus(gw, "X-Forwarded-For: 203.0.113.2\r\n")).isEqualTo(101);
        assertThat(upgradeStatus(gw, "X-Forwarded-For: 203.0.113.1\r\n")).isEqualTo(429);
        // a client that writes its own X-Forwarded-For is still known by the address our proxies appended
        assertThat(upgradeStatus(gw, "X-Forwarded-For: 203.0.113.3, 198.51.100.7, 10.1.2.3\r\n"))
                .isEqualTo(101);
        assertThat(upgradeStatus(gw, "X-Forwarded-For: 203.0.113.4, 198.51.100.7\r\n"))
                .isEqualTo(429);

        Raw held = raw(gw);
        held.send(get("/health/live", "X-Forwarded-For: 192.0.2.1\r\n"));
        assertThat(held.response().status()).isEqualTo(200);
        Raw second = raw(gw);
        second.send(get("/health/live", "X-Forwarded-For: 192.0.2.1\r\n"));
        assertThat(second.response().status())
                .as("a second connection of 192.0.2.1")
                .isEqualTo(429);
        Raw otherClient = raw(gw);
        otherClient.send(get("/health/live", "X-Forwarded-For: 192.0.2.2\r\n"));
        assertThat(otherClient.response().status())
                .as("another client through the same proxy")
                .isEqualTo(200);
    }

    @Test
    @DisplayName("invalid upgrades get 400 with a one-line reason, and at most one log line per kind a minute,"
            + " never a stack trace")
    void invalidUpgradesGet400AndOneLogLinePerKind() {
        TestGateway gw = start(Map.of());
        ListAppender<ILoggingEvent> logs = edgeLog();
        ListAppender<ILoggingEvent> everything =
                appender((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME));
        Map<String, String> requests = new HashMap<>();
        requests.put(
                "Sec-WebSocket-Key header",
                get("/ws", "Upgrade: websocket\r\n", "Connection: Upgrade\r\n", "Sec-WebSocket-Version: 13\r\n"));
        requests.put(
                "Sec-WebSocket-Version: 13",
                get(
                        "/ws",
                        "Upgrade: websocket\r\n",
                        "Connection: Upgrade\r\n",
                        "Sec-WebSocket-Key: " + KEY + "\r\n",
                        "Sec-WebSocket-Version: 8\r\n"));
        requests.put("'Upgrade: websocket'", get("/ws"));
        requests.put(
                "'Connection: Upgrade'",
                get(
                        "/ws",
                        "Upgrade: websocket\r\n",
                        "Sec-WebSocket-Key: " + KEY + "\r\n",
                        "Sec-WebSocket-Version: 13\r\n"));
        requests.put(
                "16 bytes in base64",
                get(
                        "/ws",
                        "Upgrade: websocket\r\n",
                        "Connection: Upgrade\r\n",
                        "Sec-WebSocket-Key: short\r\n",
                        "Sec-WebSocket-Version: 13\r\n"));

        for (Map.Entry<String, String> e : requests.entrySet()) {
            for (int i = 0; i < 20; i++) {
                try (Raw c = new Raw(gw.port(), "127.0.0.1")) {
                    c.send(e.getValue());
                    Response res = c.response();
                    assertThat(res.status()).as(e.getKey()).isEqualTo(400);
                    assertThat(res.body()).contains(e.getKey()).endsWith("\n").hasLineCount(1);
                    if (e.getKey().contains("Version")) {
                        assertThat(res.headers()).containsEntry("sec-websocket-version", "13");
                    }
                }
            }
        }

        for (String kind : requests.keySet()) {
            assertThat(lines(logs, kind)).as("log lines about %s", kind).hasSize(1);
        }
        assertThat(refused(gw, "invalid_upgrade")).isEqualTo(100);
        assertThat(List.copyOf(everything.list))
                .as("stack traces or errors logged")
                .noneMatch(ev -> ev.getThrowableProxy() != null || ev.getLevel().isGreaterOrEqual(Level.ERROR));
    }

    @Test
    @DisplayName("with SWITCHBOARD_ALLOWED_ORIGINS, a page of another origin gets 403 before the upgrade; listed"
            + " origins and clients that send no Origin connect")
    void refusedOriginGets403() {
        TestGateway gw = start(Map.of("SWITCHBOARD_ALLOWED_ORIGINS", "https://app.example.com,http://localhost:8080"));

        Raw evil = raw(gw);
        evil.send(handshake("Origin: https://evil.example.com\r\n"));
        Response refused = evil.response();

        assertThat(refused.status()).isEqualTo(403);
        assertThat(refused.body()).contains("origin");
        assertThat(upgradeStatus(gw, "Origin: https://app.example.com\r\n")).isEqualTo(101);
        assertThat(upgradeStatus(gw, "Origin: http://localhost:8080\r\n")).isEqualTo(101);
        assertThat(upgradeStatus(gw, "Origin: null\r\n")).isEqualTo(403);
        assertThat(upgradeStatus(gw)).as("no Origin: not a browser").isEqualTo(101);
        assertThat(refused(gw, "origin")).isEqualTo(2);
    }

    @Test
    @DisplayName("the demo page, its files and the browser client carry Content-Security-Policy, nosniff and"
            + " Referrer-Policy")
    void pageAndClientCarrySecurityHeaders() {
        TestGateway gw = start(Map.of());

        for (String path :
                List.of("/", "/demo.js", "/demo.css", "/switchboard.js", "/switchboard.d.ts", "/demo/config")) {
            HttpResponse<String> res = gw.get(path);
            assertThat(res.statusCode()).as(path).isEqualTo(200);
            assertThat(res.headers().firstValue("Content-Security-Policy"))
                    .as(path)
                    .hasValueSatisfying(csp -> assertThat(csp)
                            .contains("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"));
            assertThat(res.headers().firstValue("X-Content-Type-Options"))
                    .as(path)
                    .hasValue("nosniff");
            assertThat(res.headers().firstValue("Referrer-Policy")).as(path).hasValue("no-referrer");
        }
    }

    @Test
    @DisplayName("a request the HTTP codec cannot read gets 400, 414 or 431 with a reason and Connection: close,"
            + " and at most one log line per kind a minute")
    void unreadableRequestsGetAnAnswerAndOneLogLinePerKind() {
        TestGateway gw = start(Map.of());
        ListAppender<ILoggingEvent> everything =
                appender((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME));
        Map<String, Integer> requests = Map.of(
                "BLAH\r\n\r\n",
                400,
                "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
                400,
                "GET /" + "x".repeat(10_000) + " HTTP/1.1\r\n\r\n",
                414,
                "GET / HTTP/1.1\r\nX-Big: " + "y".repeat(10_000) + "\r\n\r\n",
                431);

        for (Map.Entry<String, Integer> e : requests.entrySet()) {
            for (int i = 0; i < 10; i++) {
                try (Raw c = new Raw(gw.port(), "127.0.0.1")) {
                    c.send(e.getKey());
                    Response res = c.response();
                    assertThat(res.status()).as(e.getKey().substring(0, 8)).isEqualTo(e.getValue());
                    assertThat(res.headers()).containsEntry("connection", "close");
                    assertThat(res.body()).isNotBlank().hasLineCount(1);
                }
            }
        }

        List<String> logged = List.copyOf(everything.list).stream()
                .map(ILoggingEvent::getFormattedMessage)
                .toList();
        assertThat(logged).as("one line per status").hasSize(3).allMatch(l -> l.contains("could not be read"));
        assertThat(refused(gw, "bad_request")).isEqualTo(40);
    }

    /** A response read off a raw connection; header names in lower case. */
    private record Response(int status, Map<String, String> headers, String body) {}

    /** A raw TCP connection to the gateway, for what an HTTP library would not send or would hide. */
    private static final class Raw implements AutoCloseable {
        private final Socket socket;
        private final OutputStream out;
        private final InputStream in;

        Raw(int port, String localAddress) {
            try {
                socket = new Socket();
                socket.bind(new InetSocketAddress(localAddress, 0));
                socket.connect(new InetSocketAddress("127.0.0.1", port), (int) TestGateway.TIMEOUT.toMillis());
                socket.setSoTimeout((int) CLOSE_BOUND.toMillis());
                out = socket.getOutputStream();
                in = new BufferedInputStream(socket.getInputStream());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        void send(String text) {
            if (!trySend(text)) {
                throw new AssertionError("the gateway closed the connection before " + text.trim());
            }
        }

        /** Sends {@code text}; false when the connection is closed. */
        synchronized boolean trySend(String text) {
            try {
                out.write(text.getBytes(StandardCharsets.US_ASCII));
                out.flush();
                return true;
            } catch (IOException e) {
                return false;
            }
        }

        /** The next response: status line, headers, and a body of its Content-Length (none for 101). */
        Response response() {
            try {
                String status = line();
                assertThat(status).as("status line").startsWith("HTTP/1.1 ");
                Map<String, String> headers = new HashMap<>();
                for (String h = line(); !h.isEmpty(); h = line()) {
                    int colon = h.indexOf(':');
                    headers.put(
                            h.substring(0, colon).trim().toLowerCase(Locale.ROOT),
                            h.substring(colon + 1).trim());
                }
                int code = Integer.parseInt(status.substring(9, 12));
                int length = code == 101 ? 0 : Integer.parseInt(headers.getOrDefault("content-length", "0"));
                byte[] body = in.readNBytes(length);
                return new Response(code, headers, new String(body, StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private String line() throws IOException {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            for (int c = in.read(); c != '\n'; c = in.read()) {
                if (c < 0) {
                    throw new AssertionError("the connection closed in the middle of a response: " + b);
                }
                if (c != '\r') {
                    b.write(c);
                }
            }
            return b.toString(StandardCharsets.US_ASCII);
        }

        /**
         * Reads until the server closes the connection, failing after {@link #CLOSE_BOUND}; the milliseconds that
         * took.
         */
        long millisUntilClosed() {
            long start = System.nanoTime();
            try {
                while (in.read() >= 0) {
                    // whatever the server still says before closing
                }
            } catch (SocketTimeoutException e) {
                throw new AssertionError("the gateway did not close the connection within " + CLOSE_BOUND);
            } catch (SocketException e) {
                // reset: closed as well
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        }

        @Override
        public void close() {
            try {
                socket.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
    }
}
