package io.switchboard.gateway.session;

import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import reactor.core.publisher.Mono;

/**
 * The embedded mode's registry: a lock-free map from user id to the live session on this instance, and the
 * sessions that dropped within the grace.
 */
public final class LocalSessionRegistry implements SessionRegistry {
    private final Map<String, SessionHandle> byUser = new ConcurrentHashMap<>();
    private final Map<String, Dropped> dropped = new ConcurrentHashMap<>();
    private final long graceNanos;
    private final LongSupplier nanoTime;

    private record Dropped(String session, long untilNanos) {}

    public LocalSessionRegistry(long graceMs, LongSupplier nanoTime) {
        this.graceNanos = TimeUnit.MILLISECONDS.toNanos(graceMs);
        this.nanoTime = nanoTime;
    }

    @Override
    public void register(SessionHandle session) {
        dropped.remove(session.userId());
        SessionHandle previous = byUser.put(session.userId(), session);
        if (previous != null && previous != session) {
            previous.replaced();
        }
    }

    @Override
    public Mono<Void> claim(SessionHandle session) {
        return Mono.empty();
    }

    @Override
    public void unregister(SessionHandle session, boolean resumable) {
        // the resumable record goes in before the live one goes out, so the user never looks gone in between
        Dropped mark = resumable ? new Dropped(session.id(), nanoTime.getAsLong() + graceNanos) : null;
        if (mark != null && byUser.get(session.userId()) == session) {
            dropped.put(session.userId(), mark);
        }
        if (!byUser.remove(session.userId(), session) && mark != null) {
            dropped.remove(session.userId(), mark);
        }
    }

    private Dropped droppedWithinGrace(String userId) {
        Dropped d = dropped.get(userId);
        if (d != null && d.untilNanos - nanoTime.getAsLong() <= 0) {
            dropped.remove(userId, d);
            return null;
        }
        return d;
    }

    @Override
    public Mono<Resumable> resumable(String userId, String session) {
        SessionHandle live = byUser.get(userId);
        if (live != null && live.id().equals(session)) {
            return Mono.just(new Resumable(true, live.inboxStart()));
        }
        Dropped d = droppedWithinGrace(userId);
        return Mono.just(d != null && d.session.equals(session) ? new Resumable(true, null) : Resumable.NO);
    }

    @Override
    public SessionHandle local(String userId) {
        return byUser.get(userId);
    }

    @Override
    public Mono<Boolean> isConnected(String userId) {
        SessionHandle live = byUser.get(userId);
        return Mono.just(live != null && live.receivesInbox() || droppedWithinGrace(userId) != null);
    }

    @Override
    public Mono<Boolean> disconnect(String userId) {
        SessionHandle s = byUser.get(userId);
        if (s != null) {
            s.disconnect();
        }
        return Mono.just(s != null);
    }

    @Override
    public int size() {
        return byUser.size();
    }

    @Override
    public Collection<SessionHandle> sessions() {
        return byUser.values();
    }

    @Override
    public void purge() {
        long now = nanoTime.getAsLong();
        dropped.values().removeIf(d -> d.untilNanos - now <= 0);
    }
}
