package io.switchboard.gateway.cluster;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * Whether a cluster instance has started: it has once its command and pub/sub connections to Redis work, a
 * subscription of the kind inboxes use has been confirmed, and every other start step (the shared resume key)
 * is done; or once {@code SWITCHBOARD_REDIS_START_WAIT_MS} has passed without that, after which it serves
 * degraded. Until then it is not ready, so that a load balancer sends no user to an instance that cannot yet
 * deliver to them. Started is for good: a later outage is the circuit breaker's and the {@code unavailable}
 * answers' business, not readiness's.
 */
public final class RedisStartup implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RedisStartup.class);
    /** How soon a failed start attempt is tried again while Redis looks up. */
    static final Duration RETRY = Duration.ofMillis(250);

    private final RedisConnections redis;
    private final long waitMs;
    private final String probeChannel;
    private final List<Supplier<Mono<Void>>> steps;
    private final Scheduler scheduler;
    private final LongSupplier nanoTime;
    private final long startNanos;
    private final Disposable deadline;
    private volatile boolean started;
    private boolean attempting;
    private String lastFailure;

    /**
     * @param steps what else must have worked once before the instance is ready (each tried again on failure)
     */
    public RedisStartup(
            RedisConnections redis,
            String node,
            long waitMs,
            List<Supplier<Mono<Void>>> steps,
            Scheduler scheduler,
            LongSupplier nanoTime) {
        this.redis = redis;
        this.waitMs = waitMs;
        this.probeChannel = RedisKeys.pubsubChannel("start:" + node);
        this.steps = List.copyOf(steps);
        this.scheduler = scheduler;
        this.nanoTime = nanoTime;
        this.startNanos = nanoTime.getAsLong();
        if (waitMs > 0) {
            log.info(
                    "Not ready until Redis at {} answers and subscriptions work, for at most"
                            + " SWITCHBOARD_REDIS_START_WAIT_MS={} ms",
                    redis.hosts(),
                    waitMs);
        }
        redis.onUp(this::attempt);
        deadline = scheduler.schedule(this::waitRanOut, waitMs, TimeUnit.MILLISECONDS);
        attempt();
    }

    /** Whether the instance has started (and is ready as far as Redis is concerned): for good once it has. */
    public boolean started() {
        return started;
    }

    private void attempt() {
        synchronized (this) {
            if (started || attempting || !redis.isUp()) {
                return;
            }
            attempting = true;
        }
        Mono<Void> all = Mono.fromCompletionStage(() -> redis.subscribe(probeChannel))
                .doOnSuccess(v -> redis.unsubscribe(probeChannel))
                .then(Flux.fromIterable(steps).concatMap(Supplier::get).then());
        all.subscribe(null, this::attemptFailed, this::succeeded);
    }

    private void succeeded() {
        synchronized (this) {
            attempting = false;
            if (started) {
                return;
            }
            started = true;
        }
        deadline.dispose();
        log.info(
                "Ready: Redis at {} answers and subscriptions work ({} ms after start)",
                redis.hosts(),
                TimeUnit.NANOSECONDS.toMillis(nanoTime.getAsLong() - startNanos));
    }

    private void attemptFailed(Throwable e) {
        synchronized (this) {
            attempting = false;
            lastFailure = e.getMessage();
        }
        if (!started) {
            scheduler.schedule(this::attempt, RETRY.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private void waitRanOut() {
        String failure;
        synchronized (this) {
            if (started) {
                return;
            }
            started = true;
            failure = redis.isUp() ? lastFailure : null;
        }
        if (waitMs == 0) {
            return;
        }
        redis.check()
                .subscribe(h -> log.warn(
                        "Ready without Redis at {}: it did not work within"
                                + " SWITCHBOARD_REDIS_START_WAIT_MS={} ms ({}); serving degraded until it does",
                        redis.hosts(),
                        waitMs,
                        failure != null ? failure : h.detail() != null ? h.detail() : "no answer yet"));
    }

    @Override
    public void close() {
        deadline.dispose();
    }
}
