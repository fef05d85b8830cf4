package io.switchboard.gateway.channel;

import io.switchboard.gateway.Ids;
import io.switchboard.protocol.StreamPosition;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.function.Predicate;
import reactor.core.publisher.Mono;

/**
 * The embedded mode's history, in this JVM's memory. A channel's state (offset counter, epoch, last messages)
 * is created on first use and dropped after {@code ttl} without use and without subscribers; a channel used
 * again after that starts a new epoch, which tells clients that recovery is not possible.
 */
public final class MemoryHistory implements History {
    private final Map<String, Log> logs = new ConcurrentHashMap<>();
    private final int size;
    private final long ttlNanos;
    private final LongSupplier nanoTime;
    private final Ids ids;
    private final AtomicLong messages = new AtomicLong();

    public MemoryHistory(int size, long ttlMillis, LongSupplier nanoTime, Ids ids) {
        this.size = size;
        this.ttlNanos = TimeUnit.MILLISECONDS.toNanos(ttlMillis);
        this.nanoTime = nanoTime;
        this.ids = ids;
    }

    /**
     * Appends a publication with the channel's next offset and hands it to {@code then} while the channel is
     * still locked, so that every channel's publications reach {@code then} in offset order.
     */
    public Publication append(String channel, String type, String from, String data, long publishedNanos,
                              Consumer<Publication> then) {
        Log log = logs.computeIfAbsent(channel, c -> new Log(ids.epoch()));
        synchronized (log) {
            if (log.dropped) {
                return append(channel, type, from, data, publishedNanos, then);
            }
            long now = nanoTime.getAsLong();
            log.expire(now);
            Publication p = new Publication(channel, ++log.latest, log.epoch, type, from, data, publishedNanos);
            if (size > 0) {
                log.held.addLast(new Held(p, now));
                messages.incrementAndGet();
                if (log.held.size() > size) {
                    log.held.pollFirst();
                    messages.decrementAndGet();
                }
            }
            log.touched = now;
            then.accept(p);
            return p;
        }
    }

    @Override
    public Mono<HistoryRead> read(String channel, StreamPosition since) {
        return Mono.fromSupplier(() -> readNow(channel, since));
    }

    HistoryRead readNow(String channel, StreamPosition since) {
        Log log = logs.computeIfAbsent(channel, c -> new Log(ids.epoch()));
        synchronized (log) {
            if (log.dropped) {
                return readNow(channel, since);
            }
            long now = nanoTime.getAsLong();
            log.expire(now);
            log.touched = now;
            if (since == null) {
                return new HistoryRead(log.latest, log.epoch, false, List.of());
            }
            if (!since.epoch().equals(log.epoch) || since.offset() > log.latest) {
                return new HistoryRead(log.latest, log.epoch, false, List.of());
            }
            long oldestHeld = log.held.isEmpty() ? log.latest + 1 : log.held.peekFirst().publication.offset();
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

    /** Drops the state of channels unused for the TTL that {@code inUse} does not claim; returns how many. */
    public int evictIdle(Predicate<String> inUse) {
        long now = nanoTime.getAsLong();
        int evicted = 0;
        for (Iterator<Map.Entry<String, Log>> it = logs.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Log> e = it.next();
            Log log = e.getValue();
            synchronized (log) {
                log.expire(now);
                if (now - log.touched > ttlNanos && !inUse.test(e.getKey())) {
                    log.dropped = true;
                    messages.addAndGet(-log.held.size());
                    it.remove();
                    evicted++;
                }
            }
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

    private record Held(Publication publication, long storedNanos) {
    }

    private final class Log {
        final String epoch;
        final ArrayDeque<Held> held = new ArrayDeque<>();
        long latest;
        long touched = nanoTime.getAsLong();
        boolean dropped;

        Log(String epoch) {
            this.epoch = epoch;
        }

        void expire(long now) {
            while (!held.isEmpty() && now - held.peekFirst().storedNanos > ttlNanos) {
                held.pollFirst();
                messages.decrementAndGet();
            }
        }
    }
}
