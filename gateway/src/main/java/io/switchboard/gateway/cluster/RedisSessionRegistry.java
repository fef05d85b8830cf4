package io.switchboard.gateway.cluster;

import io.lettuce.core.Range;
import io.lettuce.core.SetArgs;
import io.switchboard.gateway.session.LocalSessionRegistry;
import io.switchboard.gateway.session.SessionHandle;
import io.switchboard.gateway.session.SessionRegistry;
import io.switchboard.protocol.StreamPosition;
import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * One live connection per user across the cluster. Each user's owner is kept in Redis; a connection whose inbox is
 * subscribed records itself there ({@link #claim}) and tells the previous owner's instance, over its control
 * channel, to close the older connection with 4002. Instances renew a lease in the {@code sb:nodes} sorted set
 * every second; an instance whose lease ran out is dead, and its users count as gone, so a dead instance's users
 * are free within {@code SWITCHBOARD_NODE_LEASE_MS} without any per-user renewal.
 *
 * <p>A user counts as connected (a {@code send} to it says {@code delivered:true}) only through a record that a
 * connection with a subscribed inbox wrote, or the resumable record it left when it dropped: a connection that
 * was welcomed while Redis was away claims its record only once its inbox is subscribed. What Redis could not be
 * told while it was away (a drop, a release) is told when it is back; after it came back empty, every instance
 * records its connections and the resumable drops of the grace again before renewing its lease, and meanwhile a
 * lookup that finds no record waits a moment for the instances that have not yet done so.
 *
 * <p>An owner record is {@code node session}, or {@code node session offset epoch} for a connection whose inbox
 * was subscribed late, from that position, without its client being told a position; a resumable one is
 * {@code - session} with the same optional position, which a resume without {@code inboxSince} replays from.
 */
public final class RedisSessionRegistry implements SessionRegistry, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RedisSessionRegistry.class);
    static final String NODES = RedisKeys.PREFIX + "nodes";
    /** Owner records outlive a session by this much unless renewed; renewal runs every third of it. */
    static final Duration OWNER_TTL = Duration.ofHours(6);
    /** The longest a lookup that finds no record waits for instances to record their users after a data loss. */
    static final Duration RECLAIM_WAIT = Duration.ofSeconds(3);

    private static final Duration RECLAIM_POLL = Duration.ofMillis(50);
    private static final RedisScript RELEASE = new RedisScript("""
            if redis.call('GET', KEYS[1]) == ARGV[1] then return {redis.call('DEL', KEYS[1])} end
            return {0}
            """);
    /**
     * A connection dropped and may be resumed: its record becomes the resumable one, unless another connection
     * owns the user (a connection that never recorded itself, or whose record Redis lost, leaves one too).
     */
    private static final RedisScript KEEP_RESUMABLE = new RedisScript("""
            local owner = redis.call('GET', KEYS[1])
            if owner == ARGV[1] or not owner or string.sub(owner, 1, 2) == '- ' then
              return {redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])}
            end
            return {0}
            """);
    /**
     * Renews a lease; with ARGV[3] = 1 only when it is still there, so that a renewal Redis replays to a server
     * that came back empty does not say the instance is alive before it has recorded its users again.
     */
    private static final RedisScript LEASE = new RedisScript("""
            if ARGV[3] == '1' and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {0} end
            redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
            return {1}
            """);

    private static final RedisScript RENEW = new RedisScript("""
            if redis.call('GET', KEYS[1]) == ARGV[1] then return {redis.call('PEXPIRE', KEYS[1], ARGV[2])} end
            return {0}
            """);

    private final LocalSessionRegistry local = new LocalSessionRegistry(0, System::nanoTime);
    private final RedisConnections redis;
    private final String node;
    private final long leaseMs;
    private final String controlChannel;
    private volatile Set<String> liveNodes;
    private final Disposable leaseTask;
    private final Disposable renewTask;
    private final long graceMs;
    /** Claims in flight: a release of the same session waits for its claim, so it never leaves a stale record. */
    private final Map<SessionHandle, Mono<Void>> claims = new ConcurrentHashMap<>();
    /** Connections that dropped and whose record Redis has not been told of, or must be told again after a loss. */
    private final Map<String, Dropped> dropped = new ConcurrentHashMap<>();
    /** Connections with a subscribed inbox whose claim failed: claimed again with each lease renewal. */
    private final Set<SessionHandle> unrecorded = ConcurrentHashMap.newKeySet();

    private volatile boolean everLeased;
    /** When this instance last found that Redis had lost its data (its lease was gone); 0 before. */
    private volatile long dataLostAtMillis;

    private volatile boolean recoveringLoss;
    private volatile Reclaim reclaim;

    /** A dropped connection: its owner record (null when it never wrote one) and until when it is resumable. */
    private record Dropped(
            String user, String owner, String marker, boolean resumable, long untilMillis, boolean told) {
        Dropped asTold() {
            return new Dropped(user, owner, marker, resumable, untilMillis, true);
        }
    }

    /** The instances that held a lease when Redis lost its data and have not renewed it since; until when. */
    private record Reclaim(Set<String> nodes, long untilMillis) {}

    /** An owner record, parsed. */
    record Owner(String node, String session, StreamPosition inboxStart) {
        static Owner parse(String value) {
            String[] f = value.split(" ");
            if (f.length < 2) {
                return null;
            }
            StreamPosition start = null;
            if (f.length >= 4) {
                try {
                    start = new StreamPosition(Long.parseLong(f[2]), f[3]);
                } catch (IllegalArgumentException e) {
                    start = null;
                }
            }
            return new Owner(f[0], f[1], start);
        }

        boolean resumable() {
            return node.equals(RESUMABLE);
        }

        @Override
        public String toString() {
            return node + " " + session
                    + (inboxStart == null ? "" : " " + inboxStart.offset() + " " + inboxStart.epoch());
        }
    }

    public RedisSessionRegistry(RedisConnections redis, String node, long leaseMs, long graceMs) {
        this.graceMs = graceMs;
        this.redis = redis;
        this.node = node;
        this.leaseMs = leaseMs;
        this.controlChannel = controlChannel(node);
        this.liveNodes = Set.of(node);
        redis.onMessage(this::onControl);
        redis.onReconnect(this::listen);
        // the control subscription is confirmed first: the pub/sub connection has then restored its subscriptions,
        // so a message stored after a record below reaches the connection it names
        redis.onUp(() -> Mono.fromCompletionStage(() -> redis.subscribeControl(controlChannel))
                .then(claimLocalSessions(false))
                .then(tellDropped(false))
                .then(renewLease())
                .doFinally(s -> retryInboxes())
                .subscribe(v -> {}, e -> {}));
        leaseTask = Flux.interval(
                        Duration.ZERO,
                        Duration.ofMillis(Math.max(100, Math.min(1_000, leaseMs / 3))),
                        Schedulers.parallel())
                .onBackpressureDrop()
                .concatMap(t -> renewLease().onErrorResume(e -> Mono.empty()), 1)
                .subscribe();
        renewTask = Flux.interval(OWNER_TTL.dividedBy(3), OWNER_TTL.dividedBy(3), Schedulers.parallel())
                .onBackpressureDrop()
                .concatMap(t -> renewOwners(), 1)
                .subscribe();
    }

    /** The owner record of a session that dropped and may be resumed until the record expires. */
    static final String RESUMABLE = "-";

    static String controlChannel(String node) {
        return RedisKeys.PREFIX + "ctl:" + node;
    }

    static String ownerKey(String userId) {
        return RedisKeys.PREFIX + "{u:" + userId + "}:o";
    }

    private static String owner(SessionHandle s, String node) {
        return new Owner(node, s.id(), s.inboxStart()).toString();
    }

    private static String marker(SessionHandle s) {
        return new Owner(RESUMABLE, s.id(), s.inboxStart()).toString();
    }

    /**
     * Renews this instance's lease now, its control channel subscribed: a start step, so that the instance is
     * known to be alive before it is ready (a user whose record names a node without a lease is not connected).
     */
    public Mono<Void> leaseNow() {
        return Mono.fromCompletionStage(() -> redis.subscribeControl(controlChannel))
                .then(renewLease());
    }

    private Mono<Void> renewLease() {
        long now = System.currentTimeMillis();
        String until = Long.toString(now + leaseMs);
        String[] key = {NODES};
        return listenOnce()
                .then(LEASE.<List<Object>>run(redis, key, node, until, everLeased ? "1" : "0"))
                .flatMap(r -> Long.valueOf(1).equals(r.get(0))
                        ? Mono.<Void>empty()
                        : dataLost()
                                .then(LEASE.<List<Object>>run(redis, key, node, until, "0"))
                                .then())
                .then(Mono.fromRunnable(() -> {
                    everLeased = true;
                    recoveringLoss = false;
                }))
                .then(claimUnrecorded())
                .then(redis.execute(NODES, c -> c.zrangebyscore(NODES, Range.create((double) now, Double.MAX_VALUE))))
                .doOnNext(nodes -> {
                    Set<String> live = new HashSet<>(nodes);
                    live.add(node);
                    liveNodes = Set.copyOf(live);
                    reclaimed(live);
                })
                .then(redis.execute(
                        NODES,
                        c -> c.zremrangebyscore(NODES, Range.create(0d, (double)
                                (now - Duration.ofDays(1).toMillis())))))
                .then();
    }

    /**
     * Redis no longer has this instance's lease though it had: it lost its data. Records this instance's
     * connections and resumable drops again, once its subscriptions are back (so that a message stored after the
     * record reaches them), before the lease says it is alive; until the other instances that were alive have
     * done the same, lookups that find no record wait for them a moment.
     */
    private Mono<Void> dataLost() {
        dataLostAtMillis = System.currentTimeMillis();
        Set<String> others = new HashSet<>(liveNodes);
        others.remove(node);
        long until = System.currentTimeMillis() + leaseMs;
        Reclaim was = reclaim;
        if (was != null && was.untilMillis() > System.currentTimeMillis()) {
            others.addAll(was.nodes());
        }
        reclaim = others.isEmpty() ? null : new Reclaim(Set.copyOf(others), until);
        if (!recoveringLoss) {
            recoveringLoss = true;
            log.warn(
                    "Redis at {} no longer has this instance's lease (it lost its data): recording {} connections"
                            + " and the resumable drops again",
                    redis.hosts(),
                    local.size());
        }
        return Mono.fromCompletionStage(() -> redis.subscribeControl(controlChannel))
                .then(claimLocalSessions(true))
                .then(tellDropped(true));
    }

    private void reclaimed(Set<String> live) {
        Reclaim r = reclaim;
        if (r == null) {
            return;
        }
        Set<String> left = new HashSet<>(r.nodes());
        left.removeAll(live);
        reclaim = left.isEmpty() || r.untilMillis() <= System.currentTimeMillis()
                ? null
                : new Reclaim(Set.copyOf(left), r.untilMillis());
    }

    private volatile boolean listening;

    private Mono<Void> listenOnce() {
        if (listening) {
            return Mono.empty();
        }
        return Mono.fromCompletionStage(() -> redis.subscribeControl(controlChannel))
                .doOnSuccess(v -> listening = true)
                .onErrorResume(e -> Mono.empty());
    }

    private void listen() {
        listening = false;
    }

    /** Local connections whose inbox is still not subscribed try again now that Redis is back. */
    private void retryInboxes() {
        for (SessionHandle s : List.copyOf(local.sessions())) {
            if (!s.inboxSubscribed()) {
                s.retryInbox();
            }
        }
    }

    /**
     * Records the ownership of local sessions with a subscribed inbox that Redis does not know: those that
     * connected while it was unreachable, or all of them after it came back empty. A user owned by another
     * instance meanwhile is left to it. With {@code strict}, fails when one could not be recorded.
     */
    private Mono<Void> claimLocalSessions(boolean strict) {
        return Flux.fromIterable(List.copyOf(local.sessions()))
                .filter(SessionHandle::inboxSubscribed)
                .flatMap(
                        s -> redis.execute(
                                        ownerKey(s.userId()),
                                        c -> c.set(
                                                ownerKey(s.userId()),
                                                owner(s, node),
                                                SetArgs.Builder.nx().px(OWNER_TTL)))
                                .onErrorResume(e -> !strict, e -> Mono.empty()),
                        64)
                .then();
    }

    /**
     * Tells Redis of the drops it missed while it was away; after a data loss ({@code again}), of every resumable
     * drop of the grace too, unless the user has an owner again.
     */
    private Mono<Void> tellDropped(boolean again) {
        long now = System.currentTimeMillis();
        return Flux.fromIterable(List.copyOf(dropped.values()))
                .filter(d -> again || !d.told())
                .flatMap(d -> tell(d, now, again).onErrorResume(e -> !again, e -> Mono.empty()), 64)
                .then();
    }

    private Mono<Void> tell(Dropped d, long now, boolean again) {
        String[] key = {ownerKey(d.user())};
        long left = d.untilMillis() - now;
        Mono<?> told;
        if (again) {
            told = d.resumable() && left > 0
                    ? redis.execute(
                            key[0],
                            c -> c.set(key[0], d.marker(), SetArgs.Builder.nx().px(left)))
                    : Mono.empty();
        } else if (d.resumable() && left > 0) {
            told = KEEP_RESUMABLE.run(redis, key, d.owner() == null ? "" : d.owner(), d.marker(), Long.toString(left));
        } else {
            told = d.owner() == null ? Mono.empty() : RELEASE.run(redis, key, d.owner());
        }
        return told.then(Mono.fromRunnable(() -> {
            if (d.resumable() && left > 0) {
                dropped.replace(d.user(), d, d.asTold());
            } else {
                dropped.remove(d.user(), d);
            }
        }));
    }

    /** Claims again the connections whose claim failed, unless they are gone. */
    private Mono<Void> claimUnrecorded() {
        unrecorded.removeIf(s -> local.local(s.userId()) != s);
        return Flux.fromIterable(List.copyOf(unrecorded))
                .flatMap(s -> claim(s).onErrorResume(e -> Mono.empty()), 64)
                .then();
    }

    private Mono<Void> renewOwners() {
        return Flux.fromIterable(List.copyOf(local.sessions()))
                .filter(SessionHandle::inboxSubscribed)
                .flatMap(
                        s -> RENEW.run(
                                        redis,
                                        new String[] {ownerKey(s.userId())},
                                        owner(s, node),
                                        Long.toString(OWNER_TTL.toMillis()))
                                .onErrorResume(e -> Mono.empty()),
                        64)
                .then();
    }

    @Override
    public void register(SessionHandle session) {
        local.register(session);
    }

    @Override
    public Mono<Void> claim(SessionHandle session) {
        String user = session.userId();
        String value = owner(session, node);
        Mono<Void> write = Mono.defer(() -> {
                    if (local.local(user) != session) {
                        return Mono.empty(); // closed or replaced meanwhile: nothing to record
                    }
                    return redis.execute(
                                    ownerKey(user), c -> c.setGet(ownerKey(user), value, SetArgs.Builder.px(OWNER_TTL)))
                            .doOnNext(previous -> replacePrevious(user, previous))
                            .doOnSubscribe(s -> dropped.remove(user))
                            .then();
                })
                .doOnError(e -> {
                    unrecorded.add(session);
                    log.debug(
                            "Taking the ownership of user {} in Redis failed, to be tried again: {}",
                            user,
                            e.toString());
                })
                .doOnSuccess(v -> unrecorded.remove(session))
                .doFinally(s -> claims.remove(session))
                .cache();
        claims.put(session, write);
        return write;
    }

    private void replacePrevious(String user, String previous) {
        Owner was = Owner.parse(previous);
        if (was == null || was.resumable() || was.node().equals(node)) {
            return;
        }
        isLive(was.node())
                .filter(live -> live)
                .flatMap(live -> redis.execute(
                        c -> c.publish(controlChannel(was.node()), "replace " + user + " " + was.session())))
                .subscribe(
                        n -> {},
                        e -> log.debug("Telling {} to close user {} failed: {}", was.node(), user, e.toString()));
    }

    @Override
    public void unregister(SessionHandle session, boolean resumable) {
        local.unregister(session, false);
        String user = session.userId();
        Mono<Void> claim = claims.get(session);
        boolean recorded = claim != null || session.inboxSubscribed();
        Dropped d = new Dropped(
                user,
                recorded ? owner(session, node) : null,
                marker(session),
                resumable,
                System.currentTimeMillis() + (resumable ? graceMs : OWNER_TTL.toMillis()),
                false);
        if (d.owner() == null && !resumable) {
            return; // it never recorded anything and leaves nothing to resume
        }
        dropped.put(user, d);
        (claim == null ? Mono.<Void>empty() : claim.onErrorResume(e -> Mono.empty()))
                .then(Mono.defer(() -> tell(d, System.currentTimeMillis(), false)))
                .subscribe(
                        n -> {},
                        e -> log.debug(
                                "Releasing user {} in Redis failed, to be retried when it is" + " back: {}",
                                user,
                                e.toString()));
    }

    @Override
    public Mono<Resumable> resumable(String userId, String session) {
        SessionHandle live = local.local(userId);
        if (live != null && live.id().equals(session)) {
            return Mono.just(new Resumable(true, live.inboxStart()));
        }
        return resumable(userId, session, System.currentTimeMillis() + RECLAIM_WAIT.toMillis());
    }

    private Mono<Resumable> resumable(String userId, String session, long waitUntil) {
        return redis.execute(ownerKey(userId), c -> c.get(ownerKey(userId)))
                .map(v -> {
                    Owner o = Owner.parse(v);
                    return o != null && o.session().equals(session)
                            ? new Resumable(true, o.inboxStart())
                            : Resumable.NO;
                })
                .switchIfEmpty(Mono.defer(() -> mayBeReclaimed(waitUntil)
                        .flatMap(wait -> wait
                                ? Mono.delay(RECLAIM_POLL).then(resumable(userId, session, waitUntil))
                                : Mono.just(Resumable.NO))));
    }

    @Override
    public SessionHandle local(String userId) {
        return local.local(userId);
    }

    @Override
    public Mono<Boolean> isConnected(String userId) {
        SessionHandle s = local.local(userId);
        if (s != null && s.receivesInbox()) {
            return Mono.just(true);
        }
        return connected(userId, System.currentTimeMillis() + RECLAIM_WAIT.toMillis());
    }

    private Mono<Boolean> connected(String userId, long waitUntil) {
        return ownerNode(userId)
                .map(n -> true)
                .switchIfEmpty(Mono.defer(() -> mayBeReclaimed(waitUntil)
                        .flatMap(wait -> wait
                                ? Mono.delay(RECLAIM_POLL).then(connected(userId, waitUntil))
                                : Mono.just(false))));
    }

    /**
     * Whether a user without a record may yet get one from an instance recording its users after Redis lost its
     * data (noticing the loss here when this instance has not yet): then a lookup waits a moment.
     */
    private Mono<Boolean> mayBeReclaimed(long waitUntil) {
        long now = System.currentTimeMillis();
        if (now >= waitUntil || !everLeased) {
            return Mono.just(false);
        }
        Reclaim r = reclaim;
        if (r != null && r.untilMillis() > now) {
            String[] nodes = r.nodes().toArray(String[]::new);
            return redis.<List<Double>>execute(c -> c.zmscore(NODES, nodes)).map(scores -> {
                Set<String> present = new HashSet<>();
                for (int i = 0; i < nodes.length; i++) {
                    if (scores.get(i) != null) {
                        present.add(nodes[i]);
                    }
                }
                reclaimed(present);
                Reclaim after = reclaim;
                return after != null && !after.nodes().isEmpty();
            });
        }
        return redis.execute(NODES, c -> c.zscore(NODES, node))
                .map(score -> false)
                .switchIfEmpty(Mono.defer(() -> renewLease().thenReturn(true)));
    }

    /** The live instance that owns {@code userId}'s connection, if any. */
    private Mono<String> ownerNode(String userId) {
        return redis.execute(ownerKey(userId), c -> c.get(ownerKey(userId))).flatMap(v -> {
            Owner o = Owner.parse(v);
            if (o == null) {
                return Mono.empty();
            }
            if (o.resumable()) {
                return Mono.just(o.node());
            }
            return isLive(o.node()).filter(live -> live).map(live -> o.node());
        });
    }

    /** Whether {@code other}'s lease is current: from the cached set, else asked of Redis. */
    private Mono<Boolean> isLive(String other) {
        if (liveNodes.contains(other)) {
            return Mono.just(true);
        }
        return redis.execute(NODES, c -> c.zscore(NODES, other))
                .map(expires -> expires > System.currentTimeMillis())
                .doOnNext(live -> {
                    if (live) {
                        Set<String> known = new HashSet<>(liveNodes);
                        known.add(other);
                        liveNodes = Set.copyOf(known);
                    }
                })
                // No lease at all: Redis lost its data, and an instance alive since records its users before it
                // renews its lease. Every record was written after the loss, so by an instance alive then: within
                // a lease of the loss (or while it is still expected to come back) it counts as live.
                .switchIfEmpty(Mono.defer(() -> {
                    long now = System.currentTimeMillis();
                    Reclaim r = reclaim;
                    if (now - dataLostAtMillis < leaseMs
                            || r != null && r.nodes().contains(other) && r.untilMillis() > now) {
                        return Mono.just(true);
                    }
                    // this instance's own lease gone too: Redis lost its data a moment ago, before it noticed
                    return redis.execute(NODES, c -> c.zscore(NODES, node))
                            .map(mine -> false)
                            .defaultIfEmpty(true);
                }));
    }

    @Override
    public Mono<Boolean> disconnect(String userId) {
        SessionHandle s = local.local(userId);
        if (s != null) {
            s.disconnect();
            return Mono.just(true);
        }
        return ownerNode(userId)
                .flatMap(n -> n.equals(node) || n.equals(RESUMABLE)
                        ? Mono.just(false)
                        : redis.execute(c -> c.publish(controlChannel(n), "disconnect " + userId))
                                .map(x -> true))
                .defaultIfEmpty(false);
    }

    private void onControl(String channel, String message) {
        if (!channel.equals(controlChannel)) {
            return;
        }
        String[] parts = message.split(" ");
        if (parts.length == 3 && parts[0].equals("replace")) {
            SessionHandle s = local.local(parts[1]);
            if (s != null && s.id().equals(parts[2])) {
                s.replaced();
            }
        } else if (parts.length == 2 && parts[0].equals("disconnect")) {
            SessionHandle s = local.local(parts[1]);
            if (s != null) {
                s.disconnect();
            }
        }
    }

    @Override
    public int size() {
        return local.size();
    }

    @Override
    public Collection<SessionHandle> sessions() {
        return local.sessions();
    }

    /** Forgets drops whose grace ran out (their records expire by themselves). */
    @Override
    public void purge() {
        long now = System.currentTimeMillis();
        dropped.values().removeIf(d -> d.untilMillis() <= now);
    }

    @Override
    public void close() {
        leaseTask.dispose();
        renewTask.dispose();
        redis.execute(NODES, c -> c.zrem(NODES, node))
                .onErrorResume(e -> Mono.empty())
                .block(Duration.ofSeconds(2));
    }
}
