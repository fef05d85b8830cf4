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
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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

    static final String HOST = "127.0.0.1";
    static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    private static final Pattern LISTENING = Pattern.compile("hook backend listening on http://[^:]+:(\\d+)");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Process process;
    private final Path log;
    private final int port;
    private final long delayMs;
    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2))
            .build();

    /** What the backend counted: calls by hook, and publish calls by channel (when asked for). */
    public record Stats(Map<String, Long> calls, Map<String, Long> publishByChannel) {
        public long calls(String hook) {
            return calls.getOrDefault(hook, 0L);
        }
    }

    private HookBackend(Process process, Path log, int port, long delayMs) {
        this.process = process;
        this.log = log;
        this.port = port;
        this.delayMs = delayMs;
    }

    /**
     * Starts a backend in its own JVM (this JVM's classpath, a small heap), its output in {@code log}, answering each
     * hook after {@code delayMs}; returns once it listens.
     */
    public static HookBackend start(Path log, long delayMs) throws BenchmarkException {
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
            p = new ProcessBuilder(command)
                    .redirectErrorStream(true)
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
                    return new HookBackend(p, log, Integer.parseInt(m.group(1)), delayMs);
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
        return new Stats(calls, byChannel);
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
            try {
                return JSON.writeValueAsString(j);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    /** The backend's process: {@code HookBackend DELAY_MS}. */
    public static void main(String[] args) throws IOException {
        long delay = args.length > 0 ? Long.parseLong(args[0]) : 0;
        Counters counters = new Counters();
        DisposableServer server = HttpServer.create()
                .host(HOST)
                .port(0)
                .route(routes -> routes.post(PATH + "/{hook}", (req, res) -> {
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
