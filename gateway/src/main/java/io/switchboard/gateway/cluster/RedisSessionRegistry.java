package io.switchboard.gateway.cluster;

import io.lettuce.core.Range;
import io.lettuce.core.SetArgs;
import io.switchboard.gateway.session.LocalSessionRegistry;
import io.switchboard.gateway.session.Session;
import io.switchboard.gateway.session.SessionRegistry;
import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * One live connection per user across the cluster. Each user's owner ({@code instance session}) is kept in
 * Redis; a connection registering on one instance takes the ownership and tells the previous owner's instance,
 * over its control channel, to close the older connection with 4002. Instances renew a lease in the
 * {@code sb:nodes} sorted set every second; an instance whose lease ran out is dead, and its users count as gone, so a dead
 * instance's users are free within {@code SWITCHBOARD_NODE_LEASE_MS} without any per-user renewal.
 */
public final class RedisSessionRegistry implements SessionRegistry, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RedisSessionRegistry.class);
    static final String NODES = RedisKeys.PREFIX + "nodes";
    /** Owner records outlive a session by this much unless renewed; renewal runs every third of it. */
    static final Duration OWNER_TTL = Duration.ofHours(6);
    private static final RedisScript RELEASE = new RedisScript("""
            if redis.call('GET', KEYS[1]) == ARGV[1] then return {redis.call('DEL', KEYS[1])} end
            return {0}
            """);
    private static final RedisScript KEEP_RESUMABLE = new RedisScript("""
            if redis.call('GET', KEYS[1]) == ARGV[1] then
              return {redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])}
            end
            return {0}
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

    public RedisSessionRegistry(RedisConnections redis, String node, long leaseMs, long graceMs) {
        this.graceMs = graceMs;
        this.redis = redis;
        this.node = node;
        this.leaseMs = leaseMs;
        this.controlChannel = controlChannel(node);
        this.liveNodes = Set.of(node);
        redis.onMessage(this::onControl);
        redis.onReconnect(this::listen);
        redis.onUp(() -> renewLease().then(claimLocalSessions()).subscribe(v -> { }, e -> { }));
        leaseTask = Flux.interval(Duration.ZERO, Duration.ofMillis(Math.max(100, Math.min(1_000, leaseMs / 3))),
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

    private static String owner(Session s, String node) {
        return node + " " + s.id();
    }

    private Mono<Void> renewLease() {
        long now = System.currentTimeMillis();
        return listenOnce()
                .then(redis.execute(c -> c.zadd(NODES, (double) (now + leaseMs), node)))
                .then(redis.execute(c -> c.zrangebyscore(NODES, Range.create((double) now, Double.MAX_VALUE))))
                .doOnNext(nodes -> {
                    Set<String> live = new HashSet<>(nodes);
                    live.add(node);
                    liveNodes = Set.copyOf(live);
                })
                .then(redis.execute(c -> c.zremrangebyscore(NODES,
                        Range.create(0d, (double) (now - Duration.ofDays(1).toMillis())))))
                .then();
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

    /**
     * Records the ownership of local sessions that Redis does not know: those that connected while it was
     * unreachable, or all of them after it came back empty. A user owned by another instance meanwhile is
     * left to it.
     */
    private Mono<Void> claimLocalSessions() {
        return Flux.fromIterable(List.copyOf(local.sessions()))
                .flatMap(s -> redis.execute(c -> c.set(ownerKey(s.userId()), owner(s, node),
                        SetArgs.Builder.nx().px(OWNER_TTL))).onErrorResume(e -> Mono.empty()), 64)
                .then();
    }

    private Mono<Void> renewOwners() {
        return Flux.fromIterable(List.copyOf(local.sessions()))
                .flatMap(s -> RENEW.run(redis, new String[] {ownerKey(s.userId())}, owner(s, node),
                        Long.toString(OWNER_TTL.toMillis())).onErrorResume(e -> Mono.empty()), 64)
                .then();
    }

    @Override
    public void register(Session session) {
        local.register(session);
        String user = session.userId();
        redis.execute(c -> c.setGet(ownerKey(user), owner(session, node), SetArgs.Builder.px(OWNER_TTL)))
                .subscribe(previous -> {
                    int space = previous.indexOf(' ');
                    if (space < 0) {
                        return;
                    }
                    String previousNode = previous.substring(0, space);
                    if (!previousNode.equals(node)) {
                        isLive(previousNode)
                                .filter(live -> live)
                                .flatMap(live -> redis.execute(c -> c.publish(controlChannel(previousNode),
                                        "replace " + user + " " + previous.substring(space + 1))))
                                .subscribe(n -> { }, e -> log.debug("Telling {} to close user {} failed: {}",
                                        previousNode, user, e.toString()));
                    }
                }, e -> log.debug("Taking the ownership of user {} in Redis failed: {}", user, e.toString()));
    }

    @Override
    public void unregister(Session session, boolean resumable) {
        local.unregister(session, false);
        String[] key = {ownerKey(session.userId())};
        Mono<List<Object>> release = resumable
                ? KEEP_RESUMABLE.run(redis, key, owner(session, node), RESUMABLE + " " + session.id(),
                        Long.toString(graceMs))
                : RELEASE.run(redis, key, owner(session, node));
        release.subscribe(n -> { }, e -> log.debug("Releasing user {} in Redis failed: {}", session.userId(),
                e.toString()));
    }

    @Override
    public Mono<Boolean> resumable(String userId, String session) {
        Session live = local.local(userId);
        if (live != null && live.id().equals(session)) {
            return Mono.just(true);
        }
        return redis.execute(c -> c.get(ownerKey(userId)))
                .map(v -> v.endsWith(" " + session))
                .defaultIfEmpty(false);
    }

    @Override
    public Session local(String userId) {
        return local.local(userId);
    }

    @Override
    public Mono<Boolean> isConnected(String userId) {
        if (local.local(userId) != null) {
            return Mono.just(true);
        }
        return ownerNode(userId).map(n -> true).defaultIfEmpty(false);
    }

    /** The live instance that owns {@code userId}'s connection, if any. */
    private Mono<String> ownerNode(String userId) {
        return redis.execute(c -> c.get(ownerKey(userId)))
                .flatMap(v -> {
                    int space = v.indexOf(' ');
                    String n = space < 0 ? v : v.substring(0, space);
                    if (n.equals(RESUMABLE)) {
                        return Mono.just(n);
                    }
                    return isLive(n).filter(live -> live).map(live -> n);
                });
    }

    /** Whether {@code other}'s lease is current: from the cached set, else asked of Redis. */
    private Mono<Boolean> isLive(String other) {
        if (liveNodes.contains(other)) {
            return Mono.just(true);
        }
        return redis.execute(c -> c.zscore(NODES, other))
                .map(expires -> expires > System.currentTimeMillis())
                .defaultIfEmpty(false);
    }

    @Override
    public Mono<Boolean> disconnect(String userId) {
        Session s = local.local(userId);
        if (s != null) {
            s.disconnect();
            return Mono.just(true);
        }
        return ownerNode(userId)
                .flatMap(n -> n.equals(node) || n.equals(RESUMABLE) ? Mono.just(false)
                        : redis.execute(c -> c.publish(controlChannel(n), "disconnect " + userId)).map(x -> true))
                .defaultIfEmpty(false);
    }

    private void onControl(String channel, String message) {
        if (!channel.equals(controlChannel)) {
            return;
        }
        String[] parts = message.split(" ");
        if (parts.length >= 2 && parts[0].equals("replace") && parts.length == 3) {
            Session s = local.local(parts[1]);
            if (s != null && s.id().equals(parts[2])) {
                s.replaced();
            }
        } else if (parts.length == 2 && parts[0].equals("disconnect")) {
            Session s = local.local(parts[1]);
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
    public Collection<Session> sessions() {
        return local.sessions();
    }

    @Override
    public void close() {
        leaseTask.dispose();
        renewTask.dispose();
        redis.execute(c -> c.zrem(NODES, node)).onErrorResume(e -> Mono.empty()).block(Duration.ofSeconds(2));
    }
}
