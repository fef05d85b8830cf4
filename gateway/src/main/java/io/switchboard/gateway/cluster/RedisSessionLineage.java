package io.switchboard.gateway.cluster;

import io.lettuce.core.SetArgs;
import io.switchboard.gateway.events.SessionLineage;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * The cluster mode's session lineage, and what a dead instance leaves to the others. Each connection that
 * announces or continues a session has a record {@code sb:{u:<user>}:e:<connection>} (in its user's slot, beside
 * its owner record): its origin, then {@code >successor} once a newer connection resumed it, or {@code !} once its
 * session ended. A script reads and changes one or two records of a user at once, so that a resume and an end of
 * the same connection are decided once, on any instance.
 *
 * <p>Each instance writes its connections as an <em>incarnation</em> ({@code node#random}) into an index
 * {@code sb:en:{incarnation}} (connection → {@code user origin}) under a lease in {@code sb:{events}:nodes}, renewed
 * every second on Redis's clock. A connection leaves the index once its end was told. When a lease has been over
 * for the resume grace (its users had the grace to resume elsewhere), one surviving instance (under a lock)
 * ends each connection left in the index that nobody resumed, and tells it with reason {@code node_lost}, before
 * removing it: an instance that dies while doing so leaves the rest to the next. What else an incarnation keeps in
 * Redis ({@link Holdings}, such as the channels it holds subscribers of) is reaped with it, by the same survivor,
 * before the incarnation is forgotten.
 */
public final class RedisSessionLineage implements SessionLineage {
    private static final Logger log = LoggerFactory.getLogger(RedisSessionLineage.class);
    static final String NODES = RedisKeys.PREFIX + "{events}:nodes";
    /** How long the record of a connection lives unless it ends first (a connection open longer is a new one). */
    static final Duration RECORD_TTL = Duration.ofHours(24);
    /** How long a dead incarnation's reaper holds its lock. */
    static final Duration REAP_LOCK = Duration.ofSeconds(60);

    static final int REAP_BATCH = 200;

    /** KEYS: previous record, new record; ARGV: new connection, ttl. Emits the origin, or nothing. */
    private static final RedisScript RESUME = new RedisScript("""
            local v = redis.call('GET', KEYS[1])
            if not v then return {} end
            local origin, mark = string.match(v, '^(%S+)%s*(%S*)$')
            if not origin or mark == '!' then return {} end
            redis.call('SET', KEYS[1], origin .. ' >' .. ARGV[1], 'KEEPTTL')
            redis.call('SET', KEYS[2], origin, 'PX', ARGV[2])
            return {origin}
            """);
    /** KEYS: the record; ARGV: ttl once ended. 1: its session ends; 0: a newer connection continues it. */
    private static final RedisScript END = new RedisScript("""
            local v = redis.call('GET', KEYS[1])
            if not v then return {1} end
            local origin, mark = string.match(v, '^(%S+)%s*(%S*)$')
            if not origin then return {1} end
            if string.sub(mark, 1, 1) == '>' then return {0} end
            redis.call('SET', KEYS[1], origin .. ' !', 'PX', ARGV[1])
            return {1}
            """);
    /**
     * Renews incarnation ARGV[1]'s lease for ARGV[2] ms on Redis's clock; returns the live incarnations' count,
     * whether the lease was new (1: Redis did not have it), then up to 10 incarnations whose lease has been over
     * for ARGV[3] ms.
     */
    private static final RedisScript LEASE = new RedisScript("""
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
            local out = {redis.call('ZCOUNT', KEYS[1], now, '+inf'), added}
            for _, n in ipairs(redis.call('ZRANGE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[3])), 'BYSCORE', 'LIMIT', 0, 10)) do
              out[#out + 1] = n
            end
            return out
            """);
    /** Forgets a dead incarnation whose index is empty, unless it renewed its lease meanwhile. */
    private static final RedisScript FORGET = new RedisScript("""
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
            if s and tonumber(s) < now then redis.call('ZREM', KEYS[1], ARGV[1]) end
            return {1}
            """);

    /** Tells the end of a session a dead instance left: {@code user.disconnected} with {@code node_lost}. */
    public interface Lost {
        Mono<Void> lost(String user, String origin, String node);
    }

    /**
     * What else an incarnation keeps in Redis, under its lease: checked after each renewal of this instance's lease
     * (Redis answered: what it lost or was not told can be told again), and reaped with a dead incarnation.
     */
    public interface Holdings {
        /** This instance's lease was renewed; returns at once (what it starts runs on its own). */
        void renewed();

        /** Tells what dead incarnation {@code incarnation} (of instance {@code node}) left, then removes it. */
        Mono<Void> reap(String incarnation, String node);
    }

    private final List<Holdings> holdings = new CopyOnWriteArrayList<>();
    private final RedisConnections redis;
    private final String incarnation;
    private final long leaseMs;
    private final long graceMs;
    private final Disposable ticks;
    /** Whether the lease was written: before it, no connection is written into the index. */
    private volatile boolean leaseWritten;

    /** This instance's connections in the index (as they should be there): connection → user and origin. */
    private final Map<String, Held> held = new ConcurrentHashMap<>();
    /** Whether a write of {@link #held} to Redis failed since the last rewrite. */
    private volatile boolean unwritten;

    private volatile boolean rewriting;

    private record Held(String user, String origin) {}

    private volatile Lost lost;
    private volatile int live = 1;

    public RedisSessionLineage(
            RedisConnections redis, String node, String random, long leaseMs, long graceMs, Scheduler scheduler) {
        this.redis = redis;
        this.incarnation = node + "#" + random;
        this.leaseMs = leaseMs;
        this.graceMs = graceMs;
        this.ticks = Flux.interval(
                        Duration.ZERO, Duration.ofMillis(Math.max(100, Math.min(1_000, leaseMs / 3))), scheduler)
                .onBackpressureDrop()
                .concatMap(
                        t -> tick(true).onErrorResume(e -> {
                            log.debug("Events: renewing the lease of {} failed: {}", incarnation, e.toString());
                            return Mono.empty();
                        }),
                        1)
                .subscribe();
    }

    private Mono<Void> leased() {
        return leaseWritten ? Mono.empty() : Mono.defer(() -> tick(false));
    }

    /** Who tells the sessions of dead instances. */
    public void reapWith(Lost lost) {
        this.lost = lost;
    }

    /** {@code h} is told of each renewal of this instance's lease, and reaps what dead incarnations left. */
    public void hold(Holdings h) {
        holdings.add(h);
    }

    /** This instance's name in the index and the stream consumer group. */
    public String incarnation() {
        return incarnation;
    }

    /** Instances with a live lease, as last read (at least 1: this one). */
    public int liveInstances() {
        return Math.max(1, live);
    }

    static String record(String user, String connection) {
        return RedisKeys.PREFIX + "{u:" + user + "}:e:" + connection;
    }

    static String index(String incarnation) {
        return RedisKeys.PREFIX + "en:{" + incarnation + "}";
    }

    private Mono<Void> tick(boolean reap) {
        return LEASE.<List<Object>>run(
                        redis, new String[] {NODES}, incarnation, Long.toString(leaseMs), Long.toString(graceMs))
                .flatMap(r -> {
                    leaseWritten = true;
                    live = ((Long) r.get(0)).intValue();
                    if (reap) {
                        holdings.forEach(Holdings::renewed);
                    }
                    boolean leaseWasNew = Long.valueOf(1).equals(r.get(1));
                    if (reap && (leaseWasNew || unwritten)) {
                        rewrite(leaseWasNew);
                    }
                    List<String> dead = new ArrayList<>();
                    for (int i = 2; i < r.size(); i++) {
                        if (!incarnation.equals(r.get(i))) {
                            dead.add((String) r.get(i));
                        }
                    }
                    return reap && lost != null
                            ? Flux.fromIterable(dead).concatMap(this::reap).then()
                            : Mono.empty();
                });
    }

    @Override
    public Mono<Void> opened(String user, String session) {
        String key = record(user, session);
        String index = index(incarnation);
        held.put(session, new Held(user, session));
        return leased().then(Mono.when(
                        redis.execute(key, c -> c.set(key, session, SetArgs.Builder.px(RECORD_TTL))),
                        redis.execute(index, c -> c.hset(index, session, user + " " + session))))
                .doOnError(e -> unwritten = true);
    }

    /**
     * Writes again what this instance holds (its connections' records and index entries) after a write of them
     * failed or Redis lost them ({@code lost}: the lease was gone), so that their sessions still end with
     * {@code node_lost} if this instance dies. A record already there is kept (it may say resumed or ended).
     */
    private void rewrite(boolean lost) {
        if (rewriting) {
            return;
        }
        rewriting = true;
        unwritten = false;
        List<Map.Entry<String, Held>> all = new ArrayList<>(held.entrySet());
        String index = index(incarnation);
        Flux.fromIterable(all)
                .flatMap(
                        e -> {
                            String connection = e.getKey();
                            Held h = e.getValue();
                            String key = record(h.user(), connection);
                            return redis.execute(
                                            key,
                                            c -> c.set(
                                                    key,
                                                    h.origin(),
                                                    SetArgs.Builder.nx().px(RECORD_TTL)))
                                    .then(redis.execute(
                                            index, c -> c.hset(index, connection, h.user() + " " + h.origin())))
                                    // forgotten meanwhile: out of the index again
                                    .then(Mono.defer(() -> held.containsKey(connection)
                                            ? Mono.empty()
                                            : redis.execute(index, c -> c.hdel(index, connection))
                                                    .then()));
                        },
                        16)
                .then()
                .subscribe(
                        v -> {},
                        e -> {
                            unwritten = true;
                            rewriting = false;
                        },
                        () -> {
                            rewriting = false;
                            if (lost && !all.isEmpty()) {
                                log.info(
                                        "Events: Redis no longer had this instance's lease; its {} sessions written"
                                                + " again",
                                        all.size());
                            }
                        });
    }

    @Override
    public Mono<String> resumed(String user, String previous, String session) {
        String index = index(incarnation);
        return leased().then(RESUME.<List<Object>>run(
                        redis,
                        new String[] {record(user, previous), record(user, session)},
                        session,
                        Long.toString(RECORD_TTL.toMillis())))
                .flatMap(r -> r.isEmpty() ? Mono.<String>empty() : Mono.just((String) r.get(0)))
                .flatMap(origin -> {
                    held.put(session, new Held(user, origin));
                    return redis.execute(index, c -> c.hset(index, session, user + " " + origin))
                            .doOnError(e -> unwritten = true)
                            .onErrorResume(e -> Mono.empty())
                            .thenReturn(origin);
                });
    }

    @Override
    public Mono<Boolean> ended(String user, String session) {
        return END.<List<Object>>run(redis, new String[] {record(user, session)}, Long.toString(endedTtl()))
                .map(r -> Long.valueOf(1).equals(r.get(0)));
    }

    /** An ended record is kept while a late resume of it may still come. */
    private long endedTtl() {
        return graceMs + leaseMs + 60_000;
    }

    @Override
    public Mono<Void> forget(String user, String session) {
        String index = index(incarnation);
        held.remove(session);
        return redis.execute(index, c -> c.hdel(index, session)).then();
    }

    /** Tells the end of every session dead incarnation {@code inc} left that nobody resumed, then forgets it. */
    private Mono<Void> reap(String inc) {
        String lock = RedisKeys.PREFIX + "{events}:reap:" + inc;
        return redis.execute(
                        lock, c -> c.set(lock, incarnation, SetArgs.Builder.nx().px(REAP_LOCK)))
                .filter("OK"::equals)
                .flatMap(ok -> {
                    AtomicInteger told = new AtomicInteger();
                    return reapBatch(inc, told)
                            .then(Flux.fromIterable(holdings)
                                    .concatMap(h -> h.reap(inc, nodeOf(inc)))
                                    .then())
                            .then(FORGET.<List<Object>>run(redis, new String[] {NODES}, inc))
                            .then(redis.execute(lock, c -> c.del(lock)))
                            .doOnSuccess(v -> log.info(
                                    "Events: instance {} is gone; {} of its sessions, not resumed elsewhere, ended"
                                            + " with node_lost",
                                    inc,
                                    told.get()))
                            .onErrorResume(e -> {
                                // what was told is out of the index; the rest is told by the next tick's reaper
                                log.info(
                                        "Events: reaping instance {} stopped after {} sessions ({}); tried again at"
                                                + " the next renewal",
                                        inc,
                                        told.get(),
                                        e.getMessage());
                                return redis.execute(lock, c -> c.del(lock))
                                        .onErrorResume(x -> Mono.empty())
                                        .then(Mono.empty());
                            });
                })
                .then();
    }

    private Mono<Void> reapBatch(String inc, AtomicInteger told) {
        String index = index(inc);
        String node = nodeOf(inc);
        return redis.<List<io.lettuce.core.KeyValue<String, String>>>execute(
                        index, c -> c.hrandfieldWithvalues(index, REAP_BATCH))
                .flatMap(batch -> {
                    if (batch.isEmpty()) {
                        return Mono.empty();
                    }
                    return Flux.fromIterable(batch)
                            .concatMap(kv -> {
                                String connection = kv.getKey();
                                String[] f = kv.getValueOrElse("").split(" ", 2);
                                Mono<Void> tell = f.length < 2
                                        ? Mono.empty()
                                        : ended(f[0], connection)
                                                .flatMap(ends -> ends
                                                        ? lost.lost(f[0], f[1], node)
                                                                .doOnSuccess(v -> told.incrementAndGet())
                                                        : Mono.empty());
                                return tell.then(redis.execute(index, c -> c.hdel(index, connection)));
                            })
                            .then(Mono.defer(() -> reapBatch(inc, told)));
                });
    }

    /** The instance ({@code SWITCHBOARD_NODE_ID}) of incarnation {@code inc}. */
    static String nodeOf(String inc) {
        return inc.contains("#") ? inc.substring(0, inc.lastIndexOf('#')) : inc;
    }

    @Override
    public void close() {
        ticks.dispose();
        // the lease ends now: the sessions still in the index are told by the others once the grace ran out
        LEASE.run(redis, new String[] {NODES}, incarnation, "0", Long.toString(graceMs))
                .onErrorResume(e -> Mono.empty())
                .block(Duration.ofSeconds(2));
    }

    /** For tests: what the index of this incarnation holds. */
    Mono<Map<String, String>> indexed() {
        String index = index(incarnation);
        return redis.execute(index, c -> c.hgetall(index));
    }
}
