package io.switchboard.gateway.health.spi;

import java.util.Map;

/**
 * What one dependency's check found.
 *
 * @param up whether it answers
 * @param latencyMs how long the check took, or -1 when it did not answer
 * @param detail the cause when down or partly down, in words a person can act on; null when all is well
 * @param partial whether it answers but part of it does not (a Redis Cluster shard without a master)
 * @param figures numbers {@code /health} shows beside the state (a backlog's size, its oldest entry's age), in
 *                order; empty for most dependencies
 */
public record DependencyHealth(boolean up, long latencyMs, String detail, boolean partial, Map<String, Long> figures) {
    public static final String UP = "UP";
    public static final String DEGRADED = "DEGRADED";
    public static final String DOWN = "DOWN";

    public DependencyHealth {
        figures = figures == null
                ? Map.of()
                : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(figures));
    }

    public DependencyHealth(boolean up, long latencyMs, String detail, boolean partial) {
        this(up, latencyMs, detail, partial, Map.of());
    }

    public DependencyHealth(boolean up, long latencyMs, String detail) {
        this(up, latencyMs, detail, false);
    }

    /** {@code UP}, {@code DEGRADED} (answers, but only in part) or {@code DOWN}. */
    public String status() {
        return !up ? DOWN : partial ? DEGRADED : UP;
    }

    /** Whether all of it answers. */
    public boolean whole() {
        return up && !partial;
    }
}
