package io.switchboard.loadtest.backend;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.switchboard.loadtest.result.BenchmarkException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.HdrHistogram.Histogram;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;

/**
 * A stand-in for the application's backend, answering the gateway's proxy hooks (docs/backend.md) as a backend that
 * allows everything: {@code {"allow":true}} to {@code connect}, {@code subscribe} and {@code publish},
 * {@code {"result":null}} to {@code rpc}, each after a fixed added delay (0: at once), counting the calls by hook and
 * the {@code publish} calls by channel (it reads each body as JSON, as a backend would).
 *
 * <p>It runs in a JVM of its own ({@link #main}, started by {@link #start}), a reactor-netty {@code HttpServer} on
 * loopback with its default event loops (one per core): its CPU time is then read from its process like the
 * gateway's, apart from the load generator's. {@code GET /stats} answers its counters; it stops when its standard
 * input closes (so that it never outlives the benchmark), or when {@link #close} kills it.
 */
public final class HookBackend implements AutoCloseable {
    /** The path the hooks are POSTed under: {@code SWITCHBOARD_HOOK_URL} is {@link #url()}. */
    public static final String PATH = "/switchboard";

    /** Where the webhook events are POSTed: {@code SWITCHBOARD_WEBHOOK_URL} is {@link #eventsUrl()}. */
    public static final String EVENTS_PATH = PATH + "/events";

    /** The environment variable that gives the backend's process the webhook secret. */
    static final String SECRET_ENV = "HOOK_BACKEND_WEBHOOK_SECRET";

    static final String HOST = "127.0.0.1";
    static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    private static final Pattern LISTENING = Pattern.compile("hook backend listening on http://[^:]+:(\\d+)");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Process process;
    private final Path log;
    private final int port;
    private final long delayMs;
    private final String secret;
    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2))
            .build();

    /**
     * What the backend counted: calls by hook, publish calls by channel (when asked for), and the webhook events.
     */
    public record Stats(Map<String, Long> calls, Map<String, Long> publishByChannel, Events events) {
        public long calls(String hook) {
            return calls.getOrDefault(hook, 0L);
        }
    }

    /**
     * The webhook events received ({@code POST} {@link #EVENTS_PATH}): batches, events (copies included), distinct
     * ids by type, {@code user.disconnected} by reason, copies of an id already seen, batches whose signature did not
     * verify (answered 401, their events not counted), the wall-clock time the last new event arrived (epoch ms, 0:
     * none), and the delivery latency of each first copy ({@code now - at}, ms: p50, p99, max).
     */
    public record Events(
            long batches,
            long received,
            Map<String, Long> distinctByType,
            Map<String, Long> disconnectReasons,
            long duplicates,
            long badSignatures,
            long lastNewAtMillis,
            Map<String, Object> latencyMs) {
        static final Events NONE = new Events(0, 0, Map.of(), Map.of(), 0, 0, 0, Map.of());

        public long distinct(String type) {
            return distinctByType.getOrDefault(type, 0L);
        }

        public long distinct() {
            return distinctByType.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    private HookBackend(Process process, Path log, int port, long delayMs, String secret) {
        this.process = process;
        this.log = log;
        this.port = port;
        this.delayMs = delayMs;
        this.secret = secret;
    }

    /**
     * Starts a backend in its own JVM (this JVM's classpath, a small heap), its output in {@code log}, answering each
     * hook after {@code delayMs}; returns once it listens.
     */
    public static HookBackend start(Path log, long delayMs) throws BenchmarkException {
        return start(log, delayMs, null);
    }

    /**
     * As {@link #start(Path, long)}, and checking the signature of each batch of webhook events with
     * {@code webhookSecret} (null: every batch is counted as badly signed).
     */
    public static HookBackend start(Path log, long delayMs, String webhookSecret) throws BenchmarkException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = List.of(
                java,
                "-Xms64m",
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-cp",
                System.getProperty("java.class.path"),
                HookBackend.class.getName(),
                Long.toString(delayMs));
        Process p;
        try {
            Files.createDirectories(log.getParent());
            Files.deleteIfExists(log);
            ProcessBuilder pb = new ProcessBuilder(command);
            if (webhookSecret != null) {
                pb.environment().put(SECRET_ENV, webhookSecret);
            }
            p = pb.redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.to(log.toFile()))
                    .start(); // standard input stays a pipe: closing it stops the backend
        } catch (IOException e) {
            throw new BenchmarkException("cannot start the hook backend: " + e.getMessage());
        }
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        try {
            while (System.nanoTime() - deadline < 0) {
                Matcher m = LISTENING.matcher(Files.exists(log) ? Files.readString(log) : "");
                if (m.find()) {
                    return new HookBackend(p, log, Integer.parseInt(m.group(1)), delayMs, webhookSecret);
                }
                if (!p.isAlive()) {
                    throw new BenchmarkException("the hook backend exited with " + p.exitValue() + " at start; see "
                            + log + "\n" + tail(log));
                }
                Thread.sleep(50);
            }
        } catch (IOException e) {
            p.destroyForcibly();
            throw new BenchmarkException("cannot read " + log + ": " + e.getMessage());
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new BenchmarkException("interrupted while starting the hook backend");
        } catch (BenchmarkException e) {
            p.destroyForcibly();
            throw e;
        }
        p.destroyForcibly();
        throw new BenchmarkException("the hook backend did not listen within " + START_TIMEOUT.toSeconds() + " s; see "
                + log + "\n" + tail(log));
    }

    /** {@code SWITCHBOARD_HOOK_URL} for the gateways. */
    public String url() {
        return "http://" + HOST + ":" + port + PATH;
    }

    /** {@code SWITCHBOARD_WEBHOOK_URL} for the gateways. */
    public String eventsUrl() {
        return "http://" + HOST + ":" + port + EVENTS_PATH;
    }

    /** The webhook secret it checks signatures with (null: none). */
    public String secret() {
        return secret;
    }

    public long delayMs() {
        return delayMs;
    }

    public long pid() {
        return process.pid();
    }

    /** The CPU time the backend's process used so far. */
    public Duration cpu() {
        return process.toHandle().info().totalCpuDuration().orElse(Duration.ZERO);
    }

    /** Null while it runs, else a line saying it died. */
    public String dead() {
        return process.isAlive() ? null : "the hook backend exited with " + process.exitValue() + "; see " + log;
    }

    /** Its counters; with {@code byChannel}, the publish calls of every channel too. */
    public Stats stats(boolean byChannel) throws BenchmarkException {
        URI uri = URI.create("http://" + HOST + ":" + port + "/stats" + (byChannel ? "?channels" : ""));
        try {
            HttpResponse<String> r = http.send(
                    HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString());
            return parseStats(r.body());
        } catch (IOException | RuntimeException e) {
            throw new BenchmarkException("cannot read the hook backend's counters at " + uri + ": " + e
                    + (dead() == null ? "" : "; " + dead()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BenchmarkException("interrupted");
        }
    }

    static Stats parseStats(String body) throws IOException {
        JsonNode j = JSON.readTree(body);
        Map<String, Long> calls = new TreeMap<>();
        j.path("calls")
                .fields()
                .forEachRemaining(e -> calls.put(e.getKey(), e.getValue().asLong()));
        Map<String, Long> byChannel = new TreeMap<>();
        j.path("publishByChannel")
                .fields()
                .forEachRemaining(e -> byChannel.put(e.getKey(), e.getValue().asLong()));
        JsonNode e = j.path("events");
        if (e.isMissingNode()) {
            return new Stats(calls, byChannel, Events.NONE);
        }
        Map<String, Long> byType = new TreeMap<>();
        e.path("distinctByType")
                .fields()
                .forEachRemaining(f -> byType.put(f.getKey(), f.getValue().asLong()));
        Map<String, Long> reasons = new TreeMap<>();
        e.path("disconnectReasons")
                .fields()
                .forEachRemaining(f -> reasons.put(f.getKey(), f.getValue().asLong()));
        Map<String, Object> latency = new LinkedHashMap<>();
        e.path("latencyMs")
                .fields()
                .forEachRemaining(f -> latency.put(
                        f.getKey(), f.getValue().isNull() ? null : f.getValue().asLong()));
        Events events = new Events(
                e.path("batches").asLong(),
                e.path("received").asLong(),
                byType,
                reasons,
                e.path("duplicates").asLong(),
                e.path("badSignatures").asLong(),
                e.path("lastNewAtMillis").asLong(),
                latency);
        return new Stats(calls, byChannel, events);
    }

    /** Closes its standard input (it stops), then kills it if it has not within 5 s. */
    @Override
    public void close() {
        try (OutputStream in = process.getOutputStream()) {
            in.flush();
        } catch (IOException e) {
            // it is gone already
        }
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return "  " + String.join("\n  ", lines.subList(Math.max(0, lines.size() - 15), lines.size()));
        } catch (IOException e) {
            return "  (cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    // ------------------------------------------------------------------------------------------ the backend itself

    /** The counters of the running backend, touched on its event loops. */
    static final class Counters {
        private final Map<String, LongAdder> calls = new ConcurrentHashMap<>();
        private final Map<String, LongAdder> publishByChannel = new ConcurrentHashMap<>();
        private final byte[] secret;
        private final LongAdder batches = new LongAdder();
        private final LongAdder received = new LongAdder();
        private final LongAdder duplicates = new LongAdder();
        private final LongAdder badSignatures = new LongAdder();
        private final Set<String> ids = ConcurrentHashMap.newKeySet();
        private final Map<String, LongAdder> distinctByType = new ConcurrentHashMap<>();
        private final Map<String, LongAdder> disconnectReasons = new ConcurrentHashMap<>();
        private final AtomicLong lastNewAtMillis = new AtomicLong();
        /** Delivery latency of first copies, ms; guarded by itself. */
        private final Histogram latencyMs = new Histogram(TimeUnit.HOURS.toMillis(1), 3);

        Counters() {
            this(null);
        }

        /** @param secret the webhook secret batches are checked with; null: none verifies */
        Counters(String secret) {
            this.secret = secret == null ? null : secret.getBytes(StandardCharsets.UTF_8);
        }

        /**
         * Counts one batch of webhook events, {@code body} signed by {@code signature} (the
         * {@code Switchboard-Signature} header, may be null), received at {@code nowMillis}; returns the HTTP status
         * to answer: 204, or 401 when the signature does not verify (its events are not counted, as a backend
         * rejects them), or 400 when the body is no batch.
         */
        int events(String signature, byte[] body, long nowMillis) {
            batches.increment();
            if (!verify(signature, body, secret)) {
                badSignatures.increment();
                return 401;
            }
            JsonNode events;
            try {
                events = JSON.readTree(body).path("events");
            } catch (IOException e) {
                return 400;
            }
            if (!events.isArray()) {
                return 400;
            }
            for (JsonNode e : events) {
                received.increment();
                String id = e.path("id").asText("");
                if (!ids.add(id)) {
                    duplicates.increment();
                    continue;
                }
                String type = e.path("type").asText("?");
                distinctByType.computeIfAbsent(type, t -> new LongAdder()).increment();
                if (type.equals("user.disconnected")) {
                    disconnectReasons
                            .computeIfAbsent(e.path("reason").asText("?"), r -> new LongAdder())
                            .increment();
                }
                lastNewAtMillis.accumulateAndGet(nowMillis, Math::max);
                try {
                    long at = Instant.parse(e.path("at").asText()).toEpochMilli();
                    synchronized (latencyMs) {
                        latencyMs.recordValue(
                                Math.max(0, Math.min(nowMillis - at, latencyMs.getHighestTrackableValue())));
                    }
                } catch (DateTimeParseException ex) {
                    // no latency for an event without a time
                }
            }
            return 204;
        }

        /**
         * Whether {@code header} ({@code t=<seconds>,v1=<hex>}) signs {@code body}: v1 is the HMAC-SHA256 of
         * {@code t + "." + body} with {@code secret} (docs/backend.md, "Verifying the signature"). The age of
         * {@code t} is not checked: the benchmark's copies sent again may be old.
         */
        static boolean verify(String header, byte[] body, byte[] secret) {
            if (header == null || secret == null) {
                return false;
            }
            String t = null;
            String v1 = null;
            for (String part : header.split(",")) {
                String[] kv = part.trim().split("=", 2);
                if (kv.length == 2 && kv[0].equals("t")) {
                    t = kv[1];
                } else if (kv.length == 2 && kv[0].equals("v1")) {
                    v1 = kv[1];
                }
            }
            if (t == null || v1 == null || !t.chars().allMatch(Character::isDigit) || t.isEmpty()) {
                return false;
            }
            try {
                Mac mac = Mac.getInstance("HmacSHA256");
                mac.init(new SecretKeySpec(secret, "HmacSHA256"));
                mac.update((t + ".").getBytes(StandardCharsets.US_ASCII));
                return MessageDigest.isEqual(mac.doFinal(body), HexFormat.of().parseHex(v1));
            } catch (IllegalArgumentException e) {
                return false;
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException(e);
            }
        }

        /** Counts one call of {@code hook} with request {@code body} and returns the answer. */
        String call(String hook, String body) {
            calls.computeIfAbsent(hook, h -> new LongAdder()).increment();
            if (hook.equals("publish")) {
                String channel;
                try {
                    channel = JSON.readTree(body).path("channel").asText("?");
                } catch (IOException e) {
                    channel = "?";
                }
                publishByChannel.computeIfAbsent(channel, c -> new LongAdder()).increment();
            }
            return hook.equals("rpc") ? "{\"result\":null}" : "{\"allow\":true}";
        }

        String json(boolean byChannel) {
            Map<String, Object> j = new LinkedHashMap<>();
            Map<String, Long> c = new TreeMap<>();
            calls.forEach((k, v) -> c.put(k, v.sum()));
            j.put("calls", c);
            if (byChannel) {
                Map<String, Long> p = new TreeMap<>();
                publishByChannel.forEach((k, v) -> p.put(k, v.sum()));
                j.put("publishByChannel", p);
            }
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("batches", batches.sum());
            e.put("received", received.sum());
            e.put("distinctByType", sums(distinctByType));
            e.put("disconnectReasons", sums(disconnectReasons));
            e.put("duplicates", duplicates.sum());
            e.put("badSignatures", badSignatures.sum());
            e.put("lastNewAtMillis", lastNewAtMillis.get());
            Map<String, Object> latency = new LinkedHashMap<>();
            synchronized (latencyMs) {
                boolean none = latencyMs.getTotalCount() == 0;
                latency.put("count", latencyMs.getTotalCount());
                latency.put("p50", none ? null : latencyMs.getValueAtPercentile(50));
                latency.put("p99", none ? null : latencyMs.getValueAtPercentile(99));
                latency.put("max", none ? null : latencyMs.getMaxValue());
            }
            e.put("latencyMs", latency);
            j.put("events", e);
            try {
                return JSON.writeValueAsString(j);
            } catch (IOException ex) {
                throw new IllegalStateException(ex);
            }
        }
    }

    private static Map<String, Long> sums(Map<String, LongAdder> adders) {
        Map<String, Long> m = new TreeMap<>();
        adders.forEach((k, v) -> m.put(k, v.sum()));
        return m;
    }

    /**
     * The backend's process: {@code HookBackend DELAY_MS}, the webhook secret in {@value #SECRET_ENV}. The events
     * are answered at once (the delay is the proxy hooks').
     */
    public static void main(String[] args) throws IOException {
        long delay = args.length > 0 ? Long.parseLong(args[0]) : 0;
        Counters counters = new Counters(System.getenv(SECRET_ENV));
        DisposableServer server = HttpServer.create()
                .host(HOST)
                .port(0)
                .route(routes -> routes.post(EVENTS_PATH, (req, res) -> {
                            String signature = req.requestHeaders().get("Switchboard-Signature");
                            return req.receive()
                                    .aggregate()
                                    .asByteArray()
                                    .defaultIfEmpty(new byte[0])
                                    .flatMap(body -> res.status(
                                                    counters.events(signature, body, System.currentTimeMillis()))
                                            .send());
                        })
                        .post(PATH + "/{hook}", (req, res) -> {
                            String hook = req.param("hook");
                            Mono<String> answer = req.receive()
                                    .aggregate()
                                    .asString(StandardCharsets.UTF_8)
                                    .defaultIfEmpty("")
                                    .map(body -> counters.call(hook, body));
                            if (delay > 0) {
                                answer = answer.delayElement(Duration.ofMillis(delay));
                            }
                            return res.header(HttpHeaderNames.CONTENT_TYPE, "application/json")
                                    .sendString(answer);
                        })
                        .get(
                                "/stats",
                                (req, res) -> res.header(HttpHeaderNames.CONTENT_TYPE, "application/json")
                                        .sendString(Mono.fromSupplier(
                                                () -> counters.json(req.uri().contains("channels"))))))
                .bindNow();
        System.out.println("hook backend listening on http://" + HOST + ":" + server.port() + PATH + " (delay " + delay
                + " ms, pid " + ProcessHandle.current().pid() + ")");
        System.out.flush();
        while (System.in.read() != -1) {
            // until the benchmark closes our standard input
        }
        server.disposeNow(Duration.ofSeconds(2));
    }
}
