package io.switchboard.gateway.hooks;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardException;
import io.switchboard.testing.Await;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;

/**
 * A slow or failing backend (docs/protocol.md section 11, docs/backend.md): requests answer {@code unavailable}
 * fast, a breaker stops calling it, {@code /health} shows {@code hooks} with one log line per change, the number
 * of calls in flight is bounded, and no I/O loop waits for it.
 */
class HookFailuresIntegrationTests {
    private final FakeBackend backend = new FakeBackend();
    private final List<Runnable> cleanup = new ArrayList<>();
    private TestGateway gw;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
        backend.close();
        cleanup.forEach(Runnable::run);
    }

    private TestGateway gateway(String url, Map<String, String> env) {
        Map<String, String> all = new HashMap<>();
        all.put("SWITCHBOARD_HOOK_URL", url);
        all.putAll(env);
        gw = TestGateway.start(all);
        return gw;
    }

    private static SwitchboardException unavailable(Runnable request) {
        SwitchboardException[] caught = new SwitchboardException[1];
        assertThatThrownBy(request::run).isInstanceOfSatisfying(SwitchboardException.class, e -> caught[0] = e);
        assertThat(caught[0].code()).isEqualTo(ErrorCodes.UNAVAILABLE);
        assertThat(caught[0].retryAfter()).isPositive();
        return caught[0];
    }

    private ListAppender<ILoggingEvent> capture(Class<?> source) {
        ListAppender<ILoggingEvent> logs = new ListAppender<>();
        logs.start();
        Logger logger = (Logger) LoggerFactory.getLogger(source);
        logger.addAppender(logs);
        cleanup.add(() -> logger.detachAppender(logs));
        return logs;
    }

    private static List<String> lines(ListAppender<ILoggingEvent> logs, Level level, String containing) {
        return logs.list.stream()
                .filter(e -> e.getLevel() == level)
                .map(ILoggingEvent::getFormattedMessage)
                .filter(m -> m.contains(containing))
                .toList();
    }

    @Test
    @DisplayName("section 11: a backend that does not answer in time: unavailable with retryAfter, at the timeout")
    void slowBackendAnswersUnavailableAtTheTimeout() {
        gateway(backend.url(), Map.of("SWITCHBOARD_HOOK_TIMEOUT_MS", "300"));
        backend.on("rpc", call -> Mono.never());
        SwitchboardClient c = gw.connect(Tokens.user("u_slow"));

        long start = System.nanoTime();
        SwitchboardException e = unavailable(() -> c.rpc("report", "{}").block(TestGateway.TIMEOUT));
        long tookMs = (System.nanoTime() - start) / 1_000_000;
        assertThat(tookMs).isBetween(250L, 2_000L);
        assertThat(e.getMessage()).contains("rpc report is unavailable");
    }

    @Test
    @DisplayName("section 11: a 500, a body that is not JSON, or one over the bound is an outage: unavailable")
    void failingAnswersAreUnavailable() {
        gateway(backend.url(), Map.of("SWITCHBOARD_MAX_FRAME", "1024"));
        SwitchboardClient c = gw.connect(Tokens.user("u_fail", List.of("room:*"), List.of("room:*")));

        backend.on("rpc", call -> Mono.just(new FakeBackend.Reply(500, "{\"error\":\"boom\"}")));
        unavailable(() -> c.rpc("report", "{}").block(TestGateway.TIMEOUT));
        backend.answer("subscribe", "<html>not json</html>");
        unavailable(() -> c.subscribe("room:1").block(TestGateway.TIMEOUT));
        // the frame size (1024) plus 16 KiB is the most a body may have
        backend.answer("publish", "{\"allow\":true,\"pad\":\"" + "x".repeat(20_000) + "\"}");
        unavailable(() -> c.publish("room:1", "1").block(TestGateway.TIMEOUT));
        backend.answer("publish", "{\"allowed\":true}");
        unavailable(() -> c.publish("room:1", "1").block(TestGateway.TIMEOUT));
        // the connection is fine: a request without a hook is served
        assertThat(c.publish("public:x", "1").block(TestGateway.TIMEOUT).offset())
                .isEqualTo(1);
    }

    @Test
    @DisplayName("section 11: a backend that refuses connections: connect answers unavailable and closes with 1011")
    void refusedConnectionsAnswerUnavailable() {
        FakeBackend gone = new FakeBackend();
        String url = gone.url();
        gone.close();
        gateway(url, Map.of());

        SwitchboardClient c = gw.open();
        long start = System.nanoTime();
        unavailable(() -> TestGateway.hello(c, null));
        assertThat(c.closed().block(TestGateway.TIMEOUT).code()).isEqualTo(CloseCodes.INTERNAL_ERROR);
        assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(2_000);
        JsonNode hooks = gw.health().path("dependencies").path("hooks");
        assertThat(hooks.path("detail").asText()).contains("cannot be reached for connect");
    }

    @Test
    @DisplayName("section 11: the breaker opens on failures (held off, /health DOWN, one line) and closes on recovery")
    void breakerOpensAndClosesAgain() {
        ListAppender<ILoggingEvent> logs = capture(HookClient.class);
        gateway(backend.url(), Map.of("SWITCHBOARD_HOOKS", "rpc"));
        backend.on("rpc", call -> Mono.just(new FakeBackend.Reply(503, "{}")));
        SwitchboardClient c = gw.connect(Tokens.user("u_breaker"));
        assertThat(gw.health().path("dependencies").path("hooks").path("status").asText())
                .isEqualTo("UP");

        for (int i = 0; i < HookClient.BREAKER_MIN_CALLS; i++) {
            unavailable(() -> c.rpc("report", "{}").block(TestGateway.TIMEOUT));
        }
        JsonNode health = gw.health();
        assertThat(health.path("status").asText()).isEqualTo("DEGRADED");
        assertThat(health.path("dependencies").path("hooks").path("status").asText())
                .isEqualTo("DOWN");
        assertThat(health.path("dependencies").path("hooks").path("detail").asText())
                .contains("held off")
                .contains("HTTP 503");
        assertThat(gw.get("/health/ready").statusCode()).isEqualTo(200);
        int called = backend.calls("rpc").size();
        SwitchboardException held = unavailable(() -> c.rpc("report", "{}").block(TestGateway.TIMEOUT));
        assertThat(backend.calls("rpc")).hasSize(called);
        assertThat(held.getMessage()).contains("rpc report is unavailable");
        assertThat(lines(logs, Level.WARN, "are down")).hasSize(1);
        assertThat(lines(logs, Level.WARN, "are down").get(0))
                .contains("http://127.0.0.1:")
                .contains("HTTP 503")
                .doesNotContain("/hooks");

        backend.answer("rpc", "{\"result\":\"ok\"}");
        Await.until("the breaker to close again", TestGateway.TIMEOUT, () -> {
            try {
                c.rpc("report", "{}").block(TestGateway.TIMEOUT);
            } catch (SwitchboardException e) {
                return false;
            }
            return gw.health()
                    .path("dependencies")
                    .path("hooks")
                    .path("status")
                    .asText()
                    .equals("UP");
        });
        assertThat(gw.health().path("status").asText()).isEqualTo("UP");
        assertThat(lines(logs, Level.WARN, "are down")).hasSize(1);
        assertThat(lines(logs, Level.INFO, "are back after")).hasSize(1);
        assertThat(logs.list).allSatisfy(e -> assertThat(e.getThrowableProxy()).isNull());
        assertThat(gw.get("/metrics").body())
                .contains("switchboard_hooks_calls_total{hook=\"rpc\",outcome=\"held_off\"}")
                .contains("resilience4j_circuitbreaker_state{name=\"hooks\"");
    }

    @Test
    @DisplayName(
            "section 11: beyond SWITCHBOARD_HOOK_MAX_IN_FLIGHT calls in flight, a request answers unavailable at once")
    void inFlightBound() {
        gateway(backend.url(), Map.of("SWITCHBOARD_HOOK_MAX_IN_FLIGHT", "2", "SWITCHBOARD_HOOK_TIMEOUT_MS", "10000"));
        Sinks.Empty<Void> gate = Sinks.empty();
        backend.on("rpc", call -> gate.asMono().then(FakeBackend.ok("{\"result\":1}")));
        SwitchboardClient a = gw.connect(Tokens.user("u_a"));
        SwitchboardClient b = gw.connect(Tokens.user("u_b"));
        SwitchboardClient c = gw.connect(Tokens.user("u_c"));

        CompletableFuture<String> first = a.rpc("wait", "{}").toFuture();
        CompletableFuture<String> second = b.rpc("wait", "{}").toFuture();
        Await.until(
                "two calls at the backend",
                TestGateway.TIMEOUT,
                () -> backend.calls("rpc").size() == 2);
        long start = System.nanoTime();
        SwitchboardException busy = unavailable(() -> c.rpc("wait", "{}").block(TestGateway.TIMEOUT));
        assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(1_000);
        assertThat(backend.calls("rpc")).hasSize(2);

        gate.tryEmitEmpty();
        assertThat(first.join()).isEqualTo("1");
        assertThat(second.join()).isEqualTo("1");
        assertThat(c.rpc("wait", "{}").block(TestGateway.TIMEOUT)).isEqualTo("1");
        // the local bound is not the backend failing: the breaker stays closed
        assertThat(gw.health().path("dependencies").path("hooks").path("status").asText())
                .isEqualTo("UP");
        assertThat(busy.retryAfter()).isPositive();
    }

    @Test
    @DisplayName("section 11: while the backend is slow, other connections keep getting their messages")
    void slowBackendBlocksNoLoop() {
        gateway(backend.url(), Map.of("SWITCHBOARD_HOOK_TIMEOUT_MS", "10000"));
        Sinks.Empty<Void> gate = Sinks.empty();
        backend.on("rpc", call -> gate.asMono().then(FakeBackend.ok("{\"result\":true}")));
        List<CompletableFuture<String>> waiting = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            waiting.add(gw.connect(Tokens.user("u_wait" + i)).rpc("slow", "{}").toFuture());
        }
        Await.until(
                "eight calls at the backend",
                TestGateway.TIMEOUT,
                () -> backend.calls("rpc").size() == 8);

        SwitchboardClient reader = gw.connect();
        SwitchboardClient writer = gw.connect();
        reader.subscribe("public:busy").block(TestGateway.TIMEOUT);
        EventRecorder received = EventRecorder.of(reader);
        for (int i = 1; i <= 20; i++) {
            writer.publish("public:busy", String.valueOf(i)).block(TestGateway.TIMEOUT);
            assertThat(received.next(ServerFrame.Message.class).data()).isEqualTo(String.valueOf(i));
        }
        assertThat(waiting).noneMatch(CompletableFuture::isDone);

        gate.tryEmitEmpty();
        waiting.forEach(f -> assertThat(f.join()).isEqualTo("true"));
    }
}
