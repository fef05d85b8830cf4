package io.switchboard.gateway.events;

import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import reactor.core.publisher.Mono;

/**
 * The embedded mode's lineage: one map of this process's connections. A connection that ended or was resumed is
 * remembered for {@code keepMs} (longer than the resume grace), so that a late resume of it is decided right.
 */
public final class MemorySessionLineage implements SessionLineage {
    private final Map<String, Rec> records = new HashMap<>();
    private final long keepNanos;
    private final LongSupplier nanoTime;
    private long nextPurgeNanos;

    private record Rec(String origin, boolean continued, boolean ended, long untilNanos) {}

    public MemorySessionLineage(long keepMs, LongSupplier nanoTime) {
        this.keepNanos = TimeUnit.MILLISECONDS.toNanos(keepMs);
        this.nanoTime = nanoTime;
        this.nextPurgeNanos = nanoTime.getAsLong() + keepNanos;
    }

    @Override
    public synchronized Mono<Void> opened(String user, String session) {
        purge();
        records.put(session, new Rec(session, false, false, Long.MAX_VALUE));
        return Mono.empty();
    }

    @Override
    public synchronized Mono<String> resumed(String user, String previous, String session) {
        purge();
        Rec p = records.get(previous);
        if (p == null || p.ended()) {
            return Mono.empty();
        }
        records.put(previous, new Rec(p.origin(), true, false, nanoTime.getAsLong() + keepNanos));
        records.put(session, new Rec(p.origin(), false, false, Long.MAX_VALUE));
        return Mono.just(p.origin());
    }

    @Override
    public synchronized Mono<Boolean> ended(String user, String session) {
        Rec r = records.get(session);
        if (r != null && r.continued()) {
            return Mono.just(false);
        }
        records.put(session, new Rec(r == null ? session : r.origin(), false, true, nanoTime.getAsLong() + keepNanos));
        return Mono.just(true);
    }

    @Override
    public Mono<Void> forget(String user, String session) {
        return Mono.empty();
    }

    /** Connections in the map (for tests). */
    synchronized int size() {
        return records.size();
    }

    private void purge() {
        long now = nanoTime.getAsLong();
        if (now - nextPurgeNanos < 0) {
            return;
        }
        nextPurgeNanos = now + keepNanos;
        for (Iterator<Rec> i = records.values().iterator(); i.hasNext(); ) {
            Rec r = i.next();
            if (r.untilNanos() != Long.MAX_VALUE && r.untilNanos() - now <= 0) {
                i.remove();
            }
        }
    }
}
