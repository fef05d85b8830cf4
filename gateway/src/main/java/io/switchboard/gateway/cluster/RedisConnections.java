package io.switchboard.gateway.cluster;

import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.micrometer.tagged.TaggedCircuitBreakerMetrics;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
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
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.lettuce.core.cluster.pubsub.StatefulRedisClusterPubSubConnection;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.metrics.MicrometerCommandLatencyRecorder;
import io.lettuce.core.metrics.MicrometerOptions;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.micrometer.core.instrument.MeterRegistry;
import io.switchboard.gateway.config.RedisConfig;
import io.switchboard.gateway.health.DependencyCheck;
import io.switchboard.gateway.health.DependencyHealth;
import java.io.File;
import java.net.ConnectException;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
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
 * background task keeps trying. Commands run behind a circuit breaker and a timeout, so callers get an answer
 * within {@code SWITCHBOARD_REDIS_TIMEOUT_MS}, never a pile-up. Each change of state (up, down, back) is logged
 * once, naming the host and the cause in words a person can act on.
 */
public final class RedisConnections implements DependencyCheck, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RedisConnections.class);
    /** How often the connection is probed with PING for health and state changes. */
    public static final Duration PROBE_PERIOD = Duration.ofMillis(500);
    private static final Duration FIRST_RETRY = Duration.ofMillis(250);
    private static final Duration MAX_RETRY = Duration.ofSeconds(5);
    /** Commands that may wait for a Redis Cluster node connection; more are refused at once. */
    public static final int REQUEST_QUEUE_SIZE = 10_000;

    private final RedisConfig config;
    private final RedisTarget target;
    private final ClientResources resources;
    private final AbstractRedisClient client;
    private final CircuitBreaker breaker;
    private final Scheduler scheduler;
    private final List<BiConsumer<String, String>> messageHandlers = new CopyOnWriteArrayList<>();
    private final List<Runnable> reconnectHandlers = new CopyOnWriteArrayList<>();
    private final List<Runnable> upHandlers = new CopyOnWriteArrayList<>();
    private final Duration timeout;

    private volatile StatefulConnection<String, String> commandConnection;
    private volatile RedisClusterAsyncCommands<String, String> commands;
    private volatile StatefulRedisPubSubConnection<String, String> pubsub;
    private volatile boolean up;
    private volatile String cause = "connecting";
    private volatile long latencyMs = -1;
    private volatile boolean closed;
    private volatile boolean everUp;
    private final java.util.concurrent.atomic.AtomicLong probes = new java.util.concurrent.atomic.AtomicLong();
    private Disposable probe;
    private Duration retryDelay = FIRST_RETRY;

    public RedisConnections(RedisConfig config, MeterRegistry registry) {
        this.config = config;
        this.target = RedisTarget.parse(config.url());
        this.timeout = Duration.ofMillis(config.commandTimeoutMs());
        this.resources = DefaultClientResources.builder()
                .commandLatencyRecorder(new MicrometerCommandLatencyRecorder(registry,
                        MicrometerOptions.builder().histogram(false).build()))
                .build();
        this.client = newClient();
        CircuitBreakerRegistry breakers = CircuitBreakerRegistry.of(CircuitBreakerConfig.custom()
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
        scheduler.schedule(this::connect);
    }

    private AbstractRedisClient newClient() {
        SocketOptions socket = SocketOptions.builder().connectTimeout(timeout.multipliedBy(2))
                .keepAlive(true).build();
        TimeoutOptions timeouts = TimeoutOptions.enabled(timeout);
        if (target.kind() == RedisTarget.Kind.CLUSTER) {
            RedisClusterClient c = RedisClusterClient.create(resources, target.uris().stream().map(this::withTls)
                    .toList());
            c.setOptions(ClusterClientOptions.builder()
                    .socketOptions(socket)
                    .timeoutOptions(timeouts)
                    .sslOptions(sslOptions())
                    // Node connections open lazily, so commands wait for them rather than being refused; the
                    // queue is bounded, the timeout and the breaker keep callers from waiting long.
                    .disconnectedBehavior(ClientOptions.DisconnectedBehavior.DEFAULT)
                    .requestQueueSize(REQUEST_QUEUE_SIZE)
                    .topologyRefreshOptions(ClusterTopologyRefreshOptions.builder()
                            .enablePeriodicRefresh(Duration.ofSeconds(10))
                            .enableAllAdaptiveRefreshTriggers()
                            .build())
                    .build());
            return c;
        }
        RedisClient c = RedisClient.create(resources, withTls(target.uris().get(0)));
        c.setOptions(ClientOptions.builder()
                .socketOptions(socket)
                .timeoutOptions(timeouts)
                .sslOptions(sslOptions())
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                .build());
        return c;
    }

    private RedisURI withTls(RedisURI uri) {
        uri.setTimeout(timeout);
        return uri;
    }

    private SslOptions sslOptions() {
        if (config.caFile() == null) {
            return SslOptions.create();
        }
        return SslOptions.builder().jdkSslProvider().trustManager(new File(config.caFile())).build();
    }

    /** Where Redis is, for logs and health: {@code host:port[,host:port]}. */
    public String hosts() {
        return target.hosts();
    }

    public RedisTarget target() {
        return target;
    }

    public boolean isUp() {
        return up;
    }

    /** How many times the connection has been probed since it first came up. */
    public long probes() {
        return probes.get();
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
                ps = cps;
                commandsFrom(conn.async());
            } else {
                RedisClient c = (RedisClient) client;
                var conn = c.connect(StringCodec.UTF8);
                cmd = conn;
                ps = c.connectPubSub(StringCodec.UTF8);
                commandsFrom(conn.async());
            }
            ps.addListener(new RedisPubSubAdapter<>() {
                @Override
                public void message(String channel, String message) {
                    deliver(channel, message);
                }

                @Override
                public void smessage(String channel, String message) {
                    deliver(channel, message);
                }
            });
            client.addListener(new RedisConnectionStateListener() {
                @Override
                public void onRedisConnected(RedisChannelHandler<?, ?> connection, SocketAddress address) {
                    if (connection == pubsub && everUp) {
                        scheduler.schedule(RedisConnections.this::reconnected);
                    }
                }
            });
            commandConnection = cmd;
            pubsub = ps;
            retryDelay = FIRST_RETRY;
            markUp(0);
            everUp = true;
            probe = scheduler.schedulePeriodically(this::probe, PROBE_PERIOD.toMillis(), PROBE_PERIOD.toMillis(),
                    TimeUnit.MILLISECONDS);
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
        probes.incrementAndGet();
        long start = System.nanoTime();
        try {
            c.ping().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            boolean pubsubOpen = pubsub != null && pubsub.isOpen();
            if (pubsubOpen) {
                markUp(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            } else {
                markDown("the pub/sub connection to " + hosts() + " is closed, reconnecting");
            }
        } catch (java.util.concurrent.ExecutionException e) {
            markDown(describe(e.getCause()));
        } catch (java.util.concurrent.TimeoutException e) {
            markDown("Redis at " + hosts() + " did not answer PING within " + timeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private synchronized void markUp(long latency) {
        latencyMs = latency;
        if (!up) {
            up = true;
            cause = null;
            log.info("Redis at {} is {}", hosts(), everUp ? "back" : "up");
            breaker.reset();
            for (Runnable r : upHandlers) {
                scheduler.schedule(r);
            }
        }
    }

    private synchronized void markDown(String why) {
        latencyMs = -1;
        if (up || !why.equals(cause)) {
            log.warn("Redis at {} is down: {}", hosts(), why);
        }
        up = false;
        cause = why;
    }

    /** A cause in words a person can act on. */
    String describe(Throwable e) {
        String url = config.url().toLowerCase(Locale.ROOT);
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof UnknownHostException) {
                return "DNS name not found: " + hostNames();
            }
            if (t instanceof SSLException) {
                return "TLS handshake failed (" + t.getMessage() + ")"
                        + (url.startsWith("rediss") ? "; does this server speak TLS? otherwise use redis://"
                        : "");
            }
            if (t instanceof ConnectException || t instanceof io.netty.channel.ConnectTimeoutException) {
                String m = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
                if (m.contains("timed out")) {
                    return "connection to " + hosts() + " timed out";
                }
                return "connection refused by " + hosts();
            }
            if (t instanceof RedisCommandTimeoutException) {
                return "no answer within " + timeout.toMillis() + " ms"
                        + (url.startsWith("rediss") && !everUp
                        ? " over TLS; if this server does not speak TLS, the TLS handshake cannot complete: use redis://"
                        : "");
            }
            if (t instanceof RedisCommandExecutionException) {
                String m = String.valueOf(t.getMessage());
                if (m.startsWith("WRONGPASS") || m.startsWith("NOAUTH") || m.contains("AUTH")) {
                    return "authentication failed (" + m + "); check the user and password in REDIS_URL";
                }
            }
            String m = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
            if (m.contains("connection closed") || m.contains("connection reset")) {
                return "the connection to " + hosts() + " was closed"
                        + (url.startsWith("rediss") ? "" : "; if this Redis requires TLS, REDIS_URL needs rediss://");
            }
        }
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    private String hostNames() {
        return hosts().replaceAll(":\\d+", "");
    }

    // ---------------------------------------------------------------- commands

    /**
     * Runs one command behind the circuit breaker. Fails with {@link RedisUnavailableException} when Redis is
     * not connected, the breaker is open, or the command times out or loses its connection.
     */
    public <T> Mono<T> execute(Function<RedisClusterAsyncCommands<String, String>, RedisFuture<T>> command) {
        RedisClusterAsyncCommands<String, String> c = commands;
        if (c == null) {
            return Mono.error(() -> new RedisUnavailableException("Redis at " + hosts() + " is not connected: "
                    + cause));
        }
        return Mono.defer(() -> Mono.fromCompletionStage(command.apply(c)))
                .transformDeferred(CircuitBreakerOperator.of(breaker))
                .onErrorMap(RedisConnections::isOutage, e -> e instanceof RedisUnavailableException ? e
                        : new RedisUnavailableException(e instanceof CallNotPermittedException
                        ? "Redis at " + hosts() + " is failing; calls are held off for a moment"
                        : describe(e), e));
    }

    private static boolean isOutage(Throwable e) {
        if (e instanceof RedisCommandExecutionException x) {
            String m = String.valueOf(x.getMessage());
            return m.startsWith("LOADING") || m.startsWith("CLUSTERDOWN") || m.startsWith("TRYAGAIN")
                    || m.startsWith("MASTERDOWN") || m.startsWith("READONLY");
        }
        return !(e instanceof IllegalArgumentException);
    }

    /** Subscribes this instance to a Redis channel (sharded pub/sub in a cluster); completes when confirmed. */
    public CompletionStage<Void> subscribe(String channel) {
        StatefulRedisPubSubConnection<String, String> ps = pubsub;
        if (ps == null) {
            return CompletableFuture.failedFuture(new RedisUnavailableException("Redis at " + hosts()
                    + " is not connected: " + cause));
        }
        if (ps instanceof StatefulRedisClusterPubSubConnection<String, String> cps) {
            return nodeFor(cps, channel).thenCompose(node -> node.async().ssubscribe(channel));
        }
        return ps.async().subscribe(channel);
    }

    /** Drops this instance's subscription to a Redis channel. */
    public void unsubscribe(String channel) {
        StatefulRedisPubSubConnection<String, String> ps = pubsub;
        if (ps == null) {
            return;
        }
        if (ps instanceof StatefulRedisClusterPubSubConnection<String, String> cps) {
            nodeFor(cps, channel).thenAccept(node -> node.async().sunsubscribe(channel));
        } else {
            ps.async().unsubscribe(channel);
        }
    }

    /** Subscribes to a channel that carries control messages for this instance (classic pub/sub). */
    public CompletionStage<Void> subscribeControl(String channel) {
        StatefulRedisPubSubConnection<String, String> ps = pubsub;
        if (ps == null) {
            return CompletableFuture.failedFuture(new RedisUnavailableException("not connected"));
        }
        return ps.async().subscribe(channel);
    }

    /** Whether publishing inside scripts uses {@code SPUBLISH} (Redis Cluster) rather than {@code PUBLISH}. */
    public boolean sharded() {
        return target.kind() == RedisTarget.Kind.CLUSTER;
    }

    private static CompletionStage<StatefulRedisPubSubConnection<String, String>> nodeFor(
            StatefulRedisClusterPubSubConnection<String, String> cps, String channel) {
        int slot = SlotHash.getSlot(channel);
        RedisClusterNode node = cps.getPartitions().getMasterBySlot(slot);
        if (node == null) {
            return CompletableFuture.failedFuture(new RedisUnavailableException("no cluster node serves slot "
                    + slot));
        }
        return cps.getConnectionAsync(node.getNodeId());
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
        return Mono.just(new DependencyHealth(up, up ? latencyMs : -1, up ? null : cause));
    }

    @Override
    public void close() {
        closed = true;
        if (probe != null) {
            probe.dispose();
        }
        scheduler.dispose();
        StatefulRedisPubSubConnection<String, String> ps = pubsub;
        if (ps != null) {
            ps.closeAsync();
        }
        StatefulConnection<String, String> cmd = commandConnection;
        if (cmd != null) {
            cmd.closeAsync();
        }
        client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        resources.shutdown(0, 2, TimeUnit.SECONDS);
    }
}
