package io.switchboard.gateway.cluster;

import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.reactor.circuitbreaker.operator.CircuitBreakerOperator;
import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.RedisChannelHandler;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.cluster.event.ClusterTopologyChangedEvent;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.lettuce.core.cluster.pubsub.StatefulRedisClusterPubSubConnection;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.event.connection.ConnectedEvent;
import io.lettuce.core.event.connection.ReconnectFailedEvent;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.micrometer.core.instrument.MeterRegistry;
import io.switchboard.gateway.config.RedisConfig;
import io.switchboard.gateway.config.RedisTarget;
import io.switchboard.gateway.health.spi.DependencyCheck;
import io.switchboard.gateway.health.spi.DependencyHealth;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * The instance's connections to Redis, owned here: one for commands and one for pub/sub, to a single server,
 * through Sentinel, or to a Redis Cluster. Connecting never blocks start-up: while Redis cannot be reached the
 * instance serves locally, every command fails at once with {@link RedisUnavailableException}, and a
 * background task keeps trying. Commands run behind a circuit breaker (one per Redis Cluster master, so a failed
 * shard only holds off its own slots) and a timeout, so callers get an answer within
 * {@code SWITCHBOARD_REDIS_TIMEOUT_MS}, never a pile-up.
 *
 * <p>Redis changing shape is followed on one thread, the scheduler's: connecting, the probe ({@link RedisHealth}),
 * a cluster's masters ({@link ClusterTopology}; a failed one is named in {@code /health} as {@code DEGRADED}) and
 * its sharded subscriptions ({@link ClusterShards}: each follows its slot to the new master, and
 * {@link #onResubscribed} lets the broker fill the gap from history), and through Sentinel the master the
 * sentinels name ({@link SentinelWatch}): a server that answers {@code ROLE} as a replica is never written to, and
 * the connections move to the current master at once. Each change of state is logged once, under this class's
 * logger, naming the host and the cause in words a person can act on ({@link RedisCauses}).
 */
public final class RedisConnections implements DependencyCheck, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RedisConnections.class);
    /** How often the connection is probed with PING for health and state changes. */
    public static final Duration PROBE_PERIOD = Duration.ofMillis(500);

    private static final Duration FIRST_RETRY = Duration.ofMillis(250);
    private static final Duration MAX_RETRY = Duration.ofSeconds(5);
    /** Longest wait between two reconnect attempts of a lost connection: a failover is followed within it. */
    public static final Duration MAX_RECONNECT_DELAY = Duration.ofSeconds(1);
    /** Commands that may wait for a Redis Cluster node connection; more are refused at once. */
    public static final int REQUEST_QUEUE_SIZE = 10_000;
    /** How long a vague cause waits for a better one before it is logged. */
    private static final Duration VAGUE_CAUSE_WAIT = Duration.ofSeconds(2);

    private final RedisTarget target;
    private final ClientResources resources;
    private final AbstractRedisClient client;
    private final RedisBreakers breakers;
    /** One thread: connecting, the probe, following the topology and the sentinels all run on it. */
    private final Scheduler scheduler;

    private final List<Runnable> reconnectHandlers = new CopyOnWriteArrayList<>();
    private final List<Runnable> upHandlers = new CopyOnWriteArrayList<>();
    private final Duration timeout;
    private final RedisSubscriptions subscriptions = new RedisSubscriptions(this::describe);
    private final RedisCauses causes;
    private final RedisHealth health;
    /** In a cluster: the probe of every master; null otherwise. */
    private final ClusterTopology topology;
    /** Through Sentinel: who the master is; null otherwise. */
    private final SentinelWatch sentinels;

    private final Disposable events;

    private volatile StatefulConnection<String, String> commandConnection;
    private volatile RedisClusterAsyncCommands<String, String> commands;
    private volatile StatefulRedisPubSubConnection<String, String> pubsub;
    private volatile boolean closed;
    private volatile boolean everUp;
    /** Sentinel: the address commands go to, as last connected. */
    private volatile String connectedAddress;

    /** Scheduler thread only. */
    private Duration retryDelay = FIRST_RETRY;

    public RedisConnections(RedisConfig config, MeterRegistry registry) {
        this.target = RedisTarget.parse(config.url());
        this.timeout = Duration.ofMillis(config.commandTimeoutMs());
        this.resources = RedisClients.resources(registry);
        this.client = RedisClients.create(config, target, resources, timeout);
        this.breakers = new RedisBreakers(registry);
        this.scheduler = Schedulers.newSingle("switchboard-redis", true);
        this.causes = new RedisCauses(config.url(), timeout, () -> everUp);
        this.health = new RedisHealth(
                this::where, this::probe, this::describe, scheduler, PROBE_PERIOD, timeout, VAGUE_CAUSE_WAIT, () -> {
                    breakers.resetAll();
                    for (Runnable r : upHandlers) {
                        scheduler.schedule(r);
                    }
                });
        this.topology = client instanceof RedisClusterClient c
                ? new ClusterTopology(
                        c, subscriptions.shards(), this::reconcileShards, causes, timeout, VAGUE_CAUSE_WAIT, scheduler)
                : null;
        this.sentinels = target.kind() == RedisTarget.Kind.SENTINEL
                ? new SentinelWatch(
                        target, timeout, this::describe, () -> scheduler.schedule(this::followSentinelMaster))
                : null;
        this.events = resources.eventBus().get().subscribe(e -> {
            if (e instanceof ReconnectFailedEvent f) {
                causes.reconnectFailed(RedisCauses.address(f.remoteAddress()), f.getCause());
            } else if (e instanceof ConnectedEvent c) {
                causes.connected(RedisCauses.address(c.remoteAddress()));
            } else if (e instanceof ClusterTopologyChangedEvent) {
                // Published before the client's view is updated: look again a moment later.
                scheduler.schedule(this::reconcileShards, 100, TimeUnit.MILLISECONDS);
            }
        });
        client.addListener(new RedisConnectionStateListener() {
            @Override
            public void onRedisConnected(RedisChannelHandler<?, ?> connection, SocketAddress address) {
                if (connection instanceof StatefulRedisPubSubConnection<?, ?>) {
                    if (everUp && (sentinels == null || !sentinels.isEvents(connection))) {
                        scheduler.schedule(RedisConnections.this::reconnected);
                    }
                } else if (connection instanceof StatefulRedisConnection<?, ?>) {
                    connectedAddress = RedisCauses.address(address);
                    if (everUp && isUp() && client instanceof RedisClient) {
                        // Back before any probe saw it gone (a fast restart): what follows an outage runs anyway.
                        upHandlers.forEach(r -> scheduler.schedule(r));
                    }
                }
            }
        });
        scheduler.schedule(this::connect);
    }

    /** Where Redis is, for logs and health: {@code host:port[,host:port]} (the sentinels' for Sentinel). */
    public String hosts() {
        return target.hosts();
    }

    /** Redis as a log line names it: its address, or for Sentinel the master's and the sentinels that gave it. */
    public String where() {
        if (target.kind() == RedisTarget.Kind.SENTINEL) {
            String master = target.uris().get(0).getSentinelMasterId();
            String at = connectedAddress;
            return "master " + master + (at == null ? "" : " at " + at) + " (from sentinels " + hosts() + ")";
        }
        return "at " + hosts();
    }

    public RedisTarget target() {
        return target;
    }

    public boolean isUp() {
        return health.now().up();
    }

    /** How many times the connection has been probed since it first came up. */
    public long probes() {
        return health.probes();
    }

    /** Called for every pub/sub message: the Redis channel and the payload; on a Redis I/O thread, in order. */
    public void onMessage(BiConsumer<String, String> handler) {
        subscriptions.onMessage(handler);
    }

    /** Called each time Redis becomes reachable: at first and after every outage. */
    public void onUp(Runnable handler) {
        upHandlers.add(handler);
    }

    /** Called each time the pub/sub connection is back after a loss (its subscriptions are then restored). */
    public void onReconnect(Runnable handler) {
        reconnectHandlers.add(handler);
    }

    /**
     * Called with a sharded Redis channel whose subscription moved to another node (its slot's master changed):
     * messages published meanwhile went to nobody, and are to be read from history.
     */
    public void onResubscribed(Consumer<String> handler) {
        subscriptions.onResubscribed(handler);
    }

    // ---------------------------------------------------------------- connecting and probing

    private void connect() {
        if (closed) {
            return;
        }
        StatefulConnection<String, String> cmd = null;
        try {
            StatefulRedisPubSubConnection<String, String> ps;
            if (client instanceof RedisClusterClient c) {
                var conn = c.connect(StringCodec.UTF8);
                cmd = conn;
                StatefulRedisClusterPubSubConnection<String, String> cps = c.connectPubSub(StringCodec.UTF8);
                cps.setNodeMessagePropagation(true);
                subscriptions.followDrops(cps, () -> scheduler.schedule(this::reconcileShards));
                ps = cps;
                commandsFrom(conn.async());
            } else {
                RedisClient c = (RedisClient) client;
                var conn = c.connect(StringCodec.UTF8);
                cmd = conn;
                ps = c.connectPubSub(StringCodec.UTF8);
                commandsFrom(conn.async());
                if (sentinels != null) {
                    sentinels.watch(c);
                }
            }
            subscriptions.listenTo(ps);
            commandConnection = cmd;
            pubsub = ps;
            if (closed) {
                ps.closeAsync();
                cmd.closeAsync();
                return;
            }
            retryDelay = FIRST_RETRY;
            health.up(0);
            everUp = true;
            health.start();
        } catch (RuntimeException e) {
            if (cmd != null) {
                cmd.closeAsync();
            }
            health.down(describe(e));
            Duration wait = retryDelay;
            retryDelay = retryDelay.multipliedBy(2).compareTo(MAX_RETRY) > 0 ? MAX_RETRY : retryDelay.multipliedBy(2);
            scheduler.schedule(this::connect, wait.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    @SuppressWarnings("unchecked")
    private void commandsFrom(Object async) {
        commands = (RedisClusterAsyncCommands<String, String>) async;
    }

    private void reconnected() {
        for (Runnable r : reconnectHandlers) {
            try {
                r.run();
            } catch (RuntimeException e) {
                log.warn("Restoring state after the Redis reconnect failed: {}", e.toString());
            }
        }
    }

    /** One probe, on the scheduler's thread: each master of a cluster, or the server's ROLE. */
    private void probe() {
        RedisClusterAsyncCommands<String, String> c = commands;
        if (c == null || closed) {
            return;
        }
        if (commandConnection instanceof StatefulRedisClusterConnection<String, String> cluster) {
            health.report(topology.probe(cluster));
        } else if (health.checkRole(c, () -> pubsub != null && pubsub.isOpen(), sentinels != null)) {
            followSentinelMaster();
        }
    }

    /**
     * Sentinel: when the sentinels name another master than the one connected to (a failover, planned or not),
     * new connections are made to it, every subscription is made again on them, and the old ones are closed:
     * nothing more is written to a demoted master.
     */
    private void followSentinelMaster() {
        if (sentinels == null || closed || !(client instanceof RedisClient c)) {
            return;
        }
        String named = sentinels.newMaster(connectedAddress);
        if (named == null) {
            return;
        }
        StatefulConnection<String, String> oldCommands = commandConnection;
        StatefulRedisPubSubConnection<String, String> oldPubsub = pubsub;
        StatefulRedisConnection<String, String> cmd = null;
        try {
            cmd = c.connect(StringCodec.UTF8);
            StatefulRedisPubSubConnection<String, String> ps = c.connectPubSub(StringCodec.UTF8);
            subscriptions.listenTo(ps);
            subscriptions.restore(ps);
            commandsFrom(cmd.async());
            commandConnection = cmd;
            pubsub = ps;
        } catch (RuntimeException e) {
            if (cmd != null) {
                cmd.closeAsync();
            }
            health.down("the new master " + named + " cannot be reached yet: " + causes.describe(e, named));
            return;
        }
        if (oldCommands != null) {
            oldCommands.closeAsync();
        }
        if (oldPubsub != null) {
            oldPubsub.closeAsync();
        }
        reconnected();
    }

    /** Moves each sharded subscription whose slot has another master now (or that its node dropped) there. */
    private void reconcileShards() {
        if (!closed && pubsub instanceof StatefulRedisClusterPubSubConnection<String, String> cps) {
            subscriptions.shards().reconcile(cps);
        }
    }

    /** A cause in words a person can act on. */
    String describe(Throwable e) {
        String at = connectedAddress;
        return causes.describe(e, target.kind() == RedisTarget.Kind.SENTINEL && at != null ? at : hosts());
    }

    // ---------------------------------------------------------------- commands

    /**
     * Runs one command behind the circuit breaker. Fails with {@link RedisUnavailableException} when Redis is
     * not connected, the breaker is open, or the command times out or loses its connection.
     */
    public <T> Mono<T> execute(Function<RedisClusterAsyncCommands<String, String>, RedisFuture<T>> command) {
        return execute(null, command);
    }

    /**
     * Runs one command on {@code key} behind the circuit breaker of the node that serves it: in a Redis Cluster
     * one failed master holds off only the commands of its own slots. Fails with
     * {@link RedisUnavailableException} as {@link #execute(Function)} does, and at once when no master serves the
     * key's slot.
     */
    public <T> Mono<T> execute(
            String key, Function<RedisClusterAsyncCommands<String, String>, RedisFuture<T>> command) {
        RedisClusterAsyncCommands<String, String> c = commands;
        if (c == null) {
            return Mono.error(
                    () -> new RedisUnavailableException("Redis " + where() + " is not connected: " + cause()));
        }
        CircuitBreaker b = breakers.server();
        String node = where();
        if (key != null && commandConnection instanceof StatefulRedisClusterConnection<String, String> cluster) {
            int slot = SlotHash.getSlot(key);
            RedisClusterNode master = cluster.getPartitions().getMasterBySlot(slot);
            if (master == null) {
                return Mono.error(() -> new RedisUnavailableException("no Redis master serves slot " + slot + " now"));
            }
            node = "master " + RedisCauses.address(master.getUri());
            b = breakers.master(RedisCauses.address(master.getUri()));
        }
        String failing = node;
        return Mono.defer(() -> Mono.fromCompletionStage(command.apply(c)))
                .transformDeferred(CircuitBreakerOperator.of(b))
                .onErrorMap(
                        RedisBreakers::isOutage,
                        e -> e instanceof RedisUnavailableException
                                ? e
                                : new RedisUnavailableException(
                                        e instanceof CallNotPermittedException
                                                ? "Redis " + failing + " is failing; calls are held off for a moment"
                                                : describe(e),
                                        e));
    }

    /** Subscribes this instance to a Redis channel (sharded pub/sub in a cluster); completes when confirmed. */
    public CompletionStage<Void> subscribe(String channel) {
        StatefulRedisPubSubConnection<String, String> ps = pubsub;
        return ps == null ? notConnected() : subscriptions.subscribe(ps, channel);
    }

    /** Drops this instance's subscription to a Redis channel. */
    public void unsubscribe(String channel) {
        StatefulRedisPubSubConnection<String, String> ps = pubsub;
        if (ps != null) {
            subscriptions.unsubscribe(ps, channel);
        }
    }

    /** Subscribes to a channel that carries control messages for this instance (classic pub/sub). */
    public CompletionStage<Void> subscribeControl(String channel) {
        StatefulRedisPubSubConnection<String, String> ps = pubsub;
        return ps == null ? notConnected() : subscriptions.subscribeControl(ps, channel);
    }

    private CompletionStage<Void> notConnected() {
        return CompletableFuture.failedFuture(
                new RedisUnavailableException("Redis " + where() + " is not connected: " + cause()));
    }

    /** Whether publishing inside scripts uses {@code SPUBLISH} (Redis Cluster) rather than {@code PUBLISH}. */
    public boolean sharded() {
        return target.kind() == RedisTarget.Kind.CLUSTER;
    }

    // ---------------------------------------------------------------- health

    @Override
    public String name() {
        return "redis";
    }

    @Override
    public boolean requiredForReadiness() {
        return false;
    }

    @Override
    public Mono<DependencyHealth> check() {
        return Mono.just(health.now());
    }

    /** Why Redis is not connected, as last found. */
    private String cause() {
        return health.now().detail();
    }

    @Override
    public void close() {
        closed = true;
        health.dispose();
        scheduler.dispose();
        events.dispose();
        for (StatefulConnection<String, String> c : Arrays.asList(pubsub, commandConnection)) {
            if (c != null) {
                c.closeAsync();
            }
        }
        if (sentinels != null) {
            sentinels.close();
        }
        client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        resources.shutdown(0, 2, TimeUnit.SECONDS);
    }
}
