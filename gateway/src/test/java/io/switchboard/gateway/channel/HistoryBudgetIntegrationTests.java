package io.switchboard.gateway.channel;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Gauge;
import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import io.switchboard.protocol.client.SwitchboardClient;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;

/**
 * Hostile clients against the embedded history (docs/design.md: every byte a client can make the server hold is
 * bounded, in total): guests publishing large messages to fresh channels and sending to random ids cannot take
 * the history over SWITCHBOARD_HISTORY_BUDGET_BYTES, and everyone else is still served.
 */
class HistoryBudgetIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private static final long BUDGET = 256 * 1024;
    /** Appends in flight on each I/O loop may pass the budget by one message each until they evict. */
    private static final long IN_FLIGHT = 2L * Runtime.getRuntime().availableProcessors() * (65_536 + 1_024);

    private TestGateway gw;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
    }

    private double metric(String name) {
        return gw.gateway()
                .metrics()
                .scrape()
                .lines()
                .filter(l -> l.startsWith(name + " "))
                .mapToDouble(
                        l -> Double.parseDouble(l.substring(name.length() + 1).trim()))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no metric " + name));
    }

    @Test
    @DisplayName("a flood of 8 KB publishes to fresh channels and of sends to random ids stays within the budget;"
            + " evictions are counted, a subscriber and a publisher elsewhere are served in order, and a since into"
            + " an evicted history is answered recovered:false with a new epoch (docs/protocol.md section 5)")
    void floodStaysWithinTheBudget() throws InterruptedException {
        gw = TestGateway.start(Map.of(
                "SWITCHBOARD_HISTORY_BUDGET_BYTES",
                String.valueOf(BUDGET),
                "SWITCHBOARD_RATE",
                "100000",
                "SWITCHBOARD_BURST",
                "100000"));
        SwitchboardClient early = gw.connect();
        ServerFrame.Ack first = early.publish("public:early", "{\"n\":1}").block(T);
        SwitchboardClient bystander = gw.connect();
        EventRecorder seen = EventRecorder.of(bystander);
        bystander.subscribe("public:lobby").block(T);
        SwitchboardClient speaker = gw.connect(Tokens.user("u_speaker"));

        AtomicBoolean flooding = new AtomicBoolean(true);
        AtomicLong maxBytes = new AtomicLong();
        Gauge bytes = gw.gateway()
                .metrics()
                .registry()
                .get("switchboard.history.bytes")
                .gauge();
        Thread sampler = new Thread(() -> {
            while (flooding.get()) {
                maxBytes.accumulateAndGet((long) bytes.value(), Math::max);
                LockSupport.parkNanos(200_000); // a sampling interval, not a wait
            }
        });
        sampler.start();
        String big = "{\"blob\":\"" + "x".repeat(8_000) + "\"}";
        List<SwitchboardClient> attackers = List.of(gw.connect(), gw.connect());
        Flux<Boolean> floods = Flux.fromIterable(attackers)
                .flatMap(a -> Flux.range(0, 300)
                        .flatMap(
                                i -> Flux.concat(
                                        a.publish("public:flood-" + a.welcome().user() + "-" + i, big)
                                                .map(ack -> true),
                                        a.send("u_random_" + a.welcome().user() + "_" + i, big)
                                                .map(ack -> ack.delivered())),
                                16));
        Flux<ServerFrame.Ack> chat =
                Flux.range(1, 20).concatMap(i -> speaker.publish("public:lobby", "{\"line\":" + i + "}"));
        List<Boolean> outcomes = floods.collectList().block(Duration.ofSeconds(60));
        List<ServerFrame.Ack> said = chat.collectList().block(T);
        flooding.set(false);
        sampler.join();

        assertThat(outcomes).hasSize(1_200);
        assertThat(outcomes.stream().filter(Boolean::booleanValue))
                .as("publishes acked, sends not delivered")
                .hasSize(600);
        assertThat(maxBytes.get())
                .as("history bytes while flooding")
                .isGreaterThan(BUDGET / 2)
                .isLessThanOrEqualTo(BUDGET + IN_FLIGHT);
        assertThat((long) metric("switchboard_history_bytes")).isLessThanOrEqualTo(BUDGET);
        assertThat(metric("switchboard_history_channels")).isLessThan(600);
        assertThat(metric("switchboard_history_evictions_total")).isGreaterThanOrEqualTo(500);

        assertThat(said)
                .extracting(ServerFrame.Ack::offset)
                .containsExactlyElementsOf(
                        Flux.range(1, 20).map(Long::valueOf).collectList().block());
        List<ServerFrame.Message> lines = seen.next(ServerFrame.Message.class, 20);
        assertThat(lines)
                .extracting(ServerFrame.Message::offset)
                .containsExactlyElementsOf(
                        said.stream().map(ServerFrame.Ack::offset).toList());

        ServerFrame.Ack again = early.subscribe("public:early", new StreamPosition(first.offset(), first.epoch()))
                .block(T);
        assertThat(again.recovered()).isFalse();
        assertThat(again.epoch()).isNotEqualTo(first.epoch());
        assertThat(again.offset()).isZero();

        SwitchboardClient newcomer = gw.connect();
        assertThat(newcomer.publish("public:after", "1").block(T).offset()).isEqualTo(1);
    }
}
