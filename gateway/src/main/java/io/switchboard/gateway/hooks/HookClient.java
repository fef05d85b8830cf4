package io.switchboard.gateway.hooks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.resilience4j.bulkhead.Bulkhead;
import io.github.resilience4j.bulkhead.BulkheadConfig;
import io.github.resilience4j.bulkhead.BulkheadFullException;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.github.resilience4j.micrometer.tagged.TaggedCircuitBreakerMetrics;
import io.github.resilience4j.reactor.bulkhead.operator.BulkheadOperator;
import io.github.resilience4j.reactor.circuitbreaker.operator.CircuitBreakerOperator;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.switchboard.gateway.config.HookConfig;
import io.switchboard.gateway.health.spi.DependencyCheck;
import io.switchboard.gateway.health.spi.DependencyHealth;
import io.switchboard.gateway.health.spi.DependencyProbe;
import io.switchboard.protocol.FrameCodec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import reactor.netty.http.client.HttpClient;
import reactor.netty.resources.ConnectionProvider;

/**
 * The HTTP side of the proxy hooks: POSTs a JSON body to {@code <url>/<hook>} through a pool of keep-alive
 * connections on the gateway's own I/O loops, and reads a bounded JSON answer. Each call is bounded by the hook
 * timeout, runs behind a circuit breaker (a failing backend is not called for a moment: requests answer
 * {@code unavailable} at once rather than piling up behind timeouts), and at most {@code maxInFlight} run at
 * once (beyond: {@code unavailable} at once). A failure, a timeout, an answer other than 2xx, or a body that is
 * not the JSON object the hook answers, is an outage ({@link HookUnavailableException}).
 *
 * <p>{@code /health} shows {@code hooks} from the breaker's state and the last call; each change of state is one
 * log line (down with the cause, back), never a line per failed call. Logs name the backend by scheme, host and
 * port only: neither the key nor anything of the URL's path or user part.
 */
final class HookClient implements DependencyCheck, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HookClient.class);
    /** Calls the breaker judges by: the last ones, at least {@link #BREAKER_MIN_CALLS} before it opens. */
    static final int BREAKER_WINDOW = 20;

    static final int BREAKER_MIN_CALLS = 5;
    /** The share of failed calls (in percent) in the window that opens the breaker. */
    static final float BREAKER_FAILURE_RATE = 50;
    /** How long the open breaker holds calls off before it lets {@link #BREAKER_TRIAL_CALLS} through. */
    static final Duration BREAKER_OPEN = Duration.ofSeconds(1);

    static final int BREAKER_TRIAL_CALLS = 3;
    /**
     * Pooled connections idle longer than this are closed: under the 5 s keep-alive of common HTTP servers
     * (Node.js), so a request rarely meets a connection the backend is closing.
     */
    static final Duration MAX_IDLE = Duration.ofSeconds(4);
    /** Room for the envelope ({@code {"allow":true,"data":...}}) around a replacement of up to a frame. */
    static final int ENVELOPE_BYTES = 16 * 1024;

    static final List<String> OUTCOMES = List.of("allowed", "refused", "failed", "timeout", "held_off", "busy");

    private final String base;
    private final String where;
    private final Duration timeout;
    private final int maxBody;
    private final HttpClient http;
    private final ConnectionProvider pool;
    private final CircuitBreaker breaker;
    private final Bulkhead inFlight;
    private final DependencyProbe probe;
    private final Map<String, Counter> calls = new HashMap<>();
    private final Map<String, Timer> latency = new HashMap<>();
    private volatile String lastFailure;
    private volatile boolean lastFailed;
    private volatile long lastLatencyMs = -1;

    /**
     * @param loops where the calls run: the gateway's I/O loops (nothing here blocks)
     * @param maxFrame the largest frame: an answer's body may be up to this plus {@link #ENVELOPE_BYTES}
     */
    HookClient(HookConfig config, EventLoopGroup loops, int maxFrame, MeterRegistry meters) {
        this.base = config.url().toString();
        this.where = where(config.url());
        this.timeout = Duration.ofMillis(config.timeoutMs());
        this.maxBody = maxFrame + ENVELOPE_BYTES;
        this.pool = ConnectionProvider.builder("switchboard-hooks")
                .maxConnections(config.maxInFlight())
                .pendingAcquireMaxCount(config.maxInFlight())
                .pendingAcquireTimeout(timeout)
                .maxIdleTime(MAX_IDLE)
                .evictInBackground(MAX_IDLE)
                .build();
        String key = config.key();
        this.http = HttpClient.create(pool)
                .runOn(loops)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, config.timeoutMs()))
                // a request is written in more than one segment (headers, body): without this, Nagle's algorithm
                // holds the body until the backend acknowledges the headers, which a delayed ACK makes 40 ms
                .option(ChannelOption.TCP_NODELAY, true)
                .headers(h -> {
                    h.set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
                    h.set(HttpHeaderNames.ACCEPT, HttpHeaderValues.APPLICATION_JSON);
                    h.set(HttpHeaderNames.USER_AGENT, "switchboard-gateway");
                    if (key != null) {
                        h.set(HttpHeaderNames.AUTHORIZATION, "Bearer " + key);
                    }
                });
        CircuitBreakerRegistry breakers = CircuitBreakerRegistry.of(CircuitBreakerConfig.custom()
                .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                .slidingWindowSize(BREAKER_WINDOW)
                .minimumNumberOfCalls(BREAKER_MIN_CALLS)
                .failureRateThreshold(BREAKER_FAILURE_RATE)
                .waitDurationInOpenState(BREAKER_OPEN)
                .permittedNumberOfCallsInHalfOpenState(BREAKER_TRIAL_CALLS)
                .build());
        this.breaker = breakers.circuitBreaker("hooks");
        TaggedCircuitBreakerMetrics.ofCircuitBreakerRegistry(breakers).bindTo(meters);
        this.inFlight = Bulkhead.of(
                "hooks",
                BulkheadConfig.custom()
                        .maxConcurrentCalls(config.maxInFlight())
                        .maxWaitDuration(Duration.ZERO)
                        .build());
        Gauge.builder(
                        "switchboard.hooks.in.flight",
                        inFlight,
                        b -> b.getBulkheadConfig().getMaxConcurrentCalls()
                                - b.getMetrics().getAvailableConcurrentCalls())
                .description("Hook requests in flight, at most SWITCHBOARD_HOOK_MAX_IN_FLIGHT")
                .register(meters);
        for (String hook : HookConfig.HOOK_NAMES) {
            for (String outcome : OUTCOMES) {
                calls.put(
                        hook + " " + outcome,
                        Counter.builder("switchboard.hooks.calls")
                                .tag("hook", hook)
                                .tag("outcome", outcome)
                                .description("Proxy hook calls, by hook and outcome")
                                .register(meters));
            }
            latency.put(
                    hook,
                    Timer.builder("switchboard.hooks.latency")
                            .tag("hook", hook)
                            .description("How long the backend took to answer a hook, answers that arrived")
                            .publishPercentiles(0.5, 0.99)
                            .distributionStatisticExpiry(Duration.ofMinutes(1))
                            .register(meters));
        }
        this.probe = DependencyProbe.builder(log, new DependencyProbe.Lines() {
                    @Override
                    public String up(DependencyHealth now, boolean first, Duration downFor) {
                        return downFor == null
                                ? null
                                : "Backend hooks at " + where + " are back after " + downFor.toMillis() + " ms down";
                    }

                    @Override
                    public String down(String cause) {
                        return "Backend hooks at " + where + " are down, requests that need them answer"
                                + " unavailable: " + cause;
                    }
                })
                // never started: the breaker's changes of state are reported to it, for its one line per change
                .check(Mono::empty)
                .cause(Throwable::toString)
                .scheduler(Schedulers.parallel())
                .period(BREAKER_OPEN)
                .timeout(timeout)
                .build();
        breaker.getEventPublisher().onStateTransition(e -> {
            switch (e.getStateTransition().getToState()) {
                case OPEN, FORCED_OPEN -> probe.report(new DependencyHealth(false, -1, String.valueOf(lastFailure)));
                case CLOSED -> probe.report(new DependencyHealth(true, lastLatencyMs, null));
                default -> {
                    // half open: trying again, neither down nor back yet
                }
            }
        });
    }

    /** The backend as logs may name it: scheme, host and port, nothing that could hold a secret. */
    static String where(URI url) {
        return url.getScheme() + "://" + url.getHost() + (url.getPort() < 0 ? "" : ":" + url.getPort());
    }

    /**
     * POSTs {@code body} to hook {@code hook}; emits the answer, a JSON object that has what the hook must answer
     * ({@code allow}, or for {@code rpc} {@code result} or {@code error}), or fails with
     * {@link HookUnavailableException}. May complete on a loop of the client's: the caller brings it home.
     */
    Mono<ObjectNode> call(String hook, ObjectNode body) {
        byte[] json = body.toString().getBytes(StandardCharsets.UTF_8);
        Timer timer = latency.get(hook);
        return Mono.defer(() -> {
                    long start = System.nanoTime();
                    return http.post()
                            .uri(base + "/" + hook)
                            .send(Mono.fromSupplier(() -> Unpooled.wrappedBuffer(json)))
                            .response((res, content) -> {
                                int status = res.status().code();
                                if (status < 200 || status > 299) {
                                    return Mono.error(failed("answered HTTP " + status + " to " + hook));
                                }
                                long length =
                                        contentLength(res.responseHeaders().get(HttpHeaderNames.CONTENT_LENGTH));
                                if (length > maxBody) {
                                    return Mono.error(failed("answered " + hook + " with " + length
                                            + " bytes, more than the " + maxBody + " allowed"));
                                }
                                return content.reduceWith(ByteArrayOutputStream::new, (acc, buf) -> {
                                    if (acc.size() + buf.readableBytes() > maxBody) {
                                        throw failed("answered " + hook + " with more than the " + maxBody
                                                + " bytes allowed");
                                    }
                                    acc.writeBytes(bytes(buf));
                                    return acc;
                                });
                            })
                            .singleOrEmpty()
                            .switchIfEmpty(Mono.error(() -> failed("closed the connection before answering " + hook)))
                            .map(acc -> read(hook, acc.toByteArray()))
                            .doOnNext(answer -> {
                                long nanos = System.nanoTime() - start;
                                timer.record(nanos, TimeUnit.NANOSECONDS);
                                lastLatencyMs = TimeUnit.NANOSECONDS.toMillis(nanos);
                                lastFailed = false;
                            })
                            .timeout(
                                    timeout,
                                    Mono.error(() -> new HookUnavailableException(
                                            "timeout",
                                            "the backend at " + where + " did not answer " + hook + " within "
                                                    + timeout.toMillis() + " ms",
                                            null)))
                            .onErrorMap(
                                    e -> !(e instanceof HookUnavailableException),
                                    e -> new HookUnavailableException(
                                            "failed",
                                            "the backend at " + where + " cannot be reached for " + hook + ": "
                                                    + rootCause(e),
                                            e))
                            // before the breaker sees the failure, so that its line down names this cause
                            .doOnError(e -> {
                                lastFailure = e.getMessage();
                                lastFailed = true;
                            });
                })
                .transformDeferred(CircuitBreakerOperator.of(breaker))
                .transformDeferred(BulkheadOperator.of(inFlight))
                .onErrorMap(
                        CallNotPermittedException.class,
                        e -> new HookUnavailableException(
                                "held_off",
                                "the backend at " + where + " is failing, hook calls are held off for a moment: "
                                        + lastFailure,
                                null))
                .onErrorMap(
                        BulkheadFullException.class,
                        e -> new HookUnavailableException(
                                "busy",
                                inFlight.getBulkheadConfig().getMaxConcurrentCalls()
                                        + " hook requests are in flight on this instance already"
                                        + " (SWITCHBOARD_HOOK_MAX_IN_FLIGHT)",
                                null))
                .doOnNext(answer -> count(hook, refused(hook, answer) ? "refused" : "allowed"))
                .doOnError(e -> count(hook, e instanceof HookUnavailableException h ? h.outcome() : "failed"));
    }

    private void count(String hook, String outcome) {
        Counter c = calls.get(hook + " " + outcome);
        if (c != null) {
            c.increment();
        }
    }

    /** Whether an answer refuses: {@code allow} false, or an rpc's {@code error}. */
    static boolean refused(String hook, ObjectNode answer) {
        return HookConfig.RPC.equals(hook)
                ? answer.has("error")
                : !answer.path("allow").asBoolean();
    }

    /**
     * The answer as a JSON object with what {@code hook} must answer; anything else is an outage of the backend
     * (it answers, but nothing the gateway can act on).
     */
    private ObjectNode read(String hook, byte[] body) {
        JsonNode node;
        try {
            node = FrameCodec.mapper().readTree(body);
        } catch (IOException e) {
            throw failed("answered " + hook + " with a body that is not JSON");
        }
        if (!(node instanceof ObjectNode answer)) {
            throw failed("answered " + hook + " with something other than a JSON object");
        }
        if (HookConfig.RPC.equals(hook)) {
            if (answer.has("result") == answer.get("error") instanceof ObjectNode) {
                throw failed("answered rpc with neither {\"result\":...} nor {\"error\":{\"code\",\"message\"}}");
            }
        } else if (!answer.path("allow").isBoolean()) {
            throw failed("answered " + hook + " without \"allow\": true or false");
        }
        return answer;
    }

    private static long contentLength(String header) {
        if (header == null) {
            return -1;
        }
        try {
            return Long.parseLong(header.trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** The innermost cause in one short line: its class and message. */
    private static String rootCause(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        String m = t.getMessage();
        if (m != null && m.length() > 200) {
            m = m.substring(0, 200) + "...";
        }
        return t.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    private static byte[] bytes(ByteBuf buf) {
        byte[] b = new byte[buf.readableBytes()];
        buf.getBytes(buf.readerIndex(), b);
        return b;
    }

    @Override
    public String name() {
        return "hooks";
    }

    /** Hooks down make the instance DEGRADED, not unready: what needs no hook goes on. */
    @Override
    public boolean requiredForReadiness() {
        return false;
    }

    @Override
    public Mono<DependencyHealth> check() {
        CircuitBreaker.State state = breaker.getState();
        if (state != CircuitBreaker.State.CLOSED && state != CircuitBreaker.State.DISABLED) {
            return Mono.just(new DependencyHealth(
                    false,
                    -1,
                    "hook calls are held off" + (state == CircuitBreaker.State.HALF_OPEN ? " but for a few trials" : "")
                            + ": " + lastFailure));
        }
        if (lastFailed) {
            return Mono.just(
                    new DependencyHealth(true, lastLatencyMs, "the last hook call failed: " + lastFailure, true));
        }
        return Mono.just(new DependencyHealth(true, lastLatencyMs, null));
    }

    private HookUnavailableException failed(String what) {
        return new HookUnavailableException("failed", "the backend at " + where + " " + what, null);
    }

    @Override
    public void close() {
        probe.dispose();
        pool.disposeLater().block(Duration.ofSeconds(5));
    }
}
