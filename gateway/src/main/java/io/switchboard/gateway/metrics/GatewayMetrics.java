package io.switchboard.gateway.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Every meter the gateway keeps. Tag values come from fixed sets (frame types, error and close codes), so the
 * number of series is bounded whatever clients send; counters are created once, never looked up per frame.
 */
public final class GatewayMetrics implements AutoCloseable {
    private static final List<String> CLIENT_TYPES = List.of(
            ClientFrame.Hello.TYPE,
            ClientFrame.Pong.TYPE,
            ClientFrame.Subscribe.TYPE,
            ClientFrame.Unsubscribe.TYPE,
            ClientFrame.Publish.TYPE,
            ClientFrame.Send.TYPE,
            ClientFrame.MatchJoin.TYPE,
            ClientFrame.MatchSignal.TYPE,
            ClientFrame.MatchNext.TYPE,
            ClientFrame.MatchLeave.TYPE,
            ClientFrame.Block.TYPE,
            ClientFrame.Rpc.TYPE,
            "invalid");
    private static final List<String> SERVER_TYPES = List.of(
            ServerFrame.Welcome.TYPE,
            ServerFrame.Ping.TYPE,
            ServerFrame.Ack.TYPE,
            ServerFrame.Error.TYPE,
            ServerFrame.Message.TYPE,
            ServerFrame.Direct.TYPE,
            ServerFrame.MatchFound.TYPE,
            ServerFrame.MatchSignal.TYPE,
            ServerFrame.MatchEnded.TYPE,
            ServerFrame.MatchPartner.TYPE,
            ServerFrame.Subscribed.TYPE);
    private static final int[] CLOSE_CODES = {
        CloseCodes.NORMAL,
        CloseCodes.GOING_AWAY,
        CloseCodes.WEBSOCKET_PROTOCOL_ERROR,
        CloseCodes.BINARY_FRAME,
        CloseCodes.ABNORMAL,
        CloseCodes.INVALID_UTF8,
        CloseCodes.POLICY_VIOLATION,
        CloseCodes.FRAME_TOO_BIG,
        CloseCodes.INTERNAL_ERROR,
        CloseCodes.SERVICE_RESTART,
        CloseCodes.TRY_AGAIN_LATER,
        CloseCodes.PROTOCOL_ERROR,
        CloseCodes.UNAUTHORIZED,
        CloseCodes.SESSION_REPLACED,
        CloseCodes.HEARTBEAT_TIMEOUT,
        CloseCodes.SLOW_CONSUMER,
        CloseCodes.HELLO_TIMEOUT
    };
    /**
     * Why a connection was refused or closed before a WebSocket upgrade: the {@code reason} tag of
     * {@code switchboard.edge.refused}.
     */
    public static final List<String> EDGE_REFUSALS = List.of(
            "header_timeout",
            "max_connections",
            "address_connections",
            "connect_rate",
            "origin",
            "invalid_upgrade",
            "bad_request");

    private final PrometheusMeterRegistry registry;
    private final AtomicInteger live = new AtomicInteger();
    private final Counter opened;
    private final Map<Integer, Counter> closed = new HashMap<>();
    private final Counter closedOther;
    private final Map<String, Counter> framesIn = new HashMap<>();
    private final Map<String, Counter> framesOut = new HashMap<>();
    private final Map<String, Counter> errors = new HashMap<>();
    private final Counter slowConsumerCloses;
    private final Map<String, Counter> edgeRefused = new HashMap<>();
    private final Timer publishToWrite;
    private final JvmGcMetrics gcMetrics = new JvmGcMetrics();

    public GatewayMetrics() {
        registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        gcMetrics.bindTo(registry);
        Gauge.builder("switchboard.connections", live, AtomicInteger::get)
                .description("Open WebSocket connections")
                .register(registry);
        opened = Counter.builder("switchboard.connections.opened")
                .description("WebSocket connections accepted")
                .register(registry);
        for (int code : CLOSE_CODES) {
            closed.put(code, closedCounter(String.valueOf(code)));
        }
        closedOther = closedCounter("other");
        for (String t : CLIENT_TYPES) {
            framesIn.put(
                    t,
                    Counter.builder("switchboard.frames.in")
                            .tag("type", t)
                            .description("Frames received from clients, by type")
                            .register(registry));
        }
        for (String t : SERVER_TYPES) {
            framesOut.put(
                    t,
                    Counter.builder("switchboard.frames.out")
                            .tag("type", t)
                            .description("Frames sent to clients, by type")
                            .register(registry));
        }
        for (String c : ErrorCodes.ALL) {
            errors.put(
                    c,
                    Counter.builder("switchboard.errors")
                            .tag("code", c)
                            .description("Error frames sent, by code")
                            .register(registry));
        }
        slowConsumerCloses = Counter.builder("switchboard.slow.consumer.closes")
                .description("Connections closed with 4004 because their outbound buffer was full")
                .register(registry);
        for (String r : EDGE_REFUSALS) {
            edgeRefused.put(
                    r,
                    Counter.builder("switchboard.edge.refused")
                            .tag("reason", r)
                            .description("Connections refused or closed before a WebSocket upgrade, by reason")
                            .register(registry));
        }
        publishToWrite = Timer.builder("switchboard.publish.to.write")
                .description("From a publish arriving to its frame being queued on every local subscriber's socket")
                .publishPercentiles(0.5, 0.99, 0.999)
                .distributionStatisticExpiry(Duration.ofMinutes(1))
                .register(registry);
    }

    private Counter closedCounter(String code) {
        return Counter.builder("switchboard.connections.closed")
                .tag("code", code)
                .description("WebSocket connections closed, by close code")
                .register(registry);
    }

    /** Registers gauges read from the gateway's state. */
    public void gauge(String name, String description, Supplier<Number> value) {
        Gauge.builder(name, value).description(description).register(registry);
    }

    public MeterRegistry registry() {
        return registry;
    }

    public String scrape() {
        return registry.scrape();
    }

    public void connectionOpened() {
        opened.increment();
        live.incrementAndGet();
    }

    public void connectionClosed(int code) {
        live.decrementAndGet();
        closed.getOrDefault(code, closedOther).increment();
    }

    public int liveConnections() {
        return live.get();
    }

    public void frameIn(String type) {
        Counter c = framesIn.get(type);
        if (c != null) {
            c.increment();
        }
    }

    public void framesOut(String type, int count) {
        Counter c = framesOut.get(type);
        if (c != null && count > 0) {
            c.increment(count);
        }
    }

    public void error(String code) {
        Counter c = errors.get(code);
        if (c != null) {
            c.increment();
        }
    }

    public void slowConsumerClosed() {
        slowConsumerCloses.increment();
    }

    /** A connection refused or closed before its upgrade, for one of {@link #EDGE_REFUSALS}. */
    public void edgeRefused(String reason) {
        Counter c = edgeRefused.get(reason);
        if (c != null) {
            c.increment();
        }
    }

    public void publishToWrite(long publishedNanos, long nowNanos) {
        publishToWrite.record(nowNanos - publishedNanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void close() {
        gcMetrics.close();
        registry.close();
    }
}
