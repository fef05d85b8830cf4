package io.switchboard.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.support.TestGateway;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.CloseStatus;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/** Drain (PROTOCOL.md section 8): closes spread over the window, and every client resumes elsewhere. */
class DrainIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private static final int CLIENTS = 2000;
    private static final long WINDOW_MS = 2_000;

    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    private final List<TestGateway> gateways = new ArrayList<>();

    @AfterEach
    void stop() {
        gateways.forEach(TestGateway::close);
    }

    private TestGateway instance(String node) {
        TestGateway gw = TestGateway.startClustered(redis.server().uri(), node,
                Map.of("SWITCHBOARD_RATE", "100000", "SWITCHBOARD_BURST", "100000"));
        gateways.add(gw);
        return gw;
    }

    @Test
    @DisplayName("section 8: a drain closes 2,000 connections with 1012 spread over the window; all resume on"
            + " another instance with their identity and the messages sent meanwhile")
    void drainSpreadsClosesAndClientsResumeElsewhere() {
        TestGateway a = instance("gw-a");
        TestGateway b = instance("gw-b");
        Map<String, ServerFrame.Welcome> welcomes = new ConcurrentHashMap<>();
        Map<String, Long> closedAt = new ConcurrentHashMap<>();
        List<Integer> codes = new CopyOnWriteArrayList<>();
        Flux.range(0, CLIENTS)
                .flatMap(i -> Mono.fromCallable(() -> {
                    SwitchboardClient c = a.connect();
                    ServerFrame.Welcome w = c.welcome();
                    welcomes.put(w.user(), w);
                    c.closed().subscribe(s -> {
                        closedAt.put(w.user(), System.nanoTime());
                        codes.add(s.code());
                    });
                    return c;
                }).subscribeOn(Schedulers.boundedElastic()), 32)
                .blockLast(Duration.ofSeconds(90));
        assertThat(welcomes).hasSize(CLIENTS);

        long start = System.nanoTime();
        Thread drainer = new Thread(() -> a.gateway().drain(Duration.ofMillis(WINDOW_MS)));
        drainer.start();
        Await.until("not ready while draining", T, () -> a.get("/health/ready").statusCode() == 503);
        assertThat(a.get("/health").body()).contains("\"status\":\"DOWN\"");
        // messages sent to every user during the drain, from the other instance
        SwitchboardClient sender = b.connect();
        List<String> users = new ArrayList<>(welcomes.keySet());
        Flux.fromIterable(users).flatMap(u -> sender.send(u, "\"during drain\""), 64).blockLast(T);
        Await.until("every connection closed", Duration.ofSeconds(30), () -> closedAt.size() == CLIENTS);

        assertThat(codes).containsOnly(CloseCodes.SERVICE_RESTART);
        long first = closedAt.values().stream().min(Long::compare).orElseThrow();
        long last = closedAt.values().stream().max(Long::compare).orElseThrow();
        assertThat((last - first) / 1_000_000).as("closes spread over the window").isGreaterThan(WINDOW_MS * 7 / 10);
        int[] buckets = new int[(int) (WINDOW_MS / 100) + 20];
        closedAt.values().forEach(t -> buckets[(int) Math.min(buckets.length - 1, (t - start) / 100_000_000)]++);
        for (int count : buckets) {
            assertThat(count).as("no 100 ms holds more than a small share of the closes")
                    .isLessThanOrEqualTo(CLIENTS / 10);
        }

        // every client comes back on the other instance: same user, the message sent meanwhile recovered
        List<ServerFrame.Welcome> resumed = Flux.fromIterable(users)
                .flatMap(u -> Mono.fromCallable(() -> {
                    ServerFrame.Welcome old = welcomes.get(u);
                    SwitchboardClient c = b.open();
                    List<ServerFrame> events = new CopyOnWriteArrayList<>();
                    c.events().subscribe(events::add);
                    ServerFrame.Welcome w = c.hello(new ClientFrame.Hello(1, null, old.resume(), old.inbox(),
                            "test")).block(T);
                    assertThat(w.user()).isEqualTo(u);
                    assertThat(w.resumed()).isTrue();
                    assertThat(w.recovered()).isTrue();
                    Await.until("the message sent during the drain", T,
                            () -> events.stream().anyMatch(f -> f instanceof ServerFrame.Direct));
                    return w;
                }).subscribeOn(Schedulers.boundedElastic()), 32)
                .collectList().block(Duration.ofSeconds(120));
        assertThat(resumed).hasSize(CLIENTS);
        assertThat(a.get("/ws").statusCode()).isEqualTo(503);
    }
}
