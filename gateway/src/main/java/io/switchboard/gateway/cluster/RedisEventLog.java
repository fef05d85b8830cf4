package io.switchboard.gateway.cluster;

import io.lettuce.core.Consumer;
import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.XAutoClaimArgs;
import io.lettuce.core.XGroupCreateArgs;
import io.lettuce.core.XReadArgs;
import io.lettuce.core.models.stream.ClaimedMessages;
import io.switchboard.gateway.events.EventLog;
import io.switchboard.gateway.events.WebhookDelivery;
import io.switchboard.gateway.events.WebhookEvent;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;

/**
 * The cluster mode's events: {@value #SHARDS} Redis streams {@code sb:{ev:<n>}:s}, an event going to the shard of
 * its key (its user, its match), so that one stream holds all of a key's events in order. Each shard is delivered
 * by one instance at a time, under a lease {@code sb:{ev:<n>}:l} (each instance takes its fair share of the shards,
 * and takes over those whose lease ran out); that instance reads the stream through the consumer group
 * {@value #GROUP}, POSTs a batch until it is acknowledged, then acknowledges and deletes its entries in one script
 * that checks the lease is still its own. A new owner first claims ({@code XAUTOCLAIM}) what the previous one had
 * read and not acknowledged, and delivers its own pending entries before any new one: the order of a shard holds
 * across a change of owner, and an event read by an instance that died is delivered by the next.
 *
 * <p>Writes keep their order too: this instance writes its events in batches, one batch at a time, each written
 * whole before the next (a batch that fails is written again, whole, so an event may be stored twice, with the
 * same id). While Redis cannot be written the events wait here, in order, within the same bound, and the actions
 * they report go on.
 *
 * <p>Each stream keeps at most {@code SWITCHBOARD_WEBHOOK_BACKLOG / SHARDS} events (at least 1): the oldest beyond
 * are trimmed, counted, and logged once per episode.
 */
public final class RedisEventLog implements EventLog {
    private static final Logger log = LoggerFactory.getLogger(RedisEventLog.class);
    public static final int SHARDS = 16;
    static final String GROUP = "deliver";
    /** Events written to Redis at once. */
    static final int WRITE_BATCH = 256;
    /** How often an owned shard with nothing to deliver is read again. */
    static final Duration POLL = Duration.ofMillis(100);
    /** How soon a write or a read that failed (Redis away) is tried again. */
    static final Duration RETRY = Duration.ofMillis(500);
    /** How often a shard waiting out a backoff looks whether the backend acknowledged another shard's batch. */
    static final Duration RECHECK = Duration.ofSeconds(1);

    /** KEYS: the stream; ARGV: event, at, key, bound. Returns how many old entries were trimmed. */
    private static final RedisScript ADD = new RedisScript("""
            redis.call('XADD', KEYS[1], '*', 'e', ARGV[1], 't', ARGV[2], 'k', ARGV[3])
            return {redis.call('XTRIM', KEYS[1], 'MAXLEN', tonumber(ARGV[4]))}
            """);
    /** KEYS: the lease; ARGV: owner, ms, whether it may be taken. 1: renewed, 2: taken, 0: another's. */
    private static final RedisScript LEASE = new RedisScript("""
            local v = redis.call('GET', KEYS[1])
            if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return {1} end
            if not v and ARGV[3] == '1' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return {2} end
            return {0}
            """);
    /** KEYS: the stream, its lease; ARGV: owner, group, ids. Acknowledges and deletes while the lease is its own. */
    private static final RedisScript DONE = new RedisScript("""
            if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {0} end
            local ids = {}
            for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
            redis.call('XACK', KEYS[1], ARGV[2], unpack(ids))
            redis.call('XDEL', KEYS[1], unpack(ids))
            return {1}
            """);

    private static final RedisScript RELEASE = new RedisScript("""
            if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
            return {1}
            """);

    private final RedisConnections redis;
    private final RedisSessionLineage lineage;
    private final String consumer;
    private final int bound;
    private final long perShard;
    private final long leaseMs;
    private final Scheduler scheduler;
    private final Shard[] shards = new Shard[SHARDS];
    private volatile WebhookDelivery delivery;
    private volatile boolean closed;
    private Disposable leases;

    // the writer, guarded by this
    private final ArrayDeque<Pending> queue = new ArrayDeque<>();
    private boolean writing;
    private boolean holding;

    private record Pending(WebhookEvent event, Sinks.Empty<Void> stored) {}

    public RedisEventLog(
            RedisConnections redis, RedisSessionLineage lineage, int bound, long leaseMs, Scheduler scheduler) {
        this.redis = redis;
        this.lineage = lineage;
        this.consumer = lineage.incarnation();
        this.bound = bound;
        this.perShard = Math.max(1, bound / SHARDS);
        this.leaseMs = leaseMs;
        this.scheduler = scheduler;
        for (int i = 0; i < SHARDS; i++) {
            shards[i] = new Shard(i);
        }
    }

    /** The shard of events with {@code key}: the same on every instance. */
    public static int shardOf(String key) {
        return Math.floorMod(key.hashCode(), SHARDS);
    }

    static String stream(int shard) {
        return RedisKeys.PREFIX + "{ev:" + shard + "}:s";
    }

    static String lease(int shard) {
        return RedisKeys.PREFIX + "{ev:" + shard + "}:l";
    }

    // ------------------------------------------------------------------ writing

    @Override
    public Mono<Void> append(WebhookEvent event) {
        Sinks.Empty<Void> stored = Sinks.empty();
        List<Pending> dropped = new ArrayList<>();
        boolean held;
        synchronized (this) {
            queue.addLast(new Pending(event, stored));
            while (queue.size() > bound) {
                dropped.add(queue.pollFirst());
            }
            held = holding;
        }
        for (Pending p : dropped) {
            p.stored().tryEmitEmpty();
        }
        WebhookDelivery d = delivery;
        if (d != null) {
            d.dropped(dropped.size());
        }
        if (held) {
            stored.tryEmitEmpty(); // written by the retry under way, with those before it
        } else {
            write();
        }
        return stored.asMono();
    }

    private void write() {
        List<Pending> batch = new ArrayList<>();
        synchronized (this) {
            if (writing || queue.isEmpty()) {
                return;
            }
            writing = true;
            while (batch.size() < WRITE_BATCH && !queue.isEmpty()) {
                batch.add(queue.pollFirst());
            }
        }
        // every command of the batch is sent at once, in order, on one connection per shard: Redis stores them so
        Flux.fromIterable(batch)
                .flatMapSequential(
                        p -> {
                            String key = stream(shardOf(p.event().key()));
                            return ADD.<List<Object>>run(
                                    redis,
                                    new String[] {key},
                                    p.event().json(),
                                    Long.toString(p.event().atMillis()),
                                    p.event().key(),
                                    Long.toString(perShard));
                        },
                        WRITE_BATCH)
                .map(r -> (Long) r.get(0))
                .reduce(0L, Long::sum)
                .subscribe(trimmed -> written(batch, trimmed), e -> notWritten(batch, e));
    }

    private void written(List<Pending> batch, long trimmed) {
        boolean was;
        synchronized (this) {
            writing = false;
            was = holding;
            holding = false;
        }
        if (was) {
            log.info("Events are written to Redis again");
        }
        WebhookDelivery d = delivery;
        if (d != null) {
            d.dropped(trimmed);
        }
        for (Pending p : batch) {
            p.stored().tryEmitEmpty();
        }
        write();
    }

    private void notWritten(List<Pending> batch, Throwable e) {
        boolean was;
        int dropped = 0;
        synchronized (this) {
            for (int i = batch.size() - 1; i >= 0; i--) {
                queue.addFirst(batch.get(i));
            }
            while (queue.size() > bound) {
                queue.pollFirst().stored().tryEmitEmpty();
                dropped++;
            }
            writing = false;
            was = holding;
            holding = true;
        }
        if (!was) {
            log.warn(
                    "Events cannot be written to Redis ({}): held here, in order, until it can be (lost if this"
                            + " instance stops meanwhile)",
                    e.getMessage());
        }
        WebhookDelivery d = delivery;
        if (d != null) {
            d.dropped(dropped);
        }
        for (Pending p : batch) {
            p.stored().tryEmitEmpty();
        }
        if (!closed) {
            scheduler.schedule(this::write, RETRY.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    // ------------------------------------------------------------------ the backlog

    @Override
    public Mono<Backlog> backlog() {
        long local;
        synchronized (this) {
            local = queue.size();
        }
        long localOldest;
        synchronized (this) {
            Pending first = queue.peekFirst();
            localOldest = first == null ? 0 : first.event().atMillis();
        }
        return Flux.range(0, SHARDS)
                .flatMap(i -> {
                    String key = stream(i);
                    Mono<Long> size = redis.execute(key, c -> c.xlen(key));
                    Mono<Long> oldest = redis.<List<StreamMessage<String, String>>>execute(
                                    key, c -> c.xrange(key, Range.create("-", "+"), Limit.from(1)))
                            .map(l -> l.isEmpty() ? 0L : at(l.get(0)));
                    return Mono.zip(size, oldest);
                })
                .reduce(
                        new Backlog(local, localOldest),
                        (b, t) -> new Backlog(b.size() + t.getT1(), oldest(b.oldestAtMillis(), t.getT2())));
    }

    private static long oldest(long a, long b) {
        return a == 0 ? b : b == 0 ? a : Math.min(a, b);
    }

    private static long at(StreamMessage<String, String> m) {
        Map<String, String> body = m.getBody();
        String t = body == null ? null : body.get("t");
        try {
            return t == null ? 0 : Long.parseLong(t);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    // ------------------------------------------------------------------ delivering

    @Override
    public void start(WebhookDelivery delivery) {
        this.delivery = delivery;
        int offset = Math.floorMod(consumer.hashCode(), SHARDS);
        leases = Flux.interval(Duration.ZERO, Duration.ofMillis(Math.max(100, Math.min(1_000, leaseMs / 3))), scheduler)
                .onBackpressureDrop()
                .concatMap(t -> renewLeases(offset).onErrorResume(e -> Mono.empty()), 1)
                .subscribe();
    }

    /** Renews the shards this instance owns, takes free ones up to its fair share, and gives back extra ones. */
    private Mono<Void> renewLeases(int offset) {
        int fair = (SHARDS + lineage.liveInstances() - 1) / lineage.liveInstances();
        return Flux.range(0, SHARDS)
                .map(i -> shards[(i + offset) % SHARDS])
                .concatMap(s -> {
                    int owned = owned();
                    if (s.owned && owned > fair) {
                        s.owned = false;
                        return RELEASE.run(redis, new String[] {lease(s.index)}, consumer)
                                .then();
                    }
                    boolean mayTake = !s.owned && owned < fair;
                    if (!s.owned && !mayTake) {
                        return Mono.empty();
                    }
                    return LEASE.<List<Object>>run(
                                    redis,
                                    new String[] {lease(s.index)},
                                    consumer,
                                    Long.toString(leaseMs),
                                    mayTake ? "1" : "0")
                            .doOnNext(r -> {
                                long got = (Long) r.get(0);
                                if (got == 0) {
                                    s.owned = false;
                                } else if (got == 2 || !s.owned) {
                                    s.take();
                                }
                            })
                            .onErrorResume(e -> Mono.empty())
                            .then();
                })
                .then();
    }

    private int owned() {
        int n = 0;
        for (Shard s : shards) {
            if (s.owned) {
                n++;
            }
        }
        return n;
    }

    /** Each shard's state, a line each (for a test's diagnostics). */
    public String describe() {
        StringBuilder b = new StringBuilder();
        synchronized (this) {
            b.append("writer: queued ")
                    .append(queue.size())
                    .append(writing ? ", writing" : "")
                    .append(holding ? ", holding" : "")
                    .append('\n');
        }
        for (Shard s : shards) {
            b.append(s.describe()).append('\n');
        }
        return b.toString();
    }

    /** Shards this instance delivers now (for tests). */
    public int ownedShards() {
        return owned();
    }

    /** One stream and this instance's part in delivering it. */
    private final class Shard {
        final int index;
        final String stream;
        volatile boolean owned;
        /** Whether the group exists and the previous owner's pending entries were claimed since it was taken. */
        boolean ready;
        /**
         * Whether this consumer has no pending entry (read and not acknowledged): then a read asks for new entries
         * only. False after a take, a set-up, a failed POST or an error, until a read of the pending ones is empty.
         */
        boolean pendingClear;

        boolean running;
        /** What the shard's loop does now, and since when (for a test's diagnostics). */
        volatile String phase = "idle";

        volatile long phaseAt;
        /** The delivery's count of acknowledged batches when this shard's last POST was sent. */
        long acknowledgedBefore;
        /** Failed POSTs in a row: the next read waits for the backoff they call for. */
        int failures;

        Shard(int index) {
            this.index = index;
            this.stream = stream(index);
        }

        synchronized void take() {
            owned = true;
            ready = false;
            pendingClear = false;
            if (!running) {
                running = true;
                scheduler.schedule(this::step);
            }
        }

        private void step() {
            if (!owned || closed) {
                synchronized (this) {
                    running = false;
                }
                return;
            }
            phase("setting up or reading");
            Mono<Void> setUp = ready ? Mono.empty() : setUp().doOnSuccess(v -> ready = true);
            setUp.then(read())
                    .flatMap(batch -> batch.isEmpty() ? Mono.just(POLL) : deliver(batch))
                    .onErrorResume(e -> {
                        ready = false;
                        pendingClear = false;
                        log.debug("Events: delivering shard {} failed: {}", index, e.toString());
                        return Mono.just(RETRY);
                    })
                    .subscribe(wait -> {
                        phase("waiting " + wait.toMillis() + " ms");
                        if (failures > 0 && wait.compareTo(RECHECK) > 0) {
                            backingOff(System.nanoTime() + wait.toNanos(), acknowledgedBefore);
                        } else {
                            scheduler.schedule(this::step, wait.toMillis(), TimeUnit.MILLISECONDS);
                        }
                    });
        }

        /**
         * Waits out a backoff, but sends again as soon as a delivery of another shard (on this instance) succeeded
         * after this one failed: the backend is back, and what waited here goes out without waiting for the rest.
         */
        private void backingOff(long untilNanos, long acknowledged) {
            long left = untilNanos - System.nanoTime();
            if (left <= 0 || !owned || closed || delivery.acknowledgements() != acknowledged) {
                step();
                return;
            }
            scheduler.schedule(
                    () -> backingOff(untilNanos, acknowledged),
                    Math.min(left, RECHECK.toNanos()),
                    TimeUnit.NANOSECONDS);
        }

        private void phase(String what) {
            phase = what;
            phaseAt = System.currentTimeMillis();
        }

        String describe() {
            return "shard " + index + (owned ? " owned" : "") + (running ? " running" : "") + (ready ? " ready" : "")
                    + " failures=" + failures + " " + phase + " since " + (System.currentTimeMillis() - phaseAt)
                    + " ms";
        }

        /** The group exists, and everything the previous owners read and did not acknowledge is now this one's. */
        private Mono<Void> setUp() {
            return redis.execute(
                            stream,
                            c -> c.xgroupCreate(
                                    XReadArgs.StreamOffset.from(stream, "0"),
                                    GROUP,
                                    XGroupCreateArgs.Builder.mkstream()))
                    .onErrorResume(
                            e -> String.valueOf(e.getMessage()).contains("BUSYGROUP")
                                    || String.valueOf(e.getCause()).contains("BUSYGROUP"),
                            e -> Mono.just("OK"))
                    .then(claim("0-0"));
        }

        private Mono<Void> claim(String from) {
            return redis.<ClaimedMessages<String, String>>execute(
                            stream,
                            c -> c.xautoclaim(
                                    stream,
                                    new XAutoClaimArgs<String>()
                                            .consumer(Consumer.from(GROUP, consumer))
                                            .minIdleTime(0)
                                            .startId(from)
                                            .count(1000)
                                            .justid()))
                    .flatMap(r -> r.getId() == null || r.getId().equals("0-0") ? Mono.empty() : claim(r.getId()));
        }

        /** This consumer's pending entries first (read before, not acknowledged) while it may have some, then new ones. */
        private Mono<List<StreamMessage<String, String>>> read() {
            Consumer<String> me = Consumer.from(GROUP, consumer);
            XReadArgs count = XReadArgs.Builder.count(WebhookDelivery.BATCH);
            Mono<List<StreamMessage<String, String>>> fresh =
                    redis.execute(stream, c -> c.xreadgroup(me, count, XReadArgs.StreamOffset.lastConsumed(stream)));
            if (pendingClear) {
                return fresh.defaultIfEmpty(List.of());
            }
            return redis.<List<StreamMessage<String, String>>>execute(
                            stream, c -> c.xreadgroup(me, count, XReadArgs.StreamOffset.from(stream, "0")))
                    .defaultIfEmpty(List.of())
                    .flatMap(pending -> {
                        if (!pending.isEmpty()) {
                            return Mono.just(pending);
                        }
                        pendingClear = true;
                        return fresh;
                    })
                    .defaultIfEmpty(List.of());
        }

        /**
         * Sends a batch once; after a failure the next step waits for the backoff and reads the pending entries
         * again, so that those trimmed meanwhile (the oldest, beyond the bound) are not sent. Emits the wait.
         */
        private Mono<Duration> deliver(List<StreamMessage<String, String>> read) {
            List<WebhookEvent> batch = new ArrayList<>(read.size());
            List<String> ids = new ArrayList<>(read.size());
            for (StreamMessage<String, String> m : read) {
                ids.add(m.getId());
                Map<String, String> body = m.getBody();
                String json = body == null ? null : body.get("e");
                if (json != null) {
                    // entries trimmed after they were read come back empty: acknowledged, not sent
                    batch.add(WebhookEvent.parse(json, at(m), body.getOrDefault("k", "")));
                }
            }
            WebhookDelivery d = delivery;
            acknowledgedBefore = d.acknowledgements();
            phase("posting " + batch.size());
            Mono<Boolean> sent = batch.isEmpty() ? Mono.just(true) : d.sendOnce(batch);
            return sent.flatMap(ok -> {
                if (!ok) {
                    pendingClear = false; // the batch stays pending, read again after the backoff
                    return Mono.just(d.backoff(failures++));
                }
                failures = 0;
                String[] args = new String[ids.size() + 2];
                args[0] = consumer;
                args[1] = GROUP;
                for (int i = 0; i < ids.size(); i++) {
                    args[i + 2] = ids.get(i);
                }
                return DONE.<List<Object>>run(redis, new String[] {stream, lease(index)}, args)
                        .doOnNext(r -> {
                            if (!Long.valueOf(1).equals(r.get(0))) {
                                owned = false; // another instance took the shard: it sends these again
                            }
                        })
                        .thenReturn(Duration.ZERO);
            });
        }
    }

    @Override
    public void close() {
        closed = true;
        if (leases != null) {
            leases.dispose();
        }
        // what is still held here gets one chance to reach Redis; the shards go back at once, for the others
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (System.nanoTime() < deadline) {
            synchronized (this) {
                if (queue.isEmpty() && !writing) {
                    break;
                }
            }
            write();
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        int left;
        synchronized (this) {
            left = queue.size();
        }
        if (left > 0) {
            log.warn("Stopping with {} events not written to Redis: they are lost", left);
        }
        Flux.range(0, SHARDS)
                .filter(i -> shards[i].owned)
                .flatMap(i -> {
                    shards[i].owned = false;
                    return RELEASE.run(redis, new String[] {lease(i)}, consumer);
                })
                .then()
                .onErrorResume(e -> Mono.empty())
                .block(Duration.ofSeconds(2));
    }
}
