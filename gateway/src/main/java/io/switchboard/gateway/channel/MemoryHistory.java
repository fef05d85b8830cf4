package io.switchboard.gateway.channel;

import io.switchboard.gateway.id.Ids;
import io.switchboard.protocol.StreamPosition;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * The embedded mode's history, in this JVM's memory. A channel's state (offset counter, epoch, last messages)
 * is created on first use and dropped after {@code ttl} without use and without subscribers; a channel used
 * again after that starts a new epoch, which tells clients that recovery is not possible.
 *
 * <p>All channels and inboxes together hold at most {@code budget} bytes (an estimate of the heap they take:
 * each message's text plus {@link #MESSAGE_OVERHEAD}, each channel's name plus {@link #CHANNEL_OVERHEAD}). When
 * an append or a read would go over it, the least recently used histories go first, whole: a channel without
 * local subscribers is dropped with its offset counter and epoch (its next use starts a new epoch at offset 1,
 * so no offset is handed out twice in an epoch); one with subscribers keeps its counter and epoch and loses its
 * messages. Either way a {@code since} that needed them is answered {@code recovered:false}. Each such eviction
 * is counted in {@link #evictions()}.
 */
public final class MemoryHistory implements History {
    private static final Logger log = LoggerFactory.getLogger(MemoryHistory.class);
    /** Estimated heap of one held message beyond its text: the publication, its entry and the strings' headers. */
    public static final int MESSAGE_OVERHEAD = 160;
    /** Estimated heap of one channel's state beyond its name: map entries, counter, epoch, recency entry. */
    public static final int CHANNEL_OVERHEAD = 320;

    private final Map<String, Log> logs = new ConcurrentHashMap<>();
    /** Every live log, least recently used first; guarded by itself, taken only after a log's own lock. */
    private final LinkedHashMap<Log, Boolean> recency = new LinkedHashMap<>(256, 0.75f, true);

    private final int size;
    private final long ttlNanos;
    private final long budget;
    private final Predicate<String> inUse;
    private final LongSupplier nanoTime;
    private final Ids ids;
    private final AtomicLong messages = new AtomicLong();
    private final AtomicLong bytes = new AtomicLong();
    private final AtomicLong evictions = new AtomicLong();
    /** Whether the budget was reached since the last time the history was back under half of it. */
    private volatile boolean overBudget;

    /** A history without a budget (for tests of the other rules). */
    public MemoryHistory(int size, long ttlMillis, LongSupplier nanoTime, Ids ids) {
        this(size, ttlMillis, Long.MAX_VALUE, channel -> false, nanoTime, ids);
    }

    /**
     * @param size messages kept per channel ({@code SWITCHBOARD_HISTORY_SIZE})
     * @param ttlMillis how long they stay ({@code SWITCHBOARD_HISTORY_TTL_MS})
     * @param budgetBytes the most all histories together may hold ({@code SWITCHBOARD_HISTORY_BUDGET_BYTES})
     * @param inUse whether a channel has local subscribers: its counter and epoch then survive an eviction
     */
    public MemoryHistory(
            int size, long ttlMillis, long budgetBytes, Predicate<String> inUse, LongSupplier nanoTime, Ids ids) {
        this.size = size;
        this.ttlNanos = TimeUnit.MILLISECONDS.toNanos(ttlMillis);
        this.budget = budgetBytes;
        this.inUse = inUse;
        this.nanoTime = nanoTime;
        this.ids = ids;
    }

    /**
     * Appends a publication with the channel's next offset and hands it to {@code then} while the channel is
     * still locked, so that every channel's publications reach {@code then} in offset order.
     */
    public Publication append(
            String channel, String type, String from, String data, long publishedNanos, Consumer<Publication> then) {
        Publication p;
        Log log = logOf(channel);
        synchronized (log) {
            if (log.dropped) {
                return append(channel, type, from, data, publishedNanos, then);
            }
            long now = nanoTime.getAsLong();
            log.expire(now);
            p = new Publication(channel, ++log.latest, log.epoch, type, from, data, publishedNanos);
            if (size > 0) {
                long cost = MESSAGE_OVERHEAD + textBytes(from) + textBytes(data);
                log.held.addLast(new Held(p, now, cost));
                log.messageBytes += cost;
                bytes.addAndGet(cost);
                messages.incrementAndGet();
                if (log.held.size() > size) {
                    log.removeOldest();
                }
            }
            log.touch(now);
            then.accept(p);
        }
        keepWithinBudget();
        return p;
    }

    @Override
    public Mono<HistoryRead> read(String channel, StreamPosition since) {
        return Mono.fromSupplier(() -> {
            HistoryRead read = readNow(channel, since);
            keepWithinBudget();
            return read;
        });
    }

    HistoryRead readNow(String channel, StreamPosition since) {
        Log log = logOf(channel);
        synchronized (log) {
            if (log.dropped) {
                return readNow(channel, since);
            }
            long now = nanoTime.getAsLong();
            log.expire(now);
            log.touch(now);
            if (since == null) {
                return new HistoryRead(log.latest, log.epoch, false, List.of());
            }
            if (!since.epoch().equals(log.epoch) || since.offset() > log.latest) {
                return new HistoryRead(log.latest, log.epoch, false, List.of());
            }
            long oldestHeld = log.held.isEmpty()
                    ? log.latest + 1
                    : log.held.peekFirst().publication.offset();
            if (since.offset() + 1 < oldestHeld) {
                return new HistoryRead(log.latest, log.epoch, false, List.of());
            }
            List<Publication> after = new ArrayList<>();
            for (Held h : log.held) {
                if (h.publication.offset() > since.offset()) {
                    after.add(h.publication);
                }
            }
            return new HistoryRead(log.latest, log.epoch, true, after);
        }
    }

    private Log logOf(String channel) {
        return logs.computeIfAbsent(channel, c -> {
            Log fresh = new Log(c, ids.epoch(), CHANNEL_OVERHEAD + textBytes(c));
            bytes.addAndGet(fresh.ownBytes);
            return fresh;
        });
    }

    /**
     * While over the budget, drops the least recently used histories (see the class comment). Each log is looked
     * at once per call at most: the logs of channels in use that are left with no message cannot be made
     * smaller, and go to the back.
     */
    private void keepWithinBudget() {
        if (bytes.get() <= budget) {
            return;
        }
        if (!overBudget) {
            overBudget = true;
            log.warn(
                    "History reached its budget of {} bytes (SWITCHBOARD_HISTORY_BUDGET_BYTES): the least recently"
                            + " used channel and inbox histories are dropped, counted in switchboard_history_evictions_total;"
                            + " a since that needed them is answered recovered:false",
                    budget);
        }
        int visits;
        synchronized (recency) {
            visits = recency.size();
        }
        while (bytes.get() > budget && visits-- > 0) {
            Map.Entry<Log, Boolean> eldest;
            synchronized (recency) {
                Iterator<Map.Entry<Log, Boolean>> it = recency.entrySet().iterator();
                if (!it.hasNext()) {
                    return;
                }
                eldest = it.next();
            }
            Log victim = eldest.getKey();
            synchronized (victim) {
                if (victim.dropped) {
                    continue;
                }
                if (!inUse.test(victim.channel)) {
                    drop(victim);
                    evictions.incrementAndGet();
                } else {
                    if (!victim.held.isEmpty()) {
                        victim.clearMessages();
                        evictions.incrementAndGet();
                    }
                    synchronized (recency) {
                        recency.put(victim, Boolean.TRUE);
                    }
                }
            }
        }
    }

    /** Drops a log whole (caller holds its lock): its next use starts a new epoch. */
    private void drop(Log victim) {
        victim.clearMessages();
        victim.dropped = true;
        logs.remove(victim.channel, victim);
        bytes.addAndGet(-victim.ownBytes);
        synchronized (recency) {
            recency.remove(victim);
        }
    }

    /** Drops the state of channels unused for the TTL that {@code inUse} does not claim; returns how many. */
    public int evictIdle(Predicate<String> inUse) {
        long now = nanoTime.getAsLong();
        int evicted = 0;
        for (Map.Entry<String, Log> e : logs.entrySet()) {
            Log log = e.getValue();
            synchronized (log) {
                if (log.dropped) {
                    continue;
                }
                log.expire(now);
                if (now - log.touched > ttlNanos && !inUse.test(e.getKey())) {
                    drop(log);
                    evicted++;
                }
            }
        }
        if (overBudget && bytes.get() <= budget / 2) {
            overBudget = false;
            log.info(
                    "History is back under half of its budget: {} of {} bytes (SWITCHBOARD_HISTORY_BUDGET_BYTES)",
                    bytes.get(),
                    budget);
        }
        return evicted;
    }

    @Override
    public long channels() {
        return logs.size();
    }

    @Override
    public long messages() {
        return messages.get();
    }

    /** The estimated bytes held over all channels and inboxes; at most the budget but for appends in flight. */
    public long bytes() {
        return bytes.get();
    }

    /** Histories dropped or emptied to stay within the budget, since start. */
    public long evictions() {
        return evictions.get();
    }

    /** The estimated heap of a string's characters: one byte each when all are Latin-1 (compact strings), else two. */
    static long textBytes(String s) {
        if (s == null) {
            return 0;
        }
        int n = s.length();
        for (int i = 0; i < n; i++) {
            if (s.charAt(i) > 0xFF) {
                return 2L * n;
            }
        }
        return n;
    }

    private record Held(Publication publication, long storedNanos, long cost) {}

    private final class Log {
        final String channel;
        final String epoch;
        final ArrayDeque<Held> held = new ArrayDeque<>();
        /** The estimated bytes of the log itself, its messages apart. */
        final long ownBytes;

        long messageBytes;
        long latest;
        long touched = nanoTime.getAsLong();
        boolean dropped;

        Log(String channel, String epoch, long ownBytes) {
            this.channel = channel;
            this.epoch = epoch;
            this.ownBytes = ownBytes;
        }

        /** Marks the log as just used (caller holds its lock). */
        void touch(long now) {
            touched = now;
            synchronized (recency) {
                recency.put(this, Boolean.TRUE);
            }
        }

        void expire(long now) {
            while (!held.isEmpty() && now - held.peekFirst().storedNanos > ttlNanos) {
                removeOldest();
            }
        }

        void removeOldest() {
            Held h = held.pollFirst();
            messageBytes -= h.cost;
            bytes.addAndGet(-h.cost);
            messages.decrementAndGet();
        }

        void clearMessages() {
            bytes.addAndGet(-messageBytes);
            messages.addAndGet(-held.size());
            messageBytes = 0;
            held.clear();
        }
    }
}
