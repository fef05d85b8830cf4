package io.switchboard.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardClientOptions;
import io.switchboard.protocol.client.SwitchboardException;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;

/**
 * Attacks on the packaged gateway, started with a small heap as its own process (issue 15, docs/design.md "Hostile
 * clients"): each attack is bounded in time and bytes; after each, the gateway is live, a well-behaved client is
 * served, and the attacker has been cut off. The heap in use before and after each attack is printed, for the
 * record (never asserted: speed and size are measured in benchmarks).
 */
class AbuseIT {
    private static final Duration T = Duration.ofSeconds(30);
    /** The heap the attacked gateway runs in: small, so that anything unbounded shows within seconds. */
    static final String HEAP = "-Xmx128m";

    private static final Pattern LISTENING = Pattern.compile("listening on http://[^:]+:(\\d+)");
    private static final Pattern HEAP_USED =
            Pattern.compile("jvm_memory_used_bytes\\{area=\"heap\",[^}]*} ([0-9.E+]+)");
    private static final Duration ATTACK = Duration.ofSeconds(4);

    private static Process gateway;
    private static int port;
    private static final Map<String, String> memory = new LinkedHashMap<>();
    private static final List<String> log = new ArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        Path jar = Path.of(System.getProperty("switchboard.jar", "target/switchboard-gateway.jar"));
        assertThat(jar).as("the packaged gateway").exists();
        ProcessBuilder pb = new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                HEAP,
                "-XX:+ExitOnOutOfMemoryError",
                "-jar",
                jar.toString());
        pb.environment()
                .keySet()
                .removeIf(k -> k.startsWith("SWITCHBOARD_")
                        || k.equals("PORT")
                        || k.equals("REDIS_URL")
                        || k.equals("MONGODB_URI"));
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PORT", "0");
        env.put("SWITCHBOARD_HOST", "127.0.0.1");
        env.put("SWITCHBOARD_NODE_ID", "gw-abuse");
        env.put("SWITCHBOARD_API_KEY", "abuse-api-key-0123456789");
        env.put("SWITCHBOARD_JWT_SECRET", TestGateway.JWT_SECRET);
        // short edge timeouts and a small connect burst, so that each attack shows within seconds
        env.put("SWITCHBOARD_HEADER_TIMEOUT_MS", "1000");
        env.put("SWITCHBOARD_IDLE_TIMEOUT_MS", "2000");
        env.put("SWITCHBOARD_CONNECT_RATE", "20");
        env.put("SWITCHBOARD_CONNECT_BURST", "60");
        env.put("SWITCHBOARD_MAX_BLOCKS", "100");
        pb.environment().putAll(env);
        pb.redirectErrorStream(true);
        gateway = pb.start();
        BufferedReader out =
                new BufferedReader(new InputStreamReader(gateway.getInputStream(), StandardCharsets.UTF_8));
        CompletableFuture<Integer> bound = new CompletableFuture<>();
        Thread reader = new Thread(
                () -> {
                    try {
                        for (String line; (line = out.readLine()) != null; ) {
                            synchronized (log) {
                                log.add(line);
                            }
                            Matcher m = LISTENING.matcher(line);
                            if (m.find()) {
                                bound.complete(Integer.parseInt(m.group(1)));
                            }
                        }
                        bound.completeExceptionally(new IllegalStateException("the gateway exited: " + log));
                    } catch (IOException e) {
                        bound.completeExceptionally(e);
                    }
                },
                "abuse-gateway-log");
        reader.setDaemon(true);
        reader.start();
        port = bound.get(T.toSeconds(), TimeUnit.SECONDS);
    }

    @AfterAll
    static void stop() throws Exception {
        memory.forEach((attack, heap) -> System.out.printf("abuse: %-48s heap %s%n", attack, heap));
        if (gateway != null) {
            gateway.destroy();
            if (!gateway.waitFor(20, TimeUnit.SECONDS)) {
                gateway.destroyForcibly();
            }
        }
    }

    // ---------------------------------------------------------------- what every attack must leave intact

    private static HttpResponse<String> get(String path) throws Exception {
        return HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                                .timeout(Duration.ofSeconds(5))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
    }

    /** The heap in use, in MB, after a full GC (asked of the gateway's JVM with jcmd): what it holds. */
    private static double heapMb() throws Exception {
        Process gc = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                        Long.toString(gateway.pid()),
                        "GC.run")
                .redirectErrorStream(true)
                .start();
        gc.getInputStream().readAllBytes();
        gc.waitFor(T.toSeconds(), TimeUnit.SECONDS);
        Matcher m = HEAP_USED.matcher(get("/metrics").body());
        double sum = 0;
        while (m.find()) {
            sum += Double.parseDouble(m.group(1));
        }
        return sum / 1_048_576;
    }

    /** Live, and a well-behaved client connects, publishes and receives its own message. */
    private static void assertServesOthers() throws Exception {
        assertThat(gateway.isAlive()).as("the gateway process is alive").isTrue();
        assertThat(get("/health/live").statusCode()).isEqualTo(200);
        try (SwitchboardClient c = SwitchboardClient.connect(
                        SwitchboardClientOptions.of(URI.create("ws://127.0.0.1:" + port + "/ws")))
                .block(T)) {
            c.subscribe("public:others").block(T);
            String text = "\"still served " + System.nanoTime() + "\"";
            c.publish("public:others", text).block(T);
            ServerFrame.Message m = c.events().ofType(ServerFrame.Message.class).blockFirst(T);
            assertThat(m.data()).isEqualTo(text);
        }
    }

    private static void record(String attack, double before) throws Exception {
        memory.put(attack, String.format("%.0f MB before, %.0f MB after", before, heapMb()));
    }

    // ---------------------------------------------------------------- a raw WebSocket client that misbehaves

    /** A WebSocket connection made by hand, so that it can write what no well-behaved client library would. */
    private static final class Raw implements AutoCloseable {
        final Socket socket = new Socket();
        final OutputStream out;
        final InputStream in;
        private final Random random = new Random(15);

        Raw() throws IOException {
            this("127.0.0.1");
        }

        /** A WebSocket from {@code source}, a loopback address, so that attacks do not share the others' limits. */
        Raw(String source) throws IOException {
            socket.bind(new InetSocketAddress(source, 0));
            socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
            socket.setSoTimeout(5_000);
            out = socket.getOutputStream();
            in = socket.getInputStream();
            byte[] key = new byte[16];
            random.nextBytes(key);
            out.write(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nUpgrade: websocket\r\n"
                            + "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
                            + Base64.getEncoder().encodeToString(key) + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String head = readHead();
            assertThat(head).as("the upgrade").startsWith("HTTP/1.1 101");
        }

        private String readHead() throws IOException {
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            int matched = 0;
            while (matched < 4) {
                int b = in.read();
                if (b < 0) {
                    throw new IOException("closed during the upgrade: " + head);
                }
                head.write(b);
                matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
            }
            return head.toString(StandardCharsets.US_ASCII);
        }

        /** One masked client frame. */
        byte[] frame(int opcode, byte[] payload) {
            ByteArrayOutputStream f = new ByteArrayOutputStream(payload.length + 14);
            f.write(0x80 | opcode);
            if (payload.length < 126) {
                f.write(0x80 | payload.length);
            } else {
                f.write(0x80 | 126);
                f.write(payload.length >>> 8);
                f.write(payload.length & 0xff);
            }
            byte[] mask = new byte[4];
            random.nextBytes(mask);
            f.writeBytes(mask);
            for (int i = 0; i < payload.length; i++) {
                f.write(payload[i] ^ mask[i % 4]);
            }
            return f.toByteArray();
        }

        /**
         * Writes {@code frame} over and over, never reading, until the gateway cuts the connection or {@code for}
         * has passed; returns whether it was cut.
         */
        boolean flood(byte[] frame, Duration during) {
            byte[] batch = new byte[frame.length * Math.max(1, 16_384 / frame.length)];
            for (int i = 0; i + frame.length <= batch.length; i += frame.length) {
                System.arraycopy(frame, 0, batch, i, frame.length);
            }
            long end = System.nanoTime() + during.toNanos();
            CompletableFuture<Boolean> cut = CompletableFuture.supplyAsync(() -> {
                try {
                    while (System.nanoTime() < end) {
                        out.write(batch);
                    }
                    return false;
                } catch (IOException e) {
                    return true;
                }
            });
            try {
                return cut.get(during.toMillis() + 10_000, TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                // the write blocked: the gateway stopped reading and holds nothing more; cut it here
                close();
                return true;
            }
        }

        /** The close code the gateway sent, reading past other frames; -1 when the connection ended without one. */
        int closeCode() throws IOException {
            socket.setSoTimeout(10_000);
            while (true) {
                int b0 = in.read();
                if (b0 < 0) {
                    return -1;
                }
                int b1 = in.read();
                long length = b1 & 0x7f;
                if (length == 126) {
                    length = (in.read() << 8) | in.read();
                } else if (length == 127) {
                    length = 0;
                    for (int i = 0; i < 8; i++) {
                        length = (length << 8) | in.read();
                    }
                }
                byte[] payload = in.readNBytes((int) length);
                if ((b0 & 0x0f) == 0x8) {
                    return payload.length >= 2 ? ((payload[0] & 0xff) << 8) | (payload[1] & 0xff) : 1005;
                }
            }
        }

        @Override
        public void close() {
            try {
                socket.close();
            } catch (IOException ignored) {
                // already gone
            }
        }
    }

    // ---------------------------------------------------------------- the attacks

    @Test
    @DisplayName("pings flooded before hello by a client that never reads: cut off, heap bounded, others served")
    void pingFloodWithoutReading() throws Exception {
        double before = heapMb();
        try (Raw attacker = new Raw()) {
            byte[] ping = attacker.frame(0x9, new byte[125]);
            assertThat(attacker.flood(ping, ATTACK))
                    .as("the attacker is cut off")
                    .isTrue();
            assertThat(attacker.closeCode()).as("told why first").isEqualTo(1008);
        }
        assertServesOthers();
        record("ping flood, never reading", before);
    }

    @Test
    @DisplayName("three ping floods at once: all cut off, others served")
    void threePingFlooders() throws Exception {
        double before = heapMb();
        List<CompletableFuture<Boolean>> floods = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            floods.add(CompletableFuture.supplyAsync(() -> {
                try (Raw attacker = new Raw()) {
                    return attacker.flood(attacker.frame(0x9, new byte[125]), ATTACK) && attacker.closeCode() == 1008;
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        for (CompletableFuture<Boolean> f : floods) {
            assertThat(f.get(T.toSeconds(), TimeUnit.SECONDS))
                    .as("each attacker is cut off")
                    .isTrue();
        }
        assertServesOthers();
        record("three ping floods at once", before);
    }

    @Test
    @DisplayName("section 7: control frames at more than 10 times the rate are closed with 1008")
    void controlFloodClosedWith1008() throws Exception {
        double before = heapMb();
        try (Raw attacker = new Raw()) {
            CompletableFuture<Integer> code = CompletableFuture.supplyAsync(() -> {
                try {
                    return attacker.closeCode();
                } catch (IOException e) {
                    return -1;
                }
            });
            byte[] pong = attacker.frame(0xA, new byte[0]);
            try {
                for (int i = 0; i < 5_000; i++) {
                    attacker.out.write(pong);
                }
                attacker.out.flush();
            } catch (IOException cut) {
                // cut off while still writing, as it should be
            }
            assertThat(code.get(T.toSeconds(), TimeUnit.SECONDS)).isEqualTo(1008);
        }
        assertServesOthers();
        record("control frames at 10x the rate", before);
    }

    @Test
    @DisplayName("text frames flooded before hello: closed, others served")
    void textFloodBeforeHello() throws Exception {
        double before = heapMb();
        try (Raw attacker = new Raw()) {
            byte[] junk = attacker.frame(0x1, "{\"type\":\"pong\"}".getBytes(StandardCharsets.UTF_8));
            assertThat(attacker.flood(junk, ATTACK))
                    .as("the attacker is cut off")
                    .isTrue();
            assertThat(attacker.closeCode()).as("told why first").isIn(1008, 4000);
        }
        assertServesOthers();
        record("text frames before hello", before);
    }

    @Test
    @DisplayName("RFC 6455: reserved bits without an extension, and an invalid close code, are answered with 1002")
    void protocolViolationsAre1002() throws Exception {
        try (Raw attacker = new Raw()) {
            byte[] frame = attacker.frame(0x1, "{\"type\":\"pong\"}".getBytes(StandardCharsets.UTF_8));
            frame[0] |= 0x40; // RSV1
            attacker.out.write(frame);
            assertThat(attacker.closeCode()).isEqualTo(1002);
        }
        try (Raw attacker = new Raw()) {
            attacker.out.write(attacker.frame(0x8, new byte[] {0x03, (byte) 0xED})); // 1005 may not be sent
            assertThat(attacker.closeCode()).isEqualTo(1002);
        }
        assertServesOthers();
    }

    /** A request sent again after {@code retryAfter} while it is rate_limited: an attacker at the allowed rate. */
    private static ServerFrame.Ack paced(Supplier<Mono<ServerFrame.Ack>> r) throws InterruptedException {
        while (true) {
            try {
                return r.get().block(T);
            } catch (SwitchboardException e) {
                if (!e.code().equals(ErrorCodes.RATE_LIMITED)) {
                    throw e;
                }
                Thread.sleep(Math.max(1, e.retryAfter()));
            }
        }
    }

    /** Opens {@code n} TCP connections from {@code source} that write {@code prefix} and then dribble or wait. */
    private static List<Socket> openTcp(String source, int n, String prefix) throws IOException {
        List<Socket> sockets = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Socket s = new Socket();
            s.bind(new InetSocketAddress(source, 0));
            s.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
            s.setSoTimeout(10_000);
            if (!prefix.isEmpty()) {
                s.getOutputStream().write(prefix.getBytes(StandardCharsets.US_ASCII));
            }
            sockets.add(s);
        }
        return sockets;
    }

    /** Whether the gateway closed {@code s}: a read ends (EOF or reset) within the socket's timeout. */
    private static boolean closedByGateway(Socket s) {
        try {
            while (s.getInputStream().read() >= 0) {
                // an answer before the close is fine; the close is what counts
            }
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    @Test
    @DisplayName("idle TCP connections and slowloris requests are closed within the header timeout")
    void idleAndSlowlorisConnectionsAreClosed() throws Exception {
        double before = heapMb();
        List<Socket> idle = openTcp("127.0.0.3", 300, "");
        List<Socket> slow = openTcp("127.0.0.4", 300, "GET /ws HTTP/1.1\r\nHost: x\r\n");
        long start = System.nanoTime();
        for (Socket s : slow) {
            try {
                s.getOutputStream().write('X'); // one more byte of a header that never ends
            } catch (IOException closedAlready) {
                // fine
            }
        }
        List<Socket> all = new ArrayList<>(idle);
        all.addAll(slow);
        long open = all.stream().filter(s -> !closedByGateway(s)).count();
        long seconds = (System.nanoTime() - start) / 1_000_000_000L;
        all.forEach(s -> {
            try {
                s.close();
            } catch (IOException ignored) {
                // gone
            }
        });
        assertThat(open).as("connections still open %d s later", seconds).isZero();
        assertServesOthers();
        record("300 idle TCP + 300 slowloris connections", before);
    }

    @Test
    @DisplayName("WebSocket connects from one address beyond the rate are answered 429 with Retry-After")
    void connectFloodFromOneAddress() throws Exception {
        double before = heapMb();
        int upgraded = 0;
        int refused = 0;
        String retryAfter = null;
        for (int i = 0; i < 200; i++) {
            try (Socket s = new Socket()) {
                s.bind(new InetSocketAddress("127.0.0.5", 0));
                s.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
                s.setSoTimeout(5_000);
                s.getOutputStream()
                        .write(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                        + "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
                                .getBytes(StandardCharsets.US_ASCII));
                String head = new String(s.getInputStream().readNBytes(12), StandardCharsets.US_ASCII);
                if (head.startsWith("HTTP/1.1 101")) {
                    upgraded++;
                } else if (head.startsWith("HTTP/1.1 429")) {
                    refused++;
                    BufferedReader r =
                            new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
                    for (String line; (line = r.readLine()) != null && !line.isEmpty(); ) {
                        if (line.toLowerCase(Locale.ROOT).startsWith("retry-after:")) {
                            retryAfter = line.substring(12).trim();
                        }
                    }
                }
            }
        }
        assertThat(refused).as("refused beyond the burst").isPositive();
        assertThat(upgraded).as("a burst of 60 and 20 a second").isBetween(60, 120);
        assertThat(retryAfter).as("Retry-After on the 429").isNotBlank();
        assertServesOthers();
        record("200 WebSocket connects from one address", before);
    }

    @Test
    @DisplayName("60 KB publishes to fresh channels as fast as allowed: history stays within its budget")
    void historyFloodStaysWithinTheBudget() throws Exception {
        double before = heapMb();
        String big = "\"" + "x".repeat(60_000) + "\"";
        List<CompletableFuture<Integer>> floods = new ArrayList<>();
        for (int c = 0; c < 2; c++) {
            int client = c;
            floods.add(CompletableFuture.supplyAsync(() -> {
                try (SwitchboardClient attacker = SwitchboardClient.connect(
                                SwitchboardClientOptions.of(URI.create("ws://127.0.0.1:" + port + "/ws")))
                        .block(T)) {
                    long end = System.nanoTime() + ATTACK.toNanos();
                    int n = 0;
                    while (System.nanoTime() < end && !attacker.isClosed()) {
                        try {
                            attacker.publish("public:flood-" + client + "-" + n, big)
                                    .block(T);
                            n++;
                        } catch (SwitchboardException limited) {
                            // as fast as allowed: the attacker paces itself by retryAfter (no synchronisation)
                            Thread.sleep(Math.max(1, limited.retryAfter() == null ? 10 : limited.retryAfter()));
                        }
                    }
                    return n;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return 0;
                }
            }));
        }
        int published = 0;
        for (CompletableFuture<Integer> f : floods) {
            published += f.get(T.toSeconds(), TimeUnit.SECONDS);
        }
        double after = heapMb();
        assertThat(published)
                .as("publishes acknowledged: more than the budget holds")
                .isGreaterThan(600);
        assertThat(after)
                .as("heap after %d publishes of 60 KB (budget a quarter of 128 MB)", published)
                .isLessThan(before + 48);
        assertServesOthers();
        record(published + " publishes of 60 KB to fresh channels", before);
    }

    @Test
    @DisplayName("sends to random user ids store nothing; blocks stop at the limit; a hostile sub is refused")
    void userControlledStateIsBounded() throws Exception {
        double before = heapMb();
        try (SwitchboardClient attacker = SwitchboardClient.connect(
                        SwitchboardClientOptions.of(URI.create("ws://127.0.0.1:" + port + "/ws")))
                .block(T)) {
            for (int i = 0; i < 400; i++) {
                int n = i;
                assertThat(paced(() -> attacker.send("u_random" + n, "\"" + "y".repeat(10_000) + "\""))
                                .delivered())
                        .isFalse();
            }
        }
        try (SwitchboardClient blocker = SwitchboardClient.connect(
                        SwitchboardClientOptions.of(URI.create("ws://127.0.0.1:" + port + "/ws"))
                                .withToken(Tokens.user("u_blocker")))
                .block(T)) {
            SwitchboardException tooMany = null;
            for (int i = 0; i < 101 && tooMany == null; i++) {
                int n = i;
                try {
                    paced(() -> blocker.request(id -> new ClientFrame.Block(id, "u_blocked" + n)));
                } catch (SwitchboardException e) {
                    tooMany = e;
                }
            }
            assertThat(tooMany)
                    .as("the 101st block, SWITCHBOARD_MAX_BLOCKS being 100")
                    .isNotNull();
            assertThat(tooMany.code()).isEqualTo(ErrorCodes.TOO_MANY);
        }
        for (String sub : List.of("x\ngw-abuse", "g_takeover")) {
            SwitchboardClient c = SwitchboardClient.open(
                            SwitchboardClientOptions.of(URI.create("ws://127.0.0.1:" + port + "/ws")))
                    .block(T);
            c.sendText("{\"type\":\"hello\",\"v\":1,\"token\":\"" + Tokens.user(sub) + "\"}");
            assertThat(c.closed().block(T).code())
                    .as("sub %s", sub.replace("\n", "\\n"))
                    .isEqualTo(4001);
        }
        assertServesOthers();
        record("400 sends of 10 KB to random ids, 101 blocks", before);
    }
}
