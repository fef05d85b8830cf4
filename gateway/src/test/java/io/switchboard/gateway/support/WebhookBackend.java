package io.switchboard.gateway.support;

import com.fasterxml.jackson.databind.JsonNode;
import io.switchboard.gateway.events.WebhookSignature;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;

/**
 * A backend standing in for the application: a real HTTP server on a free loopback port that receives webhook
 * batches, checks their signature, and keeps every event of each batch it acknowledged, in arrival order. It can be
 * told to fail (answer 503) to play an outage.
 */
public final class WebhookBackend implements AutoCloseable {
    public static final String SECRET = "webhook-secret-webhook-secret-0123456789";

    private final DisposableServer server;
    private final WebhookSignature signature = new WebhookSignature(SECRET);
    private final List<JsonNode> received = new CopyOnWriteArrayList<>();
    private final List<String> badSignatures = new CopyOnWriteArrayList<>();
    private final AtomicInteger posts = new AtomicInteger();
    private final AtomicInteger refused = new AtomicInteger();
    private volatile boolean failing;

    private WebhookBackend() {
        server = HttpServer.create()
                .host("127.0.0.1")
                .port(0)
                .route(r -> r.post(
                        "/events",
                        (req, res) -> req.receive()
                                .aggregate()
                                .asByteArray()
                                .flatMap(body -> {
                                    posts.incrementAndGet();
                                    String header = req.requestHeaders().get(WebhookSignature.HEADER);
                                    if (!signature.verify(header, body, System.currentTimeMillis() / 1000, 300)) {
                                        badSignatures.add(String.valueOf(header));
                                        return res.status(401).send().then();
                                    }
                                    if (failing) {
                                        refused.incrementAndGet();
                                        return res.status(503).send().then();
                                    }
                                    try {
                                        JsonNode batch = FrameCodec.mapper().readTree(body);
                                        batch.path("events").forEach(received::add);
                                    } catch (IOException e) {
                                        throw new UncheckedIOException(e);
                                    }
                                    return res.status(200).send().then();
                                })
                                .then(Mono.empty())))
                .bindNow();
    }

    public static WebhookBackend start() {
        return new WebhookBackend();
    }

    /** The settings that point a gateway's events here. */
    public Map<String, String> env() {
        return Map.of("SWITCHBOARD_WEBHOOK_URL", url(), "SWITCHBOARD_WEBHOOK_SECRET", SECRET);
    }

    public String url() {
        return "http://127.0.0.1:" + server.port() + "/events";
    }

    /** From now on answers 503 (true) or acknowledges (false). */
    public void failing(boolean failing) {
        this.failing = failing;
    }

    /** Every event of every acknowledged batch, in arrival order, duplicates included. */
    public List<JsonNode> received() {
        return List.copyOf(received);
    }

    /** The first arrival of each event id, in arrival order: what a receiver deduplicating by id keeps. */
    public List<JsonNode> distinct() {
        Map<String, JsonNode> byId = new LinkedHashMap<>();
        for (JsonNode e : received) {
            byId.putIfAbsent(e.path("id").asText(), e);
        }
        return new ArrayList<>(byId.values());
    }

    /** The distinct events matching {@code which}, in arrival order. */
    public List<JsonNode> distinct(Predicate<JsonNode> which) {
        return distinct().stream().filter(which).toList();
    }

    /** Waits until {@code n} distinct events match {@code which}; returns them. */
    public List<JsonNode> await(int n, Predicate<JsonNode> which, Duration timeout) {
        Await.until(n + " webhook events", timeout, () -> distinct(which).size() >= n);
        return distinct(which);
    }

    /** POSTs received, answered or not. */
    public int posts() {
        return posts.get();
    }

    /** POSTs answered 503 while failing. */
    public int refused() {
        return refused.get();
    }

    /** Signature headers that did not verify. */
    public List<String> badSignatures() {
        return List.copyOf(badSignatures);
    }

    /**
     * Closes {@code c} (1000), connected to {@code gw} as {@code user}, and waits until the gateway stored the end
     * of its session: the user's next connection then comes after it in the events, as it came after the close.
     */
    public static void closeStored(TestGateway gw, SwitchboardClient c, String user, Duration timeout) {
        String session = c.welcome().session();
        c.close(1000, "bye").block(timeout);
        Await.until(
                "the end of " + user + "'s session " + session + " stored",
                timeout,
                () -> gw.gateway().events().settled(user, session));
    }

    public static Predicate<JsonNode> ofUser(String user) {
        return e -> user.equals(e.path("user").asText());
    }

    /** The {@code channel.occupied} and {@code channel.vacated} events of {@code channel}. */
    public static Predicate<JsonNode> ofChannel(String channel) {
        return e -> channel.equals(e.path("channel").asText())
                && e.path("type").asText().startsWith("channel.");
    }

    /** Every {@code channel.occupied} and {@code channel.vacated} event. */
    public static Predicate<JsonNode> channelEvents() {
        return e -> e.path("type").asText().startsWith("channel.");
    }

    public static Predicate<JsonNode> ofType(String type) {
        return e -> type.equals(e.path("type").asText());
    }

    @Override
    public void close() {
        server.disposeNow(Duration.ofSeconds(5));
    }
}
