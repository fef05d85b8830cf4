package io.switchboard.gateway.cluster;

import io.lettuce.core.Range;
import io.lettuce.core.ScoredValue;
import io.lettuce.core.SetArgs;
import io.switchboard.gateway.auth.ResumeTokens;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * The resume secret the instances of a cluster share through Redis when none is configured (neither
 * {@code SWITCHBOARD_RESUME_SECRET} nor {@code SWITCHBOARD_JWT_SECRET}), so that guests resume on any instance.
 *
 * <p>The secret is {@value #KEY}. Each instance starts signing with a random key of its own and, whenever Redis
 * answers (when it comes up, every {@link #SYNC_PERIOD}, and when a token that looks like ours does not verify),
 * offers it with {@code SET NX} and then signs with whatever the key holds. The key it signed with before keeps
 * verifying for {@link ResumeTokens#MAX_AGE}, and is added to {@value #RETIRED} (a sorted set scored by that
 * deadline) so that the other instances verify it too: a token handed out while Redis could not be asked still
 * resumes everywhere once it can.
 *
 * <p>When the key is missing, the instance tells a data loss from a deliberate deletion by {@value #LIFE}, a
 * random name each Redis life gets from the first instance that sees it: after Redis came back empty (a new
 * life) the instance offers the key it signs with, so that outstanding tokens keep resuming; when the key alone
 * was deleted (the same life) it offers a new random one, and every instance that knew the old key stops
 * accepting it and the retired ones: that is a rotation. A value set from outside (at least 32 bytes) is
 * a rotation too.
 */
public final class RedisResumeSecret implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RedisResumeSecret.class);
    static final String KEY = RedisKeys.PREFIX + "resume-secret";
    static final String RETIRED = RedisKeys.PREFIX + "resume-secret:retired";
    static final String LIFE = RedisKeys.PREFIX + "life";
    /** How often the shared key is read again, to follow a rotation or a data loss. */
    public static final Duration SYNC_PERIOD = Duration.ofSeconds(10);
    /** A token that does not verify asks Redis again at most this often. */
    static final Duration LEARN_AT_MOST_EVERY = Duration.ofSeconds(1);
    /** Retired keys kept in Redis, at most (the newest). */
    static final int MAX_RETIRED = 64;

    private final RedisConnections redis;
    private final ResumeTokens tokens;
    private final Clock clock;
    private final Disposable periodic;
    /** The shared key this instance last read from Redis, or null before it did. */
    private String known;

    private String life;
    private volatile boolean synced;
    private volatile Instant lastSync = Instant.MIN;
    private Mono<Void> inFlight;

    public RedisResumeSecret(RedisConnections redis, ResumeTokens tokens, Clock clock, Scheduler scheduler) {
        if (tokens.fixed()) {
            throw new IllegalArgumentException("a configured resume secret is not shared through Redis");
        }
        this.redis = redis;
        this.tokens = tokens;
        this.clock = clock;
        tokens.learnFrom(this::learn);
        redis.onUp(() -> sync().subscribe(v -> {}, e -> {}));
        periodic = Flux.interval(SYNC_PERIOD, SYNC_PERIOD, scheduler)
                .onBackpressureDrop()
                .concatMap(t -> sync().onErrorResume(e -> Mono.empty()), 1)
                .subscribe();
    }

    /** Whether this instance has read the cluster's key at least once: its tokens resume everywhere. */
    public boolean synced() {
        return synced;
    }

    /**
     * Reads the cluster's key (offering this instance's when there is none) and the retired keys; one at a
     * time, a call during another shares its outcome.
     */
    public synchronized Mono<Void> sync() {
        if (inFlight == null) {
            inFlight = runSync()
                    .doFinally(s -> {
                        synchronized (this) {
                            inFlight = null;
                        }
                    })
                    .cache();
        }
        return inFlight;
    }

    /**
     * For a token no known key verifies: nothing new when Redis was read less than a second ago; otherwise
     * reads it again. Fails only when this instance never learned the cluster's key and cannot now.
     */
    Mono<Void> learn() {
        if (clock.instant().isBefore(lastSync.plus(LEARN_AT_MOST_EVERY))) {
            return Mono.empty();
        }
        return sync().onErrorResume(e -> synced
                ? Mono.empty()
                : Mono.error(new RedisUnavailableException(
                        "this instance has not yet learned the cluster's resume" + " key from Redis at " + redis.hosts()
                                + ": " + e.getMessage(),
                        e)));
    }

    private Mono<Void> runSync() {
        String candidate = RandomName.next();
        return redis.execute(LIFE, c -> c.set(LIFE, candidate, SetArgs.Builder.nx()))
                .then(redis.execute(LIFE, c -> c.get(LIFE)))
                .flatMap(currentLife -> {
                    boolean lost;
                    synchronized (this) {
                        lost = life != null && !life.equals(currentLife);
                        life = currentLife;
                    }
                    return redis.execute(KEY, c -> c.get(KEY))
                            .switchIfEmpty(Mono.defer(() -> offer(lost)))
                            .flatMap(shared -> adopt(shared, lost));
                })
                .flatMap(rotated ->
                        rotated ? redis.execute(RETIRED, c -> c.del(RETIRED)).then() : readRetired())
                .doOnSuccess(v -> {
                    lastSync = clock.instant();
                    synced = true;
                });
    }

    /** The key is missing: offers this instance's after a data loss (or at first), a new one after a deletion. */
    private Mono<String> offer(boolean lost) {
        String offered;
        synchronized (this) {
            offered = known != null && !lost ? ResumeTokens.randomSecret() : tokens.signingSecret();
        }
        return redis.execute(KEY, c -> c.set(KEY, offered, SetArgs.Builder.nx()))
                .then(redis.execute(KEY, c -> c.get(KEY)));
    }

    /** Signs with the cluster's key from now on; emits whether that was a rotation. */
    private Mono<Boolean> adopt(String shared, boolean lost) {
        if (shared.getBytes(StandardCharsets.UTF_8).length < ResumeTokens.MIN_SECRET_BYTES) {
            synchronized (this) {
                if (!shared.equals(known)) {
                    known = shared;
                    log.warn(
                            "The resume secret in Redis ({}) is shorter than {} bytes and is not used; tokens stay"
                                    + " signed with this instance's key; delete the key to have a new one made",
                            KEY,
                            ResumeTokens.MIN_SECRET_BYTES);
                }
            }
            return Mono.just(false);
        }
        String mine = tokens.signingSecret();
        synchronized (this) {
            boolean first = known == null;
            boolean rotated = !first && !lost && !known.equals(shared);
            known = shared;
            if (shared.equals(mine)) {
                if (first) {
                    log.info("Resume tokens are signed with the cluster's shared key ({} in Redis)", KEY);
                }
                return Mono.just(false);
            }
            tokens.signWith(shared, !rotated);
            if (rotated) {
                log.info("The shared resume key in Redis ({}) was rotated: tokens signed before no longer resume", KEY);
                return Mono.just(true);
            }
            log.info(
                    "Resume tokens are now signed with the cluster's shared key ({} in Redis); those signed with"
                            + " this instance's earlier key keep resuming on every instance",
                    KEY);
        }
        double until = clock.instant().plus(ResumeTokens.MAX_AGE).toEpochMilli();
        return redis.execute(RETIRED, c -> c.zadd(RETIRED, until, mine))
                .then(redis.execute(RETIRED, c -> c.zremrangebyrank(RETIRED, 0, -MAX_RETIRED - 1)))
                .thenReturn(false);
    }

    private Mono<Void> readRetired() {
        long now = clock.millis();
        return redis.execute(
                        RETIRED, c -> c.zremrangebyscore(RETIRED, Range.create(Double.NEGATIVE_INFINITY, (double) now)))
                .then(redis.execute(
                        RETIRED,
                        c -> c.zrangebyscoreWithScores(RETIRED, Range.create((double) now, Double.POSITIVE_INFINITY))))
                .doOnNext(this::acceptAll)
                .then();
    }

    private void acceptAll(List<ScoredValue<String>> retired) {
        for (ScoredValue<String> k : retired) {
            if (k.getValue().getBytes(StandardCharsets.UTF_8).length >= ResumeTokens.MIN_SECRET_BYTES) {
                tokens.accept(k.getValue(), Instant.ofEpochMilli((long) k.getScore()));
            }
        }
    }

    @Override
    public void close() {
        periodic.dispose();
    }

    /** Names for Redis lives. */
    private static final class RandomName {
        private static final SecureRandom RANDOM = new SecureRandom();

        static String next() {
            return Long.toUnsignedString(RANDOM.nextLong(), 36);
        }
    }
}
