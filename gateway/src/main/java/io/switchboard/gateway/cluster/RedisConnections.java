package io.switchboard.gateway.cluster;

import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.github.resilience4j.micrometer.tagged.TaggedCircuitBreakerMetrics;
import io.github.resilience4j.reactor.circuitbreaker.operator.CircuitBreakerOperator;
import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisChannelHandler;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisCommandTimeoutException;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.SslOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions.RefreshTrigger;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.cluster.event.ClusterTopologyChangedEvent;
import io.lettuce.core.cluster.models.partitions.Partitions;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.lettuce.core.cluster.pubsub.RedisClusterPubSubAdapter;
import io.lettuce.core.cluster.pubsub.StatefulRedisClusterPubSubConnection;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.event.connection.ConnectedEvent;
import io.lettuce.core.event.connection.ReconnectFailedEvent;
import io.lettuce.core.metrics.MicrometerCommandLatencyRecorder;
import io.lettuce.core.metrics.MicrometerOptions;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.lettuce.core.resource.Delay;
import io.lettuce.core.sentinel.api.StatefulRedisSentinelConnection;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.channel.ConnectTimeoutException;
import io.switchboard.gateway.config.RedisConfig;
import io.switchboard.gateway.config.RedisTarget;
import io.switchboard.gateway.health.spi.DependencyCheck;
import io.switchboard.gateway.health.spi.DependencyHealth;
import io.switchboard.gateway.health.spi.DependencyProbe;
import java.io.File;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.security.cert.CertificateException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Function;
import javax.net.ssl.SSLException;
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
 * <p>Redis changing shape is followed here. In a cluster, every master that serves slots is probed; a failed one
 * is named in {@code /health} ({@code DEGRADED}) and the topology is refreshed until its slots have a master
 * again, and each sharded subscription follows its slot to the new master ({@link #onResubscribed}: the
 * broker then fills the gap from history). Through Sentinel, the master the sentinels name is compared with
 * the one connected to, and a server that answers {@code ROLE} as a replica is never written to: the
 * connections move to the current master at once. Each change of state is logged once, naming the host and
 * the cause in words a person can act on.
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
    /** Least time between two topology refreshes asked for while a cluster is not whole. */
    private static final long REFRESH_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(1_000);
    /** The end of a cause that only says a connection is being made again, not why it was lost. */
    private static final String RECONNECTING = ", reconnecting";
    /** How long a vague cause waits for a better one before it is logged. */
    private static final Duration VAGUE_CAUSE_WAIT = Duration.ofSeconds(2);
    /** A sharded subscription being made or moved: not yet confirmed by any node. */
    private static final String PENDING = "";
    /** A sharded subscription a node dropped on its own (failover, slot migration): to be made again. */
    private static final String DROPPED = "?";

    private final RedisConfig config;
    private final RedisTarget target;
    private final ClientResources resources;
    private final AbstractRedisClient client;
    private final CircuitBreakerRegistry breakers;
    private final CircuitBreaker breaker;
    private final Scheduler scheduler;
    private final List<BiConsumer<String, String>> messageHandlers = new CopyOnWriteArrayList<>();
    private final List<Runnable> reconnectHandlers = new CopyOnWriteArrayList<>();
    private final List<Runnable> upHandlers = new CopyOnWriteArrayList<>();
    private final List<Consumer<String>> resubscribedHandlers = new CopyOnWriteArrayList<>();
    private final Duration timeout;
    /** Channels subscribed with SUBSCRIBE: every channel outside a cluster, control channels everywhere. */
    private final Set<String> classic = ConcurrentHashMap.newKeySet();
    /** In a cluster: each sharded channel and the id of the node that confirmed its SSUBSCRIBE. */
    private final Map<String, String> sharded = new ConcurrentHashMap<>();
    /** The last reconnect failure per address, in words, until that address connects again. */
    private final Map<String, String> reconnectFailures = new ConcurrentHashMap<>();

    /** Redis's state for {@code /health}, as the probe and the connecting found it. */
    private final DependencyProbe health;

    private final Disposable events;

    private volatile StatefulConnection<String, String> commandConnection;
    private volatile RedisClusterAsyncCommands<String, String> commands;
    private volatile StatefulRedisPubSubConnection<String, String> pubsub;
    private volatile boolean closed;
    private volatile boolean everUp;
    /** Cluster masters that serve slots but do not answer: address to the line that says so. */
    private volatile Map<String, String> failedMasters = Map.of();
    /** Sentinel: the address commands go to, as last connected. */
    private volatile String connectedAddress;

    private Map<String, String> slotsByMaster = Map.of();
    /** Cluster masters failing now: since when, and the line last logged for each (probe thread only). */
    private final Map<String, Long> failingSince = new HashMap<>();

    private final Map<String, String> loggedMasters = new HashMap<>();
    private long lastRefreshNanos;
    private StatefulRedisSentinelConnection<String, String> sentinel;
    private StatefulRedisPubSubConnection<String, String> sentinelEvents;
    private Duration retryDelay = FIRST_RETRY;

    public RedisConnections(RedisConfig config, MeterRegistry registry) {
        this.config = config;
        this.target = RedisTarget.parse(config.url());
        this.timeout = Duration.ofMillis(config.commandTimeoutMs());
        this.resources = DefaultClientResources.builder()
                .commandLatencyRecorder(new MicrometerCommandLatencyRecorder(
                        registry, MicrometerOptions.builder().histogram(false).build()))
                // Reconnect attempts at most a second apart, so a promoted master is found within a second or so.
                .reconnectDelay(Delay.exponential(Duration.ofMillis(10), MAX_RECONNECT_DELAY, 2, TimeUnit.MILLISECONDS))
                .build();
        this.client = newClient();
        this.breakers = CircuitBreakerRegistry.of(CircuitBreakerConfig.custom()
                .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                .slidingWindowSize(20)
                .minimumNumberOfCalls(5)
                .failureRateThreshold(50)
                .waitDurationInOpenState(Duration.ofSeconds(1))
                .permittedNumberOfCallsInHalfOpenState(3)
                .recordException(RedisConnections::isOutage)
                .build());
        this.breaker = breakers.circuitBreaker("redis");
        TaggedCircuitBreakerMetrics.ofCircuitBreakerRegistry(breakers).bindTo(registry);
        this.scheduler = Schedulers.newSingle("switchboard-redis", true);
        this.health = DependencyProbe.builder(log, new DependencyProbe.Lines() {
                    @Override
                    public String up(DependencyHealth now, boolean first, Duration downFor) {
                        return "Redis " + where() + " is " + (first ? "up" : "back");
                    }

                    @Override
                    public String down(String cause) {
                        return "Redis " + where() + " is down: " + cause;
                    }
                })
                .initialCause("connecting")
                // The probe runs on this scheduler's one thread, and each command in it is bounded by the command
                // timeout: this one is only a backstop.
                .check(() -> Mono.fromRunnable(this::probe))
                .cause(this::describe)
                .scheduler(scheduler)
                .firstAfter(PROBE_PERIOD)
                .period(PROBE_PERIOD)
                .timeout(timeout.multipliedBy(3))
                .logEachCause()
                // A lost connection is first only "reconnecting": its line waits for the reconnect attempts to say
                // why (refused, DNS, TLS).
                .vagueCauses(why -> why.endsWith(RECONNECTING), VAGUE_CAUSE_WAIT)
                .onUp(() -> {
                    breakers.getAllCircuitBreakers().forEach(CircuitBreaker::reset);
                    for (Runnable r : upHandlers) {
                        scheduler.schedule(r);
                    }
                })
                .build();
        this.events = resources.eventBus().get().subscribe(e -> {
            if (e instanceof ReconnectFailedEvent f) {
                String where = address(f.remoteAddress());
                reconnectFailures.put(where, describe(f.getCause(), where));
            } else if (e instanceof ConnectedEvent c) {
                reconnectFailures.remove(address(c.remoteAddress()));
            } else if (e instanceof ClusterTopologyChangedEvent) {
                // Published before the client's view is updated: look again a moment later.
                scheduler.schedule(this::reconcileShards, 100, TimeUnit.MILLISECONDS);
            }
        });
        client.addListener(new RedisConnectionStateListener() {
            @Override
            public void onRedisConnected(RedisChannelHandler<?, ?> connection, SocketAddress address) {
                if (connection instanceof StatefulRedisPubSubConnection<?, ?>) {
                    if (everUp && connection != sentinelEvents) {
                        scheduler.schedule(RedisConnections.this::reconnected);
                    }
                } else if (connection instanceof StatefulRedisConnection<?, ?>) {
                    connectedAddress = address(address);
                    if (everUp && isUp() && client instanceof RedisClient) {
                        // Back before any probe saw it gone (a fast restart): what follows an outage runs anyway.
                        upHandlers.forEach(r -> scheduler.schedule(r));
                    }
                }
            }
        });
        scheduler.schedule(this::connect);
    }

    private AbstractRedisClient newClient() {
        SocketOptions socket = SocketOptions.builder()
                .connectTimeout(timeout.multipliedBy(2))
                .keepAlive(true)
                .build();
        TimeoutOptions timeouts = TimeoutOptions.enabled(timeout);
        if (target.kind() == RedisTarget.Kind.CLUSTER) {
            RedisClusterClient c = RedisClusterClient.create(
                    resources, target.uris().stream().map(this::withTimeout).toList());
            c.setOptions(ClusterClientOptions.builder()
                    .socketOptions(socket)
                    .timeoutOptions(timeouts)
                    .sslOptions(sslOptions())
                    // Node connections open lazily, so commands wait for them rather than being refused; the
                    // queue is bounded, the timeout and the breaker keep callers from waiting long.
                    .disconnectedBehavior(ClientOptions.DisconnectedBehavior.DEFAULT)
                    .requestQueueSize(REQUEST_QUEUE_SIZE)
                    .topologyRefreshOptions(ClusterTopologyRefreshOptions.builder()
                            .enablePeriodicRefresh(Duration.ofSeconds(5))
                            .enableAdaptiveRefreshTrigger(
                                    RefreshTrigger.MOVED_REDIRECT,
                                    RefreshTrigger.ASK_REDIRECT,
                                    RefreshTrigger.PERSISTENT_RECONNECTS,
                                    RefreshTrigger.UNCOVERED_SLOT,
                                    RefreshTrigger.UNKNOWN_NODE)
                            .adaptiveRefreshTriggersTimeout(Duration.ofSeconds(1))
                            .build())
                    .build());
            return c;
        }
        RedisClient c = RedisClient.create(resources, withTimeout(target.uris().get(0)));
        c.setOptions(ClientOptions.builder()
                .socketOptions(socket)
                .timeoutOptions(timeouts)
                .sslOptions(sslOptions())
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                .build());
        return c;
    }

    private RedisURI withTimeout(RedisURI uri) {
        uri.setTimeout(timeout);
        return uri;
    }

    private SslOptions sslOptions() {
        if (config.caFile() == null) {
            return SslOptions.create();
        }
        return SslOptions.builder()
                .jdkSslProvider()
                .trustManager(new File(config.caFile()))
                .build();
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
        return health.health().up();
    }

    /** How many times the connection has been probed since it first came up. */
    public long probes() {
        return health.probes();
    }

    /** Called for every pub/sub message: the Redis channel and the payload; on a Redis I/O thread, in order. */
    public void onMessage(BiConsumer<String, String> handler) {
        messageHandlers.add(handler);
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
        resubscribedHandlers.add(handler);
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
                cps.addListener(new RedisClusterPubSubAdapter<>() {
                    @Override
                    public void sunsubscribed(RedisClusterNode node, String channel, long count) {
                        // A node drops sharded subscriptions itself when its slots go elsewhere.
                        if (sharded.replace(channel, node.getNodeId(), DROPPED)) {
                            scheduler.schedule(RedisConnections.this::reconcileShards);
                        }
                    }
                });
                ps = cps;
                commandsFrom(conn.async());
            } else {
                RedisClient c = (RedisClient) client;
                var conn = c.connect(StringCodec.UTF8);
                cmd = conn;
                ps = c.connectPubSub(StringCodec.UTF8);
                commandsFrom(conn.async());
                if (target.kind() == RedisTarget.Kind.SENTINEL) {
                    watchSentinels(c);
                }
            }
            ps.addListener(listener());
            commandConnection = cmd;
            pubsub = ps;
            if (closed) {
                ps.closeAsync();
                cmd.closeAsync();
                return;
            }
            retryDelay = FIRST_RETRY;
            markUp(0);
            everUp = true;
            health.start();
        } catch (RuntimeException e) {
            if (cmd != null) {
                cmd.closeAsync();
            }
            markDown(describe(e));
            Duration wait = retryDelay;
            retryDelay = retryDelay.multipliedBy(2).compareTo(MAX_RETRY) > 0 ? MAX_RETRY : retryDelay.multipliedBy(2);
            scheduler.schedule(this::connect, wait.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private RedisPubSubAdapter<String, String> listener() {
        return new RedisPubSubAdapter<>() {
            @Override
            public void message(String channel, String message) {
                deliver(channel, message);
            }

            @Override
            public void smessage(String channel, String message) {
                deliver(channel, message);
            }
        };
    }

    /**
     * Sentinel: a connection to the sentinels to ask who the master is, and a subscription to their
     * {@code +switch-master} announcements, so a failover is followed as soon as it is announced. Neither is
     * required: the probe asks the sentinels again every period, and a sentinel that cannot be reached is left
     * to the next probe.
     */
    private void watchSentinels(RedisClient c) {
        RedisURI uri = target.uris().get(0);
        try {
            sentinel = c.connectSentinel(StringCodec.UTF8, uri);
        } catch (RuntimeException e) {
            log.info("Redis sentinels {} cannot be asked for the master now: {}", hosts(), describe(e));
        }
        for (RedisURI s : uri.getSentinels()) {
            try {
                RedisURI plain = RedisURI.builder()
                        .withHost(s.getHost())
                        .withPort(s.getPort())
                        .withSsl(uri.isSsl())
                        .withTimeout(timeout)
                        .build();
                StatefulRedisPubSubConnection<String, String> events = c.connectPubSub(StringCodec.UTF8, plain);
                events.addListener(new RedisPubSubAdapter<>() {
                    @Override
                    public void message(String channel, String message) {
                        scheduler.schedule(RedisConnections.this::followSentinelMaster);
                    }
                });
                events.sync().subscribe("+switch-master");
                sentinelEvents = events;
                return;
            } catch (RuntimeException e) {
                log.debug(
                        "Subscribing to +switch-master on sentinel {}:{} failed: {}",
                        s.getHost(),
                        s.getPort(),
                        e.toString());
            }
        }
    }

    @SuppressWarnings("unchecked")
    private void commandsFrom(Object async) {
        commands = (RedisClusterAsyncCommands<String, String>) async;
    }

    private void deliver(String channel, String message) {
        for (BiConsumer<String, String> h : messageHandlers) {
            try {
                h.accept(channel, message);
            } catch (RuntimeException e) {
                log.warn("Handling a Redis message on {} failed: {}", channel, e.toString());
            }
        }
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

    private void probe() {
        RedisClusterAsyncCommands<String, String> c = commands;
        if (c == null || closed) {
            return;
        }
        if (commandConnection instanceof StatefulRedisClusterConnection<String, String> cluster) {
            probeCluster(cluster);
            return;
        }
        long start = System.nanoTime();
        try {
            List<Object> role = c.role().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            String is = role.isEmpty() ? "" : String.valueOf(role.get(0));
            boolean pubsubOpen = pubsub != null && pubsub.isOpen();
            if (!is.equals("master")) {
                markDown("it answers as a " + is + ", not as the master: writes there would be lost"
                        + (target.kind() == RedisTarget.Kind.SENTINEL
                                ? "; moving to the master the sentinels name"
                                : "; point REDIS_URL at the master, or use redis-sentinel://"));
                if (target.kind() == RedisTarget.Kind.SENTINEL) {
                    followSentinelMaster();
                }
            } else if (pubsubOpen) {
                markUp(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
                if (target.kind() == RedisTarget.Kind.SENTINEL) {
                    followSentinelMaster();
                }
            } else {
                markDown("the pub/sub connection is closed" + RECONNECTING);
            }
        } catch (ExecutionException e) {
            markDown(describe(e.getCause()));
        } catch (TimeoutException e) {
            markDown("no answer to ROLE within " + timeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Sentinel: when the sentinels name another master than the one connected to (a failover, planned or not),
     * new connections are made to it, every subscription is made again on them, and the old ones are closed:
     * nothing more is written to a demoted master.
     */
    private void followSentinelMaster() {
        StatefulRedisSentinelConnection<String, String> s = sentinel;
        if (s == null || closed || !(client instanceof RedisClient c)) {
            return;
        }
        String named;
        try {
            SocketAddress a = s.async()
                    .getMasterAddrByName(target.uris().get(0).getSentinelMasterId())
                    .toCompletableFuture()
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            named = address(a);
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            log.debug("Asking the sentinels {} for the master failed: {}", hosts(), e.toString());
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        String at = connectedAddress;
        if (named == null || named.equals(at)) {
            return;
        }
        log.warn(
                "Redis master {} moved from {} to {} (named by sentinels {}); moving the connections there",
                target.uris().get(0).getSentinelMasterId(),
                at,
                named,
                hosts());
        StatefulConnection<String, String> oldCommands = commandConnection;
        StatefulRedisPubSubConnection<String, String> oldPubsub = pubsub;
        StatefulRedisConnection<String, String> cmd = null;
        try {
            cmd = c.connect(StringCodec.UTF8);
            StatefulRedisPubSubConnection<String, String> ps = c.connectPubSub(StringCodec.UTF8);
            ps.addListener(listener());
            if (!classic.isEmpty()) {
                ps.sync().subscribe(classic.toArray(String[]::new));
            }
            commandsFrom(cmd.async());
            commandConnection = cmd;
            pubsub = ps;
        } catch (RuntimeException e) {
            if (cmd != null) {
                cmd.closeAsync();
            }
            markDown("the new master " + named + " cannot be reached yet: " + describe(e, named));
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

    /**
     * Redis Cluster: PINGs every master that serves slots, names those that do not answer, refreshes the topology
     * while any does not, and moves sharded subscriptions whose slot has another master now.
     */
    private void probeCluster(StatefulRedisClusterConnection<String, String> conn) {
        Partitions partitions = conn.getPartitions();
        Map<String, String> slots = new LinkedHashMap<>();
        Map<String, CompletableFuture<Long>> pings = new LinkedHashMap<>();
        Map<String, String> failed = new LinkedHashMap<>();
        long start = System.nanoTime();
        for (RedisClusterNode node : partitions) {
            if (!node.is(RedisClusterNode.NodeFlag.UPSTREAM) || node.getSlots().isEmpty()) {
                continue;
            }
            String where = address(node.getUri());
            slots.put(where, ranges(node.getSlots()));
            pings.put(
                    where,
                    conn.getConnectionAsync(node.getNodeId())
                            .thenCompose(nc -> {
                                if (!nc.isOpen()) {
                                    return CompletableFuture.failedFuture(new NotConnected());
                                }
                                return nc.async().ping();
                            })
                            .thenApply(pong -> System.nanoTime())
                            .toCompletableFuture());
        }
        long slowest = 0;
        for (Map.Entry<String, CompletableFuture<Long>> p : pings.entrySet()) {
            String where = p.getKey();
            try {
                long done = p.getValue()
                        .get(Math.max(1, timeout.toNanos() - (System.nanoTime() - start)), TimeUnit.NANOSECONDS);
                slowest = Math.max(slowest, done - start);
            } catch (ExecutionException e) {
                failed.put(
                        where,
                        e.getCause() instanceof NotConnected
                                ? reconnectFailures.getOrDefault(where, "not connected" + RECONNECTING)
                                : describe(e.getCause(), where));
            } catch (TimeoutException e) {
                failed.put(where, "no answer to PING within " + timeout.toMillis() + " ms");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        int uncovered = 0;
        for (int slot = 0; slot < SlotHash.SLOT_COUNT; slot++) {
            if (partitions.getMasterBySlot(slot) == null) {
                uncovered++;
            }
        }
        noteMasters(slots, failed);
        boolean misplaced = sharded.values().stream().anyMatch(DROPPED::equals);
        if ((!failed.isEmpty() || uncovered > 0 || misplaced)
                && System.nanoTime() - lastRefreshNanos > REFRESH_INTERVAL_NANOS) {
            lastRefreshNanos = System.nanoTime();
            ((RedisClusterClient) client)
                    .refreshPartitionsAsync()
                    .whenComplete((v, e) -> scheduler.schedule(this::reconcileShards));
        }
        reconcileShards();
        if (failed.size() == pings.size() && !pings.isEmpty()) {
            markDown(String.join("; ", failed.values()));
            return;
        }
        String partial = failed.isEmpty() && uncovered == 0
                ? null
                : String.join("; ", failedMasters.values())
                        + (uncovered > 0 ? (failed.isEmpty() ? "" : "; ") + uncovered + " slots have no master" : "");
        health.report(new DependencyHealth(true, TimeUnit.NANOSECONDS.toMillis(slowest), partial, partial != null));
    }

    /** Logs each master that stops answering, comes back, or starts serving other slots, once. */
    private void noteMasters(Map<String, String> slots, Map<String, String> failed) {
        Map<String, String> before = failedMasters;
        Map<String, String> now = new HashMap<>();
        long nanos = System.nanoTime();
        Set<String> wasLogged = Set.copyOf(loggedMasters.keySet());
        failingSince.keySet().retainAll(failed.keySet());
        failed.forEach((where, why) -> {
            String line = "Redis master " + where + " (slots " + slots.get(where) + ") is down: " + why;
            now.put(where, line);
            long since = failingSince.computeIfAbsent(where, w -> nanos);
            // A vague cause waits for the reconnect attempts to say why, as it does for Redis as a whole.
            boolean vague = why.endsWith(RECONNECTING) && nanos - since < VAGUE_CAUSE_WAIT.toNanos();
            if (!line.equals(before.get(where)) && !vague && !line.equals(loggedMasters.get(where))) {
                log.warn(line);
                loggedMasters.put(where, line);
            }
        });
        loggedMasters.keySet().retainAll(failed.keySet());
        before.forEach((where, line) -> {
            if (!now.containsKey(where) && wasLogged.contains(where)) {
                log.info(
                        slots.containsKey(where)
                                ? "Redis master {} (slots {}) is back"
                                : "Redis node {} no longer serves slots",
                        where,
                        slots.get(where));
            }
        });
        slots.forEach((where, ranges) -> {
            if (!slotsByMaster.isEmpty() && !ranges.equals(slotsByMaster.get(where))) {
                log.info("Redis master {} serves slots {} now", where, ranges);
            }
        });
        slotsByMaster = slots;
        failedMasters = Map.copyOf(now);
    }

    /** Moves each sharded subscription whose slot has another master now (or that its node dropped) there. */
    private void reconcileShards() {
        if (closed || !(pubsub instanceof StatefulRedisClusterPubSubConnection<String, String> cps)) {
            return;
        }
        Partitions partitions = cps.getPartitions();
        for (Map.Entry<String, String> e : sharded.entrySet()) {
            String channel = e.getKey();
            String at = e.getValue();
            if (at.equals(PENDING)) {
                continue;
            }
            RedisClusterNode master = partitions.getMasterBySlot(SlotHash.getSlot(channel));
            if (master == null || master.getNodeId().equals(at) || !sharded.replace(channel, at, PENDING)) {
                continue;
            }
            String to = master.getNodeId();
            cps.getConnectionAsync(to)
                    .thenCompose(node -> node.async().ssubscribe(channel))
                    .whenComplete((ok, x) -> {
                        if (x != null) {
                            sharded.replace(channel, PENDING, at);
                            log.debug(
                                    "Moving the subscription of {} to {} failed: {}",
                                    channel,
                                    address(master.getUri()),
                                    x.toString());
                            return;
                        }
                        if (!sharded.replace(channel, PENDING, to)) {
                            sunsubscribe(cps, to, channel);
                            return;
                        }
                        if (!at.equals(DROPPED)) {
                            sunsubscribe(cps, at, channel);
                        }
                        for (Consumer<String> h : resubscribedHandlers) {
                            h.accept(channel);
                        }
                    });
        }
    }

    private static void sunsubscribe(
            StatefulRedisClusterPubSubConnection<String, String> cps, String nodeId, String channel) {
        if (cps.getPartitions().getPartitionByNodeId(nodeId) == null) {
            return;
        }
        cps.getConnectionAsync(nodeId)
                .thenCompose(n -> n.async().sunsubscribe(channel))
                .exceptionally(x -> null);
    }

    /** {@code [0, 1, 2, 5]} as {@code 0-2,5}. */
    static String ranges(List<Integer> slots) {
        List<Integer> sorted = new ArrayList<>(slots);
        sorted.sort(null);
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < sorted.size(); ) {
            int first = sorted.get(i);
            int last = first;
            while (i + 1 < sorted.size() && sorted.get(i + 1) == last + 1) {
                last = sorted.get(++i);
            }
            i++;
            if (out.length() > 0) {
                out.append(',');
            }
            out.append(first);
            if (last != first) {
                out.append('-').append(last);
            }
        }
        return out.toString();
    }

    private static String address(RedisURI uri) {
        return uri.getHost() + ":" + uri.getPort();
    }

    private static String address(SocketAddress a) {
        if (a instanceof InetSocketAddress i) {
            String host = i.getAddress() != null ? i.getAddress().getHostAddress() : i.getHostString();
            return host + ":" + i.getPort();
        }
        return String.valueOf(a);
    }

    private void markUp(long latency) {
        health.report(new DependencyHealth(true, latency, null));
    }

    /** Records Redis as down; the probe logs it once per cause. */
    private void markDown(String why) {
        health.report(new DependencyHealth(false, -1, why));
    }

    /** A cause in words a person can act on. */
    String describe(Throwable e) {
        String at = connectedAddress;
        return describe(e, target.kind() == RedisTarget.Kind.SENTINEL && at != null ? at : hosts());
    }

    /** A cause in words a person can act on, for a connection to {@code where}. */
    String describe(Throwable e, String where) {
        String url = config.url().toLowerCase(Locale.ROOT);
        boolean tls = url.startsWith("rediss");
        List<Throwable> causes = new ArrayList<>();
        for (Throwable t = e; t != null && causes.size() < 20; t = t.getCause()) {
            causes.add(t);
            for (Throwable s : t.getSuppressed()) {
                // A Redis Cluster that cannot be reached reports each seed's failure as a suppressed exception.
                for (Throwable u = s; u != null && causes.size() < 20; u = u.getCause()) {
                    causes.add(u);
                }
            }
        }
        for (Throwable t : causes) {
            if (t instanceof UnknownHostException) {
                return "DNS name not found: " + hostNames(where);
            }
        }
        for (Throwable t : causes) {
            if (t instanceof SSLException || t instanceof CertificateException) {
                String m = String.valueOf(t.getMessage());
                if (causes.stream()
                        .anyMatch(c -> c instanceof CertificateException
                                || String.valueOf(c.getMessage()).contains("PKIX")
                                || String.valueOf(c.getMessage()).contains("certification path"))) {
                    return "the TLS certificate of " + where + " is not trusted (" + m + "); set SWITCHBOARD_REDIS_CA"
                            + " to the PEM file of the CA that signed it";
                }
                return "TLS handshake failed (" + m + ")"
                        + (tls ? "; does this server speak TLS? otherwise use redis://" : "");
            }
            if (t instanceof ConnectException || t instanceof ConnectTimeoutException) {
                String m = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
                if (m.contains("timed out")) {
                    return "connection to " + where + " timed out";
                }
                return "connection refused by " + where;
            }
            if (t instanceof RedisCommandTimeoutException) {
                return "no answer within " + timeout.toMillis() + " ms"
                        + (tls && !everUp
                                ? " over TLS; if this server does not speak TLS, the TLS handshake cannot complete: use redis://"
                                : "");
            }
            if (t instanceof RedisCommandExecutionException) {
                String m = String.valueOf(t.getMessage());
                if (m.startsWith("WRONGPASS") || m.startsWith("NOAUTH") || m.contains("AUTH")) {
                    return "authentication failed (" + m + "); check the user and password in REDIS_URL";
                }
            }
        }
        for (Throwable t : causes) {
            String m = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
            if (m.contains("connection closed") || m.contains("connection reset")) {
                if (everUp) {
                    return "the connection to " + where + " was lost" + RECONNECTING;
                }
                return "the connection to " + where + " was closed"
                        + (tls ? "" : "; if this Redis requires TLS, REDIS_URL needs rediss://");
            }
            if (m.contains("currently not connected")) {
                String last = reconnectFailures.get(where);
                return last != null ? last : "not connected to " + where + RECONNECTING;
            }
        }
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    private static String hostNames(String where) {
        return where.replaceAll(":\\d+", "");
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
        CircuitBreaker b = breaker;
        String node = where();
        if (key != null && commandConnection instanceof StatefulRedisClusterConnection<String, String> cluster) {
            int slot = SlotHash.getSlot(key);
            RedisClusterNode master = cluster.getPartitions().getMasterBySlot(slot);
            if (master == null) {
                return Mono.error(() -> new RedisUnavailableException("no Redis master serves slot " + slot + " now"));
            }
            node = "master " + address(master.getUri());
            b = breakers.circuitBreaker("redis " + address(master.getUri()));
        }
        String failing = node;
        return Mono.defer(() -> Mono.fromCompletionStage(command.apply(c)))
                .transformDeferred(CircuitBreakerOperator.of(b))
                .onErrorMap(
                        RedisConnections::isOutage,
                        e -> e instanceof RedisUnavailableException
                                ? e
                                : new RedisUnavailableException(
                                        e instanceof CallNotPermittedException
                                                ? "Redis " + failing + " is failing; calls are held off for a moment"
                                                : describe(e),
                                        e));
    }

    private static boolean isOutage(Throwable e) {
        if (e instanceof RedisCommandExecutionException x) {
            String m = String.valueOf(x.getMessage());
            return m.startsWith("LOADING")
                    || m.startsWith("CLUSTERDOWN")
                    || m.startsWith("TRYAGAIN")
                    || m.startsWith("MASTERDOWN")
                    || m.startsWith("READONLY");
        }
        return !(e instanceof IllegalArgumentException);
    }

    /** Subscribes this instance to a Redis channel (sharded pub/sub in a cluster); completes when confirmed. */
    public CompletionStage<Void> subscribe(String channel) {
        StatefulRedisPubSubConnection<String, String> ps = pubsub;
        if (ps == null) {
            return CompletableFuture.failedFuture(
                    new RedisUnavailableException("Redis " + where() + " is not connected: " + cause()));
        }
        if (ps instanceof StatefulRedisClusterPubSubConnection<String, String> cps) {
            int slot = SlotHash.getSlot(channel);
            RedisClusterNode node = cps.getPartitions().getMasterBySlot(slot);
            if (node == null) {
                return CompletableFuture.failedFuture(
                        new RedisUnavailableException("no Redis master serves slot " + slot + " now"));
            }
            String id = node.getNodeId();
            sharded.put(channel, PENDING);
            return asOutage(cps.getConnectionAsync(id)
                    .thenCompose(n -> n.async().ssubscribe(channel))
                    .whenComplete((ok, e) -> {
                        if (e != null) {
                            sharded.remove(channel, PENDING);
                        } else if (!sharded.replace(channel, PENDING, id)) {
                            sunsubscribe(cps, id, channel);
                        }
                    }));
        }
        classic.add(channel);
        return asOutage(ps.async().subscribe(channel));
    }

    /** A subscription that failed for an outage fails with {@link RedisUnavailableException}, as commands do. */
    private CompletionStage<Void> asOutage(CompletionStage<Void> subscribed) {
        return subscribed.exceptionallyCompose(e -> {
            Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
            return CompletableFuture.failedFuture(
                    cause instanceof RedisUnavailableException || !isOutage(cause)
                            ? cause
                            : new RedisUnavailableException(describe(cause), cause));
        });
    }

    /** Drops this instance's subscription to a Redis channel. */
    public void unsubscribe(String channel) {
        StatefulRedisPubSubConnection<String, String> ps = pubsub;
        if (ps == null) {
            return;
        }
        if (ps instanceof StatefulRedisClusterPubSubConnection<String, String> cps) {
            String at = sharded.remove(channel);
            if (at != null && !at.equals(PENDING) && !at.equals(DROPPED)) {
                sunsubscribe(cps, at, channel);
            }
        } else {
            classic.remove(channel);
            ps.async().unsubscribe(channel);
        }
    }

    /** Subscribes to a channel that carries control messages for this instance (classic pub/sub). */
    public CompletionStage<Void> subscribeControl(String channel) {
        StatefulRedisPubSubConnection<String, String> ps = pubsub;
        if (ps == null) {
            return CompletableFuture.failedFuture(
                    new RedisUnavailableException("Redis " + where() + " is not connected: " + cause()));
        }
        classic.add(channel);
        return ps.async().subscribe(channel);
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
        return Mono.just(health.health());
    }

    /** Why Redis is not connected, as last found. */
    private String cause() {
        return health.health().detail();
    }

    @Override
    public void close() {
        closed = true;
        health.dispose();
        scheduler.dispose();
        events.dispose();
        for (StatefulConnection<String, String> c : new ArrayList<StatefulConnection<String, String>>(
                Arrays.asList(pubsub, commandConnection, sentinelEvents))) {
            if (c != null) {
                c.closeAsync();
            }
        }
        if (sentinel != null) {
            sentinel.closeAsync();
        }
        client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        resources.shutdown(0, 2, TimeUnit.SECONDS);
    }

    /** A node connection that is not open: its last reconnect failure says why. */
    private static final class NotConnected extends RuntimeException {
        NotConnected() {
            super("not connected", null, false, false);
        }
    }
}
