package io.switchboard.gateway.cluster;

import static io.switchboard.gateway.cluster.RedisCauses.RECONNECTING;

import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.models.partitions.Partitions;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.switchboard.gateway.health.spi.DependencyHealth;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.scheduler.Scheduler;

/**
 * Redis Cluster: the probe of every master that serves slots. It names the masters that do not answer (in
 * {@code /health} and in one log line each), refreshes the topology while any does not or a slot has no master,
 * and has the sharded subscriptions follow their slots.
 *
 * <p>Probe thread only: {@link #probe} and everything it keeps run on the Redis scheduler's one thread.
 */
final class ClusterTopology {
    // logs as RedisConnections: one logger for Redis's state
    private static final Logger log = LoggerFactory.getLogger(RedisConnections.class);
    /** Least time between two topology refreshes asked for while a cluster is not whole. */
    private static final long REFRESH_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(1_000);

    private final RedisClusterClient client;
    private final ClusterShards shards;
    private final Runnable reconcile;
    private final RedisCauses causes;
    private final Duration timeout;
    private final Duration vagueWait;
    private final Scheduler scheduler;

    /** Cluster masters that serve slots but do not answer: address to the line that says so. */
    private Map<String, String> failedMasters = Map.of();

    private Map<String, String> slotsByMaster = Map.of();
    /** Cluster masters failing now: since when, and the line last logged for each. */
    private final Map<String, Long> failingSince = new HashMap<>();

    private final Map<String, String> loggedMasters = new HashMap<>();
    private long lastRefreshNanos;

    /**
     * @param reconcile moves the sharded subscriptions to their slots' masters, if the connection is still open
     * @param vagueWait how long a vague cause waits for a better one before it is logged
     */
    ClusterTopology(
            RedisClusterClient client,
            ClusterShards shards,
            Runnable reconcile,
            RedisCauses causes,
            Duration timeout,
            Duration vagueWait,
            Scheduler scheduler) {
        this.client = client;
        this.shards = shards;
        this.reconcile = reconcile;
        this.causes = causes;
        this.timeout = timeout;
        this.vagueWait = vagueWait;
        this.scheduler = scheduler;
    }

    /**
     * PINGs every master that serves slots, names those that do not answer, refreshes the topology while any does
     * not, and moves sharded subscriptions whose slot has another master now. What it found: down when no master
     * answers, up in part when some do not or slots have none; null when interrupted.
     */
    DependencyHealth probe(StatefulRedisClusterConnection<String, String> conn) {
        Partitions partitions = conn.getPartitions();
        Map<String, String> slots = new LinkedHashMap<>();
        Map<String, CompletableFuture<Long>> pings = new LinkedHashMap<>();
        Map<String, String> failed = new LinkedHashMap<>();
        long start = System.nanoTime();
        for (RedisClusterNode node : partitions) {
            if (!node.is(RedisClusterNode.NodeFlag.UPSTREAM) || node.getSlots().isEmpty()) {
                continue;
            }
            String where = RedisCauses.address(node.getUri());
            slots.put(where, ranges(node.getSlots()));
            pings.put(
                    where,
                    conn.getConnectionAsync(node.getNodeId())
                            .thenCompose(nc -> {
                                if (!nc.isOpen()) {
                                    return CompletableFuture.failedFuture(new NotConnected());
                                }
                                return nc.async().ping();
                            })
                            .thenApply(pong -> System.nanoTime())
                            .toCompletableFuture());
        }
        long slowest = 0;
        for (Map.Entry<String, CompletableFuture<Long>> p : pings.entrySet()) {
            String where = p.getKey();
            try {
                long done = p.getValue()
                        .get(Math.max(1, timeout.toNanos() - (System.nanoTime() - start)), TimeUnit.NANOSECONDS);
                slowest = Math.max(slowest, done - start);
            } catch (ExecutionException e) {
                failed.put(
                        where,
                        e.getCause() instanceof NotConnected
                                ? causes.lastFailure(where, "not connected" + RECONNECTING)
                                : causes.describe(e.getCause(), where));
            } catch (TimeoutException e) {
                failed.put(where, "no answer to PING within " + timeout.toMillis() + " ms");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
        int uncovered = 0;
        for (int slot = 0; slot < SlotHash.SLOT_COUNT; slot++) {
            if (partitions.getMasterBySlot(slot) == null) {
                uncovered++;
            }
        }
        noteMasters(slots, failed);
        if ((!failed.isEmpty() || uncovered > 0 || shards.anyDropped())
                && System.nanoTime() - lastRefreshNanos > REFRESH_INTERVAL_NANOS) {
            lastRefreshNanos = System.nanoTime();
            client.refreshPartitionsAsync().whenComplete((v, e) -> scheduler.schedule(reconcile));
        }
        reconcile.run();
        if (failed.size() == pings.size() && !pings.isEmpty()) {
            return new DependencyHealth(false, -1, String.join("; ", failed.values()));
        }
        String partial = failed.isEmpty() && uncovered == 0
                ? null
                : String.join("; ", failedMasters.values())
                        + (uncovered > 0 ? (failed.isEmpty() ? "" : "; ") + uncovered + " slots have no master" : "");
        return new DependencyHealth(true, TimeUnit.NANOSECONDS.toMillis(slowest), partial, partial != null);
    }

    /** Logs each master that stops answering, comes back, or starts serving other slots, once. */
    private void noteMasters(Map<String, String> slots, Map<String, String> failed) {
        Map<String, String> before = failedMasters;
        Map<String, String> now = new HashMap<>();
        long nanos = System.nanoTime();
        Set<String> wasLogged = Set.copyOf(loggedMasters.keySet());
        failingSince.keySet().retainAll(failed.keySet());
        failed.forEach((where, why) -> {
            String line = "Redis master " + where + " (slots " + slots.get(where) + ") is down: " + why;
            now.put(where, line);
            long since = failingSince.computeIfAbsent(where, w -> nanos);
            // A vague cause waits for the reconnect attempts to say why, as it does for Redis as a whole.
            boolean vague = why.endsWith(RECONNECTING) && nanos - since < vagueWait.toNanos();
            if (!line.equals(before.get(where)) && !vague && !line.equals(loggedMasters.get(where))) {
                log.warn(line);
                loggedMasters.put(where, line);
            }
        });
        loggedMasters.keySet().retainAll(failed.keySet());
        before.forEach((where, line) -> {
            if (!now.containsKey(where) && wasLogged.contains(where)) {
                log.info(
                        slots.containsKey(where)
                                ? "Redis master {} (slots {}) is back"
                                : "Redis node {} no longer serves slots",
                        where,
                        slots.get(where));
            }
        });
        slots.forEach((where, ranges) -> {
            if (!slotsByMaster.isEmpty() && !ranges.equals(slotsByMaster.get(where))) {
                log.info("Redis master {} serves slots {} now", where, ranges);
            }
        });
        slotsByMaster = slots;
        failedMasters = Map.copyOf(now);
    }

    /** {@code [0, 1, 2, 5]} as {@code 0-2,5}. */
    static String ranges(List<Integer> slots) {
        List<Integer> sorted = new ArrayList<>(slots);
        sorted.sort(null);
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < sorted.size(); ) {
            int first = sorted.get(i);
            int last = first;
            while (i + 1 < sorted.size() && sorted.get(i + 1) == last + 1) {
                last = sorted.get(++i);
            }
            i++;
            if (out.length() > 0) {
                out.append(',');
            }
            out.append(first);
            if (last != first) {
                out.append('-').append(last);
            }
        }
        return out.toString();
    }

    /** A node connection that is not open: its last reconnect failure says why. */
    private static final class NotConnected extends RuntimeException {
        NotConnected() {
            super("not connected", null, false, false);
        }
    }
}
