package io.switchboard.gateway.health;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.switchboard.gateway.health.spi.DependencyCheck;
import io.switchboard.gateway.health.spi.DependencyHealth;
import io.switchboard.gateway.metrics.GatewayMetrics;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.IntSupplier;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The instance's health as the load balancer and the operator see it: live while the process serves, ready
 * while it accepts connections (not draining, no required dependency down), and a JSON report with each
 * dependency's state and latency and the connection counts.
 */
public final class HealthService {
    public static final String UP = DependencyHealth.UP;
    public static final String DEGRADED = DependencyHealth.DEGRADED;
    public static final String DOWN = DependencyHealth.DOWN;

    private final String node;
    private final String mode;
    private final List<DependencyCheck> checks;
    private final GatewayMetrics metrics;
    private final IntSupplier sessions;
    private volatile boolean draining;

    public HealthService(
            String node, String mode, List<DependencyCheck> checks, GatewayMetrics metrics, IntSupplier sessions) {
        this.node = node;
        this.mode = mode;
        this.checks = List.copyOf(checks);
        this.metrics = metrics;
        this.sessions = sessions;
    }

    /** From now on the instance is leaving: not ready, and {@code DOWN}. */
    public void startDraining() {
        draining = true;
    }

    public boolean draining() {
        return draining;
    }

    private volatile BooleanSupplier started = () -> true;

    /** Not ready before {@code started} says so (the cluster mode's start on Redis); it must stay true then. */
    public void readyOnceStarted(BooleanSupplier started) {
        this.started = started;
    }

    /** Whether the instance is still starting: not ready, though not draining. */
    public boolean starting() {
        return !started.getAsBoolean();
    }

    /** Whether the instance should get new connections. */
    public Mono<Boolean> ready() {
        if (draining || starting()) {
            return Mono.just(false);
        }
        return Flux.fromIterable(checks)
                .filter(DependencyCheck::requiredForReadiness)
                .flatMap(DependencyCheck::check)
                .all(DependencyHealth::up);
    }

    /** The {@code GET /health} document. */
    public Mono<ObjectNode> report() {
        return Flux.fromIterable(checks)
                .flatMapSequential(c -> c.check().map(h -> new Object[] {c, h}))
                .collectList()
                .map(results -> {
                    JsonNodeFactory f = JsonNodeFactory.instance;
                    ObjectNode deps = f.objectNode();
                    boolean allUp = true;
                    for (Object[] r : results) {
                        DependencyCheck c = (DependencyCheck) r[0];
                        DependencyHealth h = (DependencyHealth) r[1];
                        allUp &= h.whole();
                        ObjectNode d = deps.putObject(c.name());
                        d.put("status", h.status());
                        d.put("latencyMs", h.latencyMs());
                        if (h.detail() != null) {
                            d.put("detail", h.detail());
                        }
                        h.figures().forEach(d::put);
                    }
                    ObjectNode root = f.objectNode();
                    root.put("status", draining ? DOWN : allUp ? UP : DEGRADED);
                    root.put("node", node);
                    root.put("mode", mode);
                    root.put("draining", draining);
                    root.set("dependencies", deps);
                    ObjectNode conns = root.putObject("connections");
                    conns.put("open", metrics.liveConnections());
                    conns.put("sessions", sessions.getAsInt());
                    return root;
                });
    }
}
