package io.switchboard.gateway.cluster;

import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.switchboard.gateway.health.spi.DependencyHealth;
import io.switchboard.gateway.health.spi.DependencyProbe;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * Redis's state for {@code /health} and the log, kept by the shared {@link DependencyProbe}: what the probe, the
 * connecting and following a failover find, logged once per cause in lines that say where Redis is. Its own check
 * is a single server's (or Sentinel's master's) {@code ROLE}; a cluster's is {@link ClusterTopology}'s.
 *
 * <p>The probe runs on the Redis scheduler's one thread, and each command in it is bounded by the command timeout.
 */
final class RedisHealth {
    // logs as RedisConnections: one logger for Redis's state
    private static final Logger log = LoggerFactory.getLogger(RedisConnections.class);

    private final DependencyProbe probe;
    private final Duration timeout;
    private final Function<Throwable, String> describe;

    /**
     * @param where Redis as a log line names it ({@link RedisConnections#where()})
     * @param check one probe, on the scheduler's thread; it reports what it finds
     * @param onUp runs each time Redis answers: at first and after every outage
     */
    RedisHealth(
            Supplier<String> where,
            Runnable check,
            Function<Throwable, String> describe,
            Scheduler scheduler,
            Duration period,
            Duration timeout,
            Duration vagueWait,
            Runnable onUp) {
        this.timeout = timeout;
        this.describe = describe;
        this.probe = DependencyProbe.builder(log, new DependencyProbe.Lines() {
                    @Override
                    public String up(DependencyHealth now, boolean first, Duration downFor) {
                        return "Redis " + where.get() + " is " + (first ? "up" : "back");
                    }

                    @Override
                    public String down(String cause) {
                        return "Redis " + where.get() + " is down: " + cause;
                    }
                })
                .initialCause("connecting")
                .check(() -> Mono.fromRunnable(check))
                .cause(describe)
                .scheduler(scheduler)
                .firstAfter(period)
                .period(period)
                // the check blocks the scheduler's thread, bounded command by command: this is only a backstop
                .timeout(timeout.multipliedBy(3))
                .logEachCause()
                // A lost connection is first only "reconnecting": its line waits for the reconnect attempts to say
                // why (refused, DNS, TLS).
                .vagueCauses(why -> why.endsWith(RedisCauses.RECONNECTING), vagueWait)
                .onUp(onUp)
                .build();
    }

    /** Starts probing every period (once connected). */
    void start() {
        probe.start();
    }

    DependencyHealth now() {
        return probe.health();
    }

    long probes() {
        return probe.probes();
    }

    void up(long latencyMs) {
        probe.report(new DependencyHealth(true, latencyMs, null));
    }

    void down(String why) {
        probe.report(new DependencyHealth(false, -1, why));
    }

    /** What a probe found; null reports nothing. */
    void report(DependencyHealth found) {
        if (found != null) {
            probe.report(found);
        }
    }

    /**
     * Asks a single server (or Sentinel's master) its {@code ROLE} and reports what it found: up when it is the
     * master and the pub/sub connection is open. Whether it answered ROLE, so that the sentinels are asked too.
     *
     * @param sentinel whether the master is found through Sentinel, for what the line says to do
     */
    boolean checkRole(RedisClusterAsyncCommands<String, String> c, BooleanSupplier pubsubOpen, boolean sentinel) {
        long start = System.nanoTime();
        try {
            List<Object> role = c.role().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            String is = role.isEmpty() ? "" : String.valueOf(role.get(0));
            boolean open = pubsubOpen.getAsBoolean();
            if (!is.equals("master")) {
                down("it answers as a " + is + ", not as the master: writes there would be lost"
                        + (sentinel
                                ? "; moving to the master the sentinels name"
                                : "; point REDIS_URL at the master, or use redis-sentinel://"));
                return true;
            } else if (open) {
                up(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
                return true;
            }
            down("the pub/sub connection is closed" + RedisCauses.RECONNECTING);
        } catch (ExecutionException e) {
            down(describe.apply(e.getCause()));
        } catch (TimeoutException e) {
            down("no answer to ROLE within " + timeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return false;
    }

    void dispose() {
        probe.dispose();
    }
}
