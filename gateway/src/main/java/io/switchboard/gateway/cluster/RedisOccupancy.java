package io.switchboard.gateway.cluster;

import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.ValueScanCursor;
import io.switchboard.gateway.channel.Occupancy;
import io.switchboard.gateway.events.EventService;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The cluster mode's {@code channel.occupied} and {@code channel.vacated}: which instances hold subscribers of a
 * channel, decided in Redis. Each channel has a hash {@code sb:{<channel>}:o} (in the channel's slot) with a field
 * {@code @<incarnation>} per instance holding local subscribers, and what the backend was last told:
 * {@code last} ({@code o} or {@code v}), {@code by} (the incarnation that told it), {@code gen} (how many changes
 * were told) and {@code epoch} (random, drawn when the hash is made). One script adds or removes an incarnation
 * and answers the event to tell when the channel's state differs from {@code last}; the event's id is
 * {@code ev_<epoch>_<gen>_<o|v>}, so that a change decided again (a reply lost, a reaper that died) is told with
 * the same id. A vacated channel's hash is kept {@link #VACATED_KEEP}, then expires.
 *
 * <p>Each incarnation lists the channels it added itself to in {@code sb:ch:{<incarnation>}} (written before the
 * channel's hash, removed after), so that a survivor reaping a dead incarnation ({@link RedisSessionLineage})
 * removes it from each of them and vacates those it was the last holder of.
 *
 * <p>This instance's changes of one channel run one after the other, each bringing Redis to what the instance
 * holds when it runs, and each waits until its event is stored before the next runs: a subscribe's ack waits for
 * its channel's change. A change Redis could not be told of is told again once this instance's lease is renewed,
 * as is everything when Redis no longer has this instance's list (it restarted empty): then a channel the hash
 * does not know is presumed to be in the state this instance last saw, so that no event is told for a channel
 * whose state did not change.
 */
public final class RedisOccupancy implements Occupancy, RedisSessionLineage.Holdings {
    private static final Logger log = LoggerFactory.getLogger(RedisOccupancy.class);
    /** How long a vacated channel's hash is kept: a late retry of its change is told with the same id within it. */
    public static final Duration VACATED_KEEP = Duration.ofHours(1);
    /** Channels told again at once after an outage. */
    static final int REASSERT_CONCURRENCY = 64;

    static final int REAP_BATCH = 200;

    /**
     * KEYS: the channel's hash; ARGV: incarnation, 1 (add) or 0 (remove), the state presumed told when the hash is
     * missing ({@code o} or {@code v}), an epoch for a new hash, ms to keep it once vacated. Returns nothing, or
     * the event to tell: {@code o} or {@code v}, the epoch, the generation.
     */
    private static final RedisScript CHANGE = new RedisScript("""
            local k = KEYS[1]
            local m = '@' .. ARGV[1]
            if redis.call('EXISTS', k) == 0 then
              redis.call('HSET', k, 'epoch', ARGV[4], 'gen', 0, 'last', ARGV[3], 'by', '')
            end
            local changed
            if ARGV[2] == '1' then changed = redis.call('HSETNX', k, m, 1) else changed = redis.call('HDEL', k, m) end
            local want = 'v'
            if redis.call('HLEN', k) > 4 then want = 'o' end
            local meta = redis.call('HMGET', k, 'epoch', 'gen', 'last', 'by')
            local out = {}
            if meta[3] ~= want then
              local gen = redis.call('HINCRBY', k, 'gen', 1)
              redis.call('HSET', k, 'last', want, 'by', ARGV[1])
              out = {want, meta[1], gen}
            elseif changed == 0 and meta[4] == ARGV[1] and want == ((ARGV[2] == '1') and 'o' or 'v') then
              out = {want, meta[1], tonumber(meta[2])}
            end
            if want == 'o' then redis.call('PERSIST', k) else redis.call('PEXPIRE', k, ARGV[5]) end
            return out
            """);

    private final RedisConnections redis;
    private final EventService events;
    private final String incarnation;
    private final Supplier<String> epochs;
    /** Guards {@link #channels} and every {@link Local}'s fields. */
    private final Object lock = new Object();

    private final Map<String, Local> channels = new HashMap<>();
    /** Channels whose {@link Local#in} is true. */
    private int confirmed;
    /** A change could not be told: tell again once Redis answers. */
    private final AtomicBoolean stale = new AtomicBoolean();

    private final AtomicBoolean reasserting = new AtomicBoolean();
    private final AtomicBoolean failing = new AtomicBoolean();

    /** This instance's side of one channel. */
    private static final class Local {
        /** Whether this instance holds local subscribers of the channel. */
        boolean held;
        /** Whether Redis, as last told, lists this instance in the channel's hash. */
        boolean in;
        /** Whether a change failed: Redis may differ from {@link #in}. */
        boolean unsure;
        /** Changes queued or running. */
        int pending;

        CompletableFuture<Void> tail = CompletableFuture.completedFuture(null);
    }

    /**
     * @param incarnation this instance's incarnation in the lineage (its name in the hashes and its list)
     * @param epochs random strings for a new hash's epoch
     */
    public RedisOccupancy(RedisConnections redis, EventService events, String incarnation, Supplier<String> epochs) {
        this.redis = redis;
        this.events = events;
        this.incarnation = incarnation;
        this.epochs = epochs;
    }

    static String hash(String channel) {
        return RedisKeys.PREFIX + "{" + channel + "}:o";
    }

    static String list(String incarnation) {
        return RedisKeys.PREFIX + "ch:{" + incarnation + "}";
    }

    // ------------------------------------------------------------------ this instance's changes

    @Override
    public Mono<Void> joined(String channel, boolean first) {
        if (!EventService.tellsOccupancy(channel)) {
            return Mono.empty();
        }
        CompletableFuture<Void> told;
        synchronized (lock) {
            Local l = channels.get(channel);
            if (first) {
                if (l == null) {
                    l = new Local();
                    channels.put(channel, l);
                }
                l.held = true;
                enqueue(channel, l);
            }
            told = l == null ? null : l.tail;
        }
        return told == null || told.isDone() ? Mono.empty() : Mono.fromFuture(told, true);
    }

    @Override
    public Mono<Void> left(String channel) {
        if (!EventService.tellsOccupancy(channel)) {
            return Mono.empty();
        }
        CompletableFuture<Void> told = null;
        synchronized (lock) {
            Local l = channels.get(channel);
            if (l != null) {
                l.held = false;
                enqueue(channel, l);
                told = l.tail;
            }
        }
        return told == null || told.isDone() ? Mono.empty() : Mono.fromFuture(told, true);
    }

    /** Queues a change of {@code channel} after those queued before; called holding the lock. */
    private void enqueue(String channel, Local l) {
        l.pending++;
        l.tail = l.tail.handle((v, e) -> null).thenCompose(v -> change(channel, l));
    }

    /** Brings Redis to what this instance holds of {@code channel} now; never fails. */
    private CompletableFuture<Void> change(String channel, Local l) {
        boolean add;
        String presumed;
        synchronized (lock) {
            if (!l.unsure && l.held == l.in) {
                settled(channel, l);
                return CompletableFuture.completedFuture(null);
            }
            add = l.held;
            presumed = l.in ? "o" : "v";
        }
        String list = list(incarnation);
        Mono<Void> told = add
                ? redis.execute(list, c -> c.sadd(list, channel))
                        .then(decide(channel, incarnation, true, presumed, null))
                : decide(channel, incarnation, false, presumed, null)
                        .then(redis.execute(list, c -> c.srem(list, channel)))
                        .then();
        return told.then(Mono.fromRunnable(() -> {
                    synchronized (lock) {
                        setIn(l, add);
                        l.unsure = false;
                        settled(channel, l);
                    }
                    if (failing.compareAndSet(true, false)) {
                        log.info("Channel occupancy is told to Redis again");
                    }
                }))
                .onErrorResume(e -> {
                    synchronized (lock) {
                        // a channel never confirmed in Redis is forgotten: the sweep of this instance's list
                        // removes it from its hash if the change reached Redis after all
                        l.unsure = l.in || l.held;
                        settled(channel, l);
                    }
                    stale.set(true);
                    if (failing.compareAndSet(false, true)) {
                        log.warn(
                                "Channel occupancy cannot be told to Redis now ({}): told again once it can",
                                e.getMessage());
                    }
                    return Mono.empty();
                })
                .then()
                .toFuture();
    }

    /** One change done; the record goes when nothing is held, listed or queued. Called holding the lock. */
    private void settled(String channel, Local l) {
        l.pending--;
        if (l.pending == 0 && !l.held && !l.in && !l.unsure && channels.get(channel) == l) {
            channels.remove(channel);
        }
    }

    private void setIn(Local l, boolean in) {
        if (l.in != in) {
            confirmed += in ? 1 : -1;
            l.in = in;
        }
    }

    /**
     * Adds or removes {@code inc} in {@code channel}'s hash and tells the event it answers, on behalf of
     * {@code node} (null: this instance); completes once the event is stored.
     */
    private Mono<Void> decide(String channel, String inc, boolean add, String presumed, String node) {
        return CHANGE.<List<Object>>run(
                        redis,
                        new String[] {hash(channel)},
                        inc,
                        add ? "1" : "0",
                        presumed,
                        epochs.get(),
                        Long.toString(VACATED_KEEP.toMillis()))
                .flatMap(r -> {
                    if (r.size() < 3) {
                        return Mono.empty();
                    }
                    String state = (String) r.get(0);
                    String id = "ev_" + r.get(1) + "_" + r.get(2) + "_" + state;
                    return events.channel(channel, "o".equals(state), id, node);
                });
    }

    // ------------------------------------------------------------------ telling again

    @Override
    public void renewed() {
        if (!reasserting.compareAndSet(false, true)) {
            return;
        }
        boolean listed;
        synchronized (lock) {
            listed = confirmed > 0;
        }
        String list = list(incarnation);
        Mono<Boolean> lost =
                listed ? redis.<Long>execute(list, c -> c.exists(list)).map(n -> n == 0) : Mono.just(false);
        lost.flatMap(gone -> {
                    if (gone) {
                        int n;
                        synchronized (lock) {
                            channels.values().forEach(l -> l.unsure = true);
                            n = channels.size();
                        }
                        log.info(
                                "Redis no longer lists this instance's channels (restarted empty?): telling it the {}"
                                        + " held here again, with no event where nothing changed",
                                n);
                        stale.set(true);
                    }
                    return stale.getAndSet(false) ? reassert() : Mono.empty();
                })
                .doFinally(s -> reasserting.set(false))
                .subscribe(null, e -> {
                    stale.set(true);
                    log.debug("Telling channel occupancy again failed: {}", e.toString());
                });
    }

    /**
     * Tells again each channel whose change failed, then removes this instance from the channels its list has
     * that it does not hold (a change whose answer was lost).
     */
    private Mono<Void> reassert() {
        List<CompletableFuture<Void>> queued = new ArrayList<>();
        synchronized (lock) {
            // a change may end (and its record go) at once: the records are listed before any is changed
            List<Map.Entry<String, Local>> unsure = channels.entrySet().stream()
                    .filter(e -> e.getValue().unsure)
                    .map(e -> Map.entry(e.getKey(), e.getValue()))
                    .toList();
            for (Map.Entry<String, Local> e : unsure) {
                enqueue(e.getKey(), e.getValue());
                queued.add(e.getValue().tail);
            }
        }
        return Flux.fromIterable(queued)
                .flatMap(f -> Mono.fromFuture(f, true), REASSERT_CONCURRENCY)
                .then(sweep(ScanCursor.INITIAL));
    }

    private Mono<Void> sweep(ScanCursor from) {
        String list = list(incarnation);
        return redis.<ValueScanCursor<String>>execute(list, c -> c.sscan(list, from, ScanArgs.Builder.limit(500)))
                .flatMap(page -> {
                    List<CompletableFuture<Void>> queued = new ArrayList<>();
                    synchronized (lock) {
                        for (String channel : page.getValues()) {
                            if (!channels.containsKey(channel)) {
                                Local l = new Local();
                                l.unsure = true;
                                channels.put(channel, l);
                                enqueue(channel, l);
                                queued.add(l.tail);
                            }
                        }
                    }
                    Mono<Void> done = Flux.fromIterable(queued)
                            .flatMap(f -> Mono.fromFuture(f, true), REASSERT_CONCURRENCY)
                            .then();
                    return page.isFinished() ? done : done.then(Mono.defer(() -> sweep(page)));
                });
    }

    // ------------------------------------------------------------------ a dead instance

    @Override
    public Mono<Void> reap(String inc, String node) {
        String list = list(inc);
        return redis.<List<String>>execute(list, c -> c.srandmember(list, REAP_BATCH))
                .flatMap(batch -> batch.isEmpty()
                        ? Mono.<Void>empty()
                        : Flux.fromIterable(batch)
                                .concatMap(channel -> decide(channel, inc, false, "v", node)
                                        .then(redis.execute(list, c -> c.srem(list, channel))))
                                .then(Mono.defer(() -> reap(inc, node))));
    }

    /** Channels this instance keeps a record of (held, or not yet told to Redis), for tests. */
    public int channels() {
        synchronized (lock) {
            return channels.size();
        }
    }
}
