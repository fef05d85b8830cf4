package io.switchboard.matchmaking;

import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.LongSupplier;
import reactor.core.publisher.Mono;

/**
 * The embedded mode's matchmaker: the whole state in this JVM, every operation under one lock. The queue keeps
 * join order, which is waiting order. Each user's record holds its recent partners and the blocks it made or had
 * loaded, and goes when the user is gone (see {@link Matchmaker}). Pairings and endings whose events are not
 * confirmed yet wait in {@code pending}, by id ({@code f:} or {@code e:} and the match).
 */
public final class MemoryMatchmaker implements Matchmaker {
    /** A record of a user that never connected (only blocked or had blocks loaded) goes after this long at least. */
    public static final long FORGET_UNCONNECTED_MS = 600_000;

    private static final char[] ALPHABET =
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".toCharArray();

    private final MatchmakerSettings settings;
    private final LongSupplier clock;
    private final SecureRandom random = new SecureRandom();
    private final Map<String, User> users = new HashMap<>();
    private final LinkedHashSet<String> queue = new LinkedHashSet<>();
    private final Map<String, Long> leases = new HashMap<>();
    private final Map<String, Pending> pending = new LinkedHashMap<>();
    private long enqueued;

    /** @param clock wall-clock milliseconds */
    public MemoryMatchmaker(MatchmakerSettings settings, LongSupplier clock) {
        this.settings = settings;
        this.clock = clock;
    }

    /** A pairing or an ending (one of the two) whose events are not confirmed yet. */
    private record Pending(Pairing pairing, Ended ended, long due, int attempts) {
        Pending next(long due) {
            return new Pending(pairing, ended, due, attempts + 1);
        }
    }

    private static final class User {
        final String id;
        String session;
        String node;
        List<String> interests = List.of();
        long joinedAt;
        long seq;
        String match;
        String partner;
        long droppedAt = -1;
        /** When the user is gone unless it connects again: its last drop plus the grace; -1 while connected. */
        long goneAt = -1;

        final ArrayDeque<String> recent = new ArrayDeque<>(4);
        /** The users this one blocked (counted toward maxBlocks), and blocks loaded from the store; null: none. */
        Set<String> blocked;

        Set<String> restored;

        User(String id) {
            this.id = id;
        }

        boolean blocks(String other) {
            return blocked != null && blocked.contains(other) || restored != null && restored.contains(other);
        }
    }

    /**
     * The user's record; one made by a block or a restore (the user has not connected here) is gone after
     * {@link #FORGET_UNCONNECTED_MS} or twice the grace unless the user connects, as Redis expires such keys.
     */
    private User user(String id) {
        return users.computeIfAbsent(id, i -> {
            User u = new User(i);
            u.goneAt = clock.getAsLong() + Math.max(FORGET_UNCONNECTED_MS, 2 * settings.resumeGraceMs());
            return u;
        });
    }

    /** {@code u} is connected as {@code session} on {@code node}. */
    private static void connect(User u, String session, String node) {
        u.session = session;
        u.node = node;
        u.goneAt = -1;
    }

    /** Users with a record (connected, queued, matched, or gone and not yet forgotten); for tests. */
    synchronized int users() {
        return users.size();
    }

    private <T> Mono<T> locked(Callable<T> action) {
        return Mono.fromCallable(() -> {
            synchronized (this) {
                return action.call();
            }
        });
    }

    @Override
    public Mono<Outcome> join(String user, String session, String node, List<String> interests) {
        return locked(() -> {
            User u = users.get(user);
            if (u != null && (u.match != null || queue.contains(user))) {
                return Outcome.of(Outcome.CONFLICT);
            }
            u = user(user);
            connect(u, session, node);
            u.interests = List.copyOf(new LinkedHashSet<>(interests));
            return enqueue(u, new ArrayList<>());
        });
    }

    private Outcome enqueue(User u, List<Ended> ended) {
        u.joinedAt = clock.getAsLong();
        u.seq = ++enqueued;
        queue.add(u.id);
        Pairing p = tryPair(u, u.joinedAt);
        if (p == null) {
            return new Outcome(Outcome.QUEUED, ended, List.of(), null, null);
        }
        return new Outcome(Outcome.MATCHED, ended, List.of(p), u.partner, u.match);
    }

    @Override
    public Mono<Outcome> next(String user, String session, String node) {
        return locked(() -> {
            User u = user(user);
            connect(u, session, node);
            List<Ended> ended = new ArrayList<>();
            if (u.match != null) {
                ended.add(end(u, Ended.NEXT, true));
            } else if (queue.contains(user)) {
                return new Outcome(Outcome.QUEUED, ended, List.of(), null, null);
            }
            return enqueue(u, ended);
        });
    }

    @Override
    public Mono<Outcome> leave(String user) {
        return locked(() -> {
            User u = users.get(user);
            List<Ended> ended = new ArrayList<>();
            if (u != null) {
                if (u.match != null) {
                    ended.add(end(u, Ended.LEFT, true));
                }
                queue.remove(user);
            }
            return new Outcome(Outcome.IDLE, ended, List.of(), null, null);
        });
    }

    @Override
    public Mono<Outcome> partnerOf(String user, String match) {
        return locked(() -> {
            User u = users.get(user);
            if (u == null || u.match == null || !u.match.equals(match)) {
                return Outcome.of(Outcome.NOTHING);
            }
            return new Outcome(Outcome.MATCHED, List.of(), List.of(), u.partner, u.match);
        });
    }

    @Override
    public Mono<Outcome> block(String user, String other) {
        return locked(() -> {
            User u = user(user);
            if (u.blocked == null) {
                u.blocked = new HashSet<>();
            }
            if (!u.blocked.contains(other)) {
                if (u.blocked.size() >= settings.maxBlocks()) {
                    return Outcome.of(Outcome.TOO_MANY);
                }
                u.blocked.add(other);
            }
            List<Ended> ended = new ArrayList<>();
            if (other.equals(u.partner)) {
                ended.add(end(u, Ended.LEFT, false));
            }
            return new Outcome(Outcome.NOTHING, ended, List.of(), null, null);
        });
    }

    @Override
    public Mono<Outcome> restoreBlock(String user, String other) {
        return locked(() -> {
            User u = user(user);
            if (u.restored == null) {
                u.restored = new HashSet<>();
            }
            u.restored.add(other);
            return Outcome.of(Outcome.NOTHING);
        });
    }

    @Override
    public Mono<Outcome> dropped(String user, String session) {
        return locked(() -> {
            User u = users.get(user);
            if (u == null || !session.equals(u.session)) {
                return Outcome.of(Outcome.NOTHING);
            }
            u.goneAt = clock.getAsLong() + settings.resumeGraceMs();
            if (queue.remove(user)) {
                return Outcome.of(Outcome.IDLE);
            }
            if (u.match == null) {
                return Outcome.of(Outcome.NOTHING);
            }
            u.droppedAt = clock.getAsLong();
            return new Outcome(Outcome.MATCHED, List.of(), List.of(), u.partner, u.match);
        });
    }

    @Override
    public Mono<Outcome> returned(String user, String session, String node) {
        return locked(() -> {
            User u = user(user);
            connect(u, session, node);
            if (u.match != null && u.droppedAt >= 0) {
                u.droppedAt = -1;
                return new Outcome(Outcome.MATCHED, List.of(), List.of(), u.partner, u.match);
            }
            return Outcome.of(Outcome.NOTHING);
        });
    }

    @Override
    public Mono<Outcome> expire(String user, String session) {
        return locked(() -> {
            User u = users.get(user);
            long now = clock.getAsLong();
            if (u == null
                    || !session.equals(u.session)
                    || u.match == null
                    || u.droppedAt < 0
                    || now - u.droppedAt < settings.resumeGraceMs()) {
                return Outcome.of(Outcome.NOTHING);
            }
            return new Outcome(Outcome.IDLE, List.of(end(u, Ended.DISCONNECTED, false)), List.of(), null, null);
        });
    }

    @Override
    public Mono<Outcome> sweep() {
        return locked(() -> {
            long now = clock.getAsLong();
            List<Ended> ended = new ArrayList<>();
            for (Iterator<String> it = queue.iterator(); it.hasNext(); ) {
                User u = users.get(it.next());
                if (!alive(u.node, now)) {
                    it.remove();
                }
            }
            for (User u : new ArrayList<>(users.values())) {
                if (u.session != null && u.goneAt < 0 && !alive(u.node, now)) {
                    // its instance died: gone unless it connects again within the grace
                    u.goneAt = now + settings.resumeGraceMs();
                }
                if (u.match == null || alive(u.node, now)) {
                    continue;
                }
                if (u.droppedAt < 0) {
                    u.droppedAt = now;
                } else if (now - u.droppedAt >= settings.resumeGraceMs()) {
                    ended.add(end(u, Ended.DISCONNECTED, false));
                }
            }
            Set<String> forgotten = new HashSet<>();
            users.values()
                    .removeIf(u -> u.goneAt >= 0
                            && now - u.goneAt >= 0
                            && u.match == null
                            && !queue.contains(u.id)
                            && forgotten.add(u.id));
            // nobody is left to tell of an ending
            pending.values()
                    .removeIf(p ->
                            p.ended() != null && forgotten.contains(p.ended().partner()));
            List<Pairing> pairings = new ArrayList<>();
            for (String id : new ArrayList<>(queue)) {
                User u = users.get(id);
                if (queue.contains(id)) {
                    Pairing p = tryPair(u, now);
                    if (p != null) {
                        pairings.add(p);
                    }
                }
            }
            return new Outcome(Outcome.NOTHING, ended, pairings, null, null);
        });
    }

    @Override
    public Mono<Void> announced(Outcome outcome) {
        return locked(() -> {
                    outcome.pairings().forEach(p -> pending.remove(foundId(p.match())));
                    outcome.ended().forEach(e -> pending.remove(endedId(e.match())));
                    return true;
                })
                .then();
    }

    @Override
    public Mono<Outcome> unannounced() {
        return locked(() -> {
            long now = clock.getAsLong();
            List<Pairing> pairings = new ArrayList<>();
            List<Ended> ended = new ArrayList<>();
            for (Iterator<Pending> it = pending.values().iterator();
                    it.hasNext() && pairings.size() + ended.size() < MatchmakerSettings.ANNOUNCE_BATCH; ) {
                Pending p = it.next();
                if (p.due() > now) {
                    continue;
                }
                if (p.pairing() != null) {
                    pairings.add(p.pairing());
                } else {
                    ended.add(p.ended());
                }
                if (p.attempts() + 1 >= MatchmakerSettings.ANNOUNCE_ATTEMPTS) {
                    it.remove();
                }
            }
            pairings.forEach(p -> pending.computeIfPresent(
                    foundId(p.match()), (id, old) -> old.next(now + settings.announceTimeoutMs())));
            ended.forEach(e -> pending.computeIfPresent(
                    endedId(e.match()), (id, old) -> old.next(now + settings.announceTimeoutMs())));
            return new Outcome(Outcome.NOTHING, ended, pairings, null, null);
        });
    }

    private static String foundId(String match) {
        return "f:" + match;
    }

    private static String endedId(String match) {
        return "e:" + match;
    }

    @Override
    public Mono<Void> renewLease(String node) {
        return locked(() -> leases.put(node, clock.getAsLong() + settings.nodeLeaseMs()))
                .then();
    }

    @Override
    public Mono<Long> queueLength() {
        return locked(() -> (long) queue.size());
    }

    @Override
    public void close() {}

    // ---------------------------------------------------------------- rules

    /** Pairs {@code u} with the best waiting partner; null when there is none yet. */
    private Pairing tryPair(User u, long now) {
        User shared = null;
        User acceptable = null;
        int scanned = 0;
        for (String id : queue) {
            if (scanned++ >= settings.scanLimit()) {
                break;
            }
            if (id.equals(u.id)) {
                continue;
            }
            User c = users.get(id);
            if (!compatible(u, c, now)) {
                continue;
            }
            if (sharesInterest(u, c)) {
                shared = c;
                break;
            }
            if (acceptable == null && acceptsAnyone(u, now) && acceptsAnyone(c, now)) {
                acceptable = c;
            }
        }
        User partner = shared != null ? shared : acceptable;
        return partner == null ? null : pair(u, partner, now);
    }

    private boolean compatible(User a, User b, long now) {
        return !a.id.equals(b.id)
                && b.match == null
                && a.match == null
                && alive(b.node, now)
                && !a.blocks(b.id)
                && !b.blocks(a.id)
                && !a.recent.contains(b.id)
                && !b.recent.contains(a.id);
    }

    private boolean acceptsAnyone(User u, long now) {
        return u.interests.isEmpty() || now - u.joinedAt >= settings.interestWaitMs();
    }

    private static boolean sharesInterest(User a, User b) {
        for (String i : a.interests) {
            if (b.interests.contains(i)) {
                return true;
            }
        }
        return false;
    }

    private boolean alive(String node, long now) {
        Long until = leases.get(node);
        return until == null || until > now;
    }

    private Pairing pair(User a, User b, long now) {
        queue.remove(a.id);
        queue.remove(b.id);
        User initiator = a.seq < b.seq ? a : b;
        User other = initiator == a ? b : a;
        String match = "m_" + randomId();
        a.match = match;
        b.match = match;
        a.partner = b.id;
        b.partner = a.id;
        a.droppedAt = -1;
        b.droppedAt = -1;
        List<String> shared = new ArrayList<>();
        for (String i : initiator.interests) {
            if (other.interests.contains(i)) {
                shared.add(i);
            }
        }
        Pairing p = new Pairing(match, initiator.id, other.id, shared, now - initiator.joinedAt, now - other.joinedAt);
        pending.put(foundId(match), new Pending(p, null, now + settings.announceTimeoutMs(), 0));
        return p;
    }

    /** Ends {@code u}'s match; with {@code recent}, each becomes one of the other's recent partners. */
    private Ended end(User u, String reason, boolean recent) {
        User p = users.get(u.partner);
        String match = u.match;
        u.match = null;
        u.partner = null;
        u.droppedAt = -1;
        if (p != null) {
            p.match = null;
            p.partner = null;
            p.droppedAt = -1;
        }
        if (recent && p != null) {
            remember(u, p.id);
            remember(p, u.id);
        }
        Ended e = new Ended(match, u.id, p == null ? null : p.id, reason);
        // a match.found of a match that has ended would only mislead
        pending.remove(foundId(match));
        if (p != null) {
            pending.put(endedId(match), new Pending(null, e, clock.getAsLong() + settings.announceTimeoutMs(), 0));
        }
        return e;
    }

    private void remember(User u, String partner) {
        u.recent.remove(partner);
        u.recent.addFirst(partner);
        while (u.recent.size() > settings.avoidRecent()) {
            u.recent.removeLast();
        }
    }

    private String randomId() {
        char[] c = new char[10];
        for (int i = 0; i < c.length; i++) {
            c[i] = ALPHABET[random.nextInt(ALPHABET.length)];
        }
        return new String(c);
    }
}
