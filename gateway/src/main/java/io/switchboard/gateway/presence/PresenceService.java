package io.switchboard.gateway.presence;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.switchboard.gateway.health.spi.DependencyUnavailableException;
import io.switchboard.gateway.wire.WireFrames;
import io.switchboard.protocol.Limits;
import io.switchboard.protocol.ServerFrame;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * This instance's side of presence (docs/protocol.md section 10): the holders of its connections, which are the
 * truth the {@link PresenceStore} is rebuilt from; the subscribers that asked for {@code join} and {@code leave};
 * and, every second, the figures of {@code match.stats}.
 *
 * <p>A connection that dropped and may resume keeps its holders for the resume grace, so that a user who comes
 * back (here or on another instance, which adds its own holder) never leaves; then they go. A change the store
 * could not be told of (an outage) marks the store stale: once a tick succeeds again, the store is rebuilt from
 * the holders, each written in turn with its connection's own changes.
 */
public final class PresenceService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PresenceService.class);
    /** How often the lease is renewed, the figures are read, and dead instances' holders are removed. */
    public static final Duration TICK = Duration.ofSeconds(1);
    /** Holders written at once during a rebuild. */
    static final int REBUILD_CONCURRENCY = 64;
    /** {@code match.stats} answers with figures at most this old, else {@code unavailable}. */
    public static final Duration STATS_MAX_AGE = Duration.ofSeconds(2);

    private final PresenceStore store;
    private final LongSupplier online;
    private final LongSupplier waiting;
    private final long graceMs;
    private final Scheduler scheduler;
    private final LongSupplier nanoTime;
    /** Connection id, then what it holds. */
    private final Map<String, Held> held = new ConcurrentHashMap<>();
    /** Channel, then the subscribers that receive its join and leave. */
    private final Map<String, Set<Listener>> listeners = new ConcurrentHashMap<>();

    private final AtomicLong holders = new AtomicLong();
    private final AtomicBoolean stale = new AtomicBoolean();
    private final AtomicBoolean ticking = new AtomicBoolean();
    private final Counter joins;
    private final Counter leaves;
    private final Counter rebuilds;
    private final Disposable tickTask;
    private volatile Stats stats;
    /** Whether a tick has succeeded: a failure before is the start (Redis not there yet), not an outage. */
    private volatile boolean ticked;

    private volatile long clusterPresent = -1;

    /**
     * What one connection holds: its user, the user's info, and the channels it is present in. What it tells the
     * store goes one change after the other ({@link #inTurn}), so that a removal never overtakes the addition it
     * undoes.
     */
    private static final class Held {
        final String user;
        final String info;
        final Set<String> channels = ConcurrentHashMap.newKeySet();
        volatile Disposable linger;
        /** The connection dropped and may be resumed. */
        volatile boolean lingering;

        private CompletableFuture<?> last = CompletableFuture.completedFuture(null);

        Held(String user, String info) {
            this.user = user;
            this.info = info;
        }

        /** Runs {@code change} once the changes told before it have completed (or failed). */
        synchronized <T> Mono<T> inTurn(Supplier<Mono<T>> change) {
            CompletableFuture<T> next =
                    last.handle((v, e) -> null).thenCompose(v -> change.get().toFuture());
            last = next;
            return Mono.fromFuture(next, true);
        }
    }

    /**
     * A subscriber that receives a channel's {@code join} and {@code leave}: the frame, and its wire bytes, encoded
     * once for every listener, whose reference passes to it (it writes or releases them); called on any thread.
     */
    public interface Listener {
        void told(ServerFrame event, ByteBuf wire);
    }

    /** The figures of {@code match.stats} and when this instance read them. */
    public record Stats(long online, long waiting, long readAtNanos) {}

    /**
     * @param online users connected to this instance
     * @param waiting users in the random-connect queue (cluster-wide), as last read
     * @param graceMs the resume grace: how long a dropped connection's holders stay
     * @param scheduler where ticks and the grace's timers run
     */
    public PresenceService(
            PresenceStore store,
            LongSupplier online,
            LongSupplier waiting,
            long graceMs,
            Scheduler scheduler,
            LongSupplier nanoTime,
            MeterRegistry registry) {
        this.store = store;
        this.online = online;
        this.waiting = waiting;
        this.graceMs = graceMs;
        this.scheduler = scheduler;
        this.nanoTime = nanoTime;
        this.joins = Counter.builder("switchboard.presence.events")
                .tag("kind", "join")
                .description("Presence joins told to this instance, from every instance")
                .register(registry);
        this.leaves = Counter.builder("switchboard.presence.events")
                .tag("kind", "leave")
                .description("Presence leaves told to this instance, from every instance")
                .register(registry);
        this.rebuilds = Counter.builder("switchboard.presence.rebuilds")
                .description("Times this instance told the presence store all its holders again after an outage")
                .register(registry);
        Gauge.builder("switchboard.presence.users", holders, AtomicLong::get)
                .tag("scope", "instance")
                .description("Channel presences held by this instance's connections")
                .register(registry);
        Gauge.builder("switchboard.presence.users", this, s -> s.clusterPresent)
                .tag("scope", "cluster")
                .description("Channel presences over every live instance, as last read (-1 before)")
                .register(registry);
        store.onEvent(this::told);
        tickTask = scheduler.schedulePeriodically(this::tick, 0, TICK.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * {@code connection} of {@code user} is present in {@code channel}: held here at once, then told to the store.
     * Fails (and holds nothing) when the store cannot be told now. Called on the connection's loop, as
     * {@link #leave} and {@link #closed} are, so that a connection's holders change in the order it asked.
     */
    public Mono<Void> join(String connection, String user, String info, String channel) {
        Held h = held.computeIfAbsent(connection, c -> new Held(user, info));
        if (!h.channels.add(channel)) {
            return Mono.empty();
        }
        holders.incrementAndGet();
        return h.inTurn(() -> store.add(channel, user, connection, info)).then().onErrorResume(e -> {
            // the store may have recorded it before failing: the rebuild settles it either way
            forget(connection, h, channel);
            stale.set(true);
            return Mono.error(e);
        });
    }

    /** {@code connection} is no longer present in {@code channel} (unsubscribed). */
    public void leave(String connection, String channel) {
        Held h = held.get(connection);
        if (h != null && forget(connection, h, channel)) {
            tellRemoved(h, channel, connection);
        }
    }

    /**
     * {@code connection} closed: with {@code resumable}, what it holds stays for the resume grace and then goes,
     * unless the user's resumed connection takes its place in a channel first (subscribing there again with
     * presence, on any instance); otherwise it goes now.
     */
    public void closed(String connection, boolean resumable) {
        Held h = held.get(connection);
        if (h == null) {
            return;
        }
        if (resumable) {
            h.lingering = true;
            for (String channel : List.copyOf(h.channels)) {
                h.inTurn(() -> store.linger(channel, h.user, connection)).subscribe(null, e -> {
                    stale.set(true);
                    log.debug(
                            "Presence of {} in {} could not be marked lingering now: {}",
                            h.user,
                            channel,
                            e.toString());
                });
            }
            h.linger = scheduler.schedule(() -> removeAll(connection, h), graceMs, TimeUnit.MILLISECONDS);
        } else {
            removeAll(connection, h);
        }
    }

    private void removeAll(String connection, Held h) {
        for (String channel : List.copyOf(h.channels)) {
            if (forget(connection, h, channel)) {
                tellRemoved(h, channel, connection);
            }
        }
    }

    private boolean forget(String connection, Held h, String channel) {
        if (!h.channels.remove(channel)) {
            return false;
        }
        holders.decrementAndGet();
        if (h.channels.isEmpty()) {
            held.remove(connection, h);
        }
        return true;
    }

    private void tellRemoved(Held h, String channel, String connection) {
        h.inTurn(() -> store.remove(channel, h.user, connection)).subscribe(null, e -> {
            stale.set(true);
            log.debug("Presence of {} in {} could not be removed now: {}", h.user, channel, e.toString());
        });
    }

    /** {@code listener} receives the {@code join} and {@code leave} of {@code channel}, on any thread. */
    public void listen(String channel, Listener listener) {
        listeners.computeIfAbsent(channel, c -> ConcurrentHashMap.newKeySet()).add(listener);
    }

    public void unlisten(String channel, Listener listener) {
        listeners.computeIfPresent(channel, (c, set) -> {
            set.remove(listener);
            return set.isEmpty() ? null : set;
        });
    }

    private void told(ServerFrame event) {
        String channel;
        if (event instanceof ServerFrame.Join j) {
            joins.increment();
            channel = j.channel();
        } else if (event instanceof ServerFrame.Leave l) {
            leaves.increment();
            channel = l.channel();
        } else {
            return;
        }
        Set<Listener> set = listeners.get(channel);
        if (set == null || set.isEmpty()) {
            return;
        }
        ByteBuf wire = WireFrames.encode(PooledByteBufAllocator.DEFAULT, event);
        try {
            for (Listener l : set) {
                l.told(event, wire.retainedDuplicate());
            }
        } finally {
            wire.release();
        }
    }

    /** The users present in {@code channel}: at most {@link Limits#MAX_PRESENCE_USERS} listed. */
    public Mono<PresenceStore.Roster> list(String channel) {
        return store.list(channel, Limits.MAX_PRESENCE_USERS);
    }

    public Mono<Long> count(String channel) {
        return store.count(channel);
    }

    /** Users online cluster-wide and waiting to be matched, at most {@link #STATS_MAX_AGE} old. */
    public Mono<Stats> stats() {
        Stats s = stats;
        if (s == null || nanoTime.getAsLong() - s.readAtNanos() > STATS_MAX_AGE.toNanos()) {
            return Mono.error(new StatsUnavailable());
        }
        return Mono.just(s);
    }

    /** The figures could not be read for longer than {@link #STATS_MAX_AGE}: Redis is away. */
    public static final class StatsUnavailable extends DependencyUnavailableException {
        StatsUnavailable() {
            super("the online figures are older than " + STATS_MAX_AGE.toSeconds() + " s", null);
        }
    }

    /** Channel presences held by this instance's connections (dropped ones within the grace included). */
    public long holders() {
        return holders.get();
    }

    private void tick() {
        if (!ticking.compareAndSet(false, true)) {
            return;
        }
        long started = nanoTime.getAsLong();
        store.tick(online.getAsLong(), holders.get())
                .flatMap(f -> {
                    ticked = true;
                    stats = new Stats(f.online(), waiting.getAsLong(), started);
                    clusterPresent = f.present();
                    if (f.lost() || stale.getAndSet(false)) {
                        return rebuild(f.lost());
                    }
                    return Mono.empty();
                })
                .doFinally(s -> ticking.set(false))
                .subscribe(null, e -> {
                    if (ticked) {
                        // what changed while the store was away is told again once it answers
                        stale.set(true);
                    }
                    log.debug("Presence tick failed: {}", e.toString());
                });
    }

    /**
     * Tells the store every holder again, each in turn with that connection's own changes and only if still held
     * then (so that a holder that went meanwhile is never written back), then prunes what the store has beyond
     * what is held at that moment.
     */
    private Mono<Void> rebuild(boolean lost) {
        List<Map.Entry<String, String>> all = new ArrayList<>();
        held.forEach((connection, h) -> {
            for (String channel : h.channels) {
                all.add(Map.entry(connection, channel));
            }
        });
        rebuilds.increment();
        if (lost || !all.isEmpty()) {
            log.info(
                    "Presence: telling the store this instance's {} holders again ({})",
                    all.size(),
                    lost ? "it no longer knew this instance" : "after changes it could not be told of");
        }
        return Flux.fromIterable(all)
                .flatMap(
                        e -> {
                            String connection = e.getKey();
                            String channel = e.getValue();
                            Held h = held.get(connection);
                            if (h == null) {
                                return Mono.empty();
                            }
                            return h.inTurn(() -> !h.channels.contains(channel)
                                    ? Mono.empty()
                                    : store.add(channel, h.user, connection, h.info)
                                            .then(
                                                    h.lingering
                                                            ? store.linger(channel, h.user, connection)
                                                            : Mono.empty()));
                        },
                        REBUILD_CONCURRENCY)
                .then(store.prune(this::isHeld));
    }

    /** Channels with a local join/leave listener (for tests). */
    int listenedChannels() {
        return listeners.size();
    }

    /** The users this instance's connections hold present in {@code channel} (for tests). */
    Set<String> usersHeldIn(String channel) {
        Set<String> users = new HashSet<>();
        held.values().forEach(h -> {
            if (h.channels.contains(channel)) {
                users.add(h.user);
            }
        });
        return users;
    }

    /** Tells the store every holder again now, as after an outage (for tests). */
    Mono<Void> rebuildNow() {
        return rebuild(false);
    }

    /** Whether {@code holder} is still held by this instance's connections. */
    private boolean isHeld(PresenceStore.Holder holder) {
        Held h = held.get(holder.connection());
        return h != null && h.channels.contains(holder.channel());
    }

    @Override
    public void close() {
        tickTask.dispose();
        held.values().forEach(h -> {
            Disposable d = h.linger;
            if (d != null) {
                d.dispose();
            }
        });
        store.close();
    }
}
