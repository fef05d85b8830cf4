package io.switchboard.gateway;

import io.micrometer.core.instrument.FunctionCounter;
import io.switchboard.gateway.auth.Authenticator;
import io.switchboard.gateway.auth.ResumeTokens;
import io.switchboard.gateway.channel.Broker;
import io.switchboard.gateway.channel.ChannelHub;
import io.switchboard.gateway.channel.ChannelService;
import io.switchboard.gateway.channel.History;
import io.switchboard.gateway.channel.LocalBroker;
import io.switchboard.gateway.channel.MemoryHistory;
import io.switchboard.gateway.channel.Occupancy;
import io.switchboard.gateway.cluster.RedisBroker;
import io.switchboard.gateway.cluster.RedisConnections;
import io.switchboard.gateway.cluster.RedisEventLog;
import io.switchboard.gateway.cluster.RedisHistory;
import io.switchboard.gateway.cluster.RedisLuaRunner;
import io.switchboard.gateway.cluster.RedisOccupancy;
import io.switchboard.gateway.cluster.RedisPresence;
import io.switchboard.gateway.cluster.RedisResumeSecret;
import io.switchboard.gateway.cluster.RedisSessionLineage;
import io.switchboard.gateway.cluster.RedisSessionRegistry;
import io.switchboard.gateway.cluster.RedisStartup;
import io.switchboard.gateway.config.GatewayConfig;
import io.switchboard.gateway.config.MongoConfig;
import io.switchboard.gateway.config.RedisConfig;
import io.switchboard.gateway.events.EventLog;
import io.switchboard.gateway.events.EventService;
import io.switchboard.gateway.events.LocalOccupancy;
import io.switchboard.gateway.events.MemoryEventLog;
import io.switchboard.gateway.events.MemorySessionLineage;
import io.switchboard.gateway.events.SessionLineage;
import io.switchboard.gateway.events.WebhookDelivery;
import io.switchboard.gateway.health.HealthService;
import io.switchboard.gateway.health.spi.DependencyCheck;
import io.switchboard.gateway.hooks.Hooks;
import io.switchboard.gateway.id.Ids;
import io.switchboard.gateway.inbox.InboxService;
import io.switchboard.gateway.match.MatchService;
import io.switchboard.gateway.metrics.GatewayMetrics;
import io.switchboard.gateway.presence.MemoryPresence;
import io.switchboard.gateway.presence.PresenceService;
import io.switchboard.gateway.presence.PresenceStore;
import io.switchboard.gateway.session.KeyedTokenBuckets;
import io.switchboard.gateway.session.LocalSessionRegistry;
import io.switchboard.gateway.session.SessionContext;
import io.switchboard.gateway.session.SessionHandle;
import io.switchboard.gateway.session.SessionRegistry;
import io.switchboard.gateway.store.MemoryUserStore;
import io.switchboard.gateway.store.MongoUserStore;
import io.switchboard.gateway.store.StoreWriter;
import io.switchboard.gateway.store.UserStore;
import io.switchboard.gateway.transport.GatewayServer;
import io.switchboard.gateway.transport.HttpApi;
import io.switchboard.gateway.transport.WebSocketConnection;
import io.switchboard.gateway.wire.EventLoops;
import io.switchboard.matchmaking.Matchmaker;
import io.switchboard.matchmaking.MatchmakerSettings;
import io.switchboard.matchmaking.MemoryMatchmaker;
import io.switchboard.matchmaking.RedisMatchmaker;
import io.switchboard.protocol.CloseCodes;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import reactor.netty.DisposableServer;

/**
 * One running gateway: builds every component from a {@link GatewayConfig}, binds the port, and owns and
 * closes everything it started, in reverse order. Tests start it in-process on port 0.
 */
public final class Gateway implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Gateway.class);
    /** How often idle channel histories are dropped (at most; never more often than their TTL). */
    private static final long EVICTION_PERIOD_MS = 30_000;

    private final GatewayConfig config;
    private final GatewayMetrics metrics;
    private final EventLoops loops;
    private final HealthService health;
    private final SessionRegistry registry;
    private final ChannelService channels;
    private final Broker broker;
    private final RedisConnections redis;
    private final AutoCloseable ownedRegistry;
    private final MatchService matches;
    private final PresenceService presence;
    private final Hooks hooks;
    private final EventService events;
    /** Who hears of channels' first and last local subscribers: set by {@link #events}. */
    private Occupancy occupancy = Occupancy.NONE;

    private final Scheduler housekeeping;
    private final UserStore store;
    private final StoreWriter storeWriter;
    private final DisposableServer server;
    /** In cluster mode: the resume secret shared through Redis (none configured), and the start on Redis. */
    private final RedisResumeSecret sharedResumeSecret;

    private final RedisStartup startup;
    private final AtomicBoolean closed = new AtomicBoolean();

    /** Matches the embedded mode's history keeps in memory, over all users. */
    private static final int MEMORY_MATCHES = 100_000;

    private Gateway(GatewayConfig config) {
        this.config = config;
        metrics = new GatewayMetrics();
        loops = new EventLoops(
                "switchboard-io", Math.max(1, Runtime.getRuntime().availableProcessors()), config.transport());
        Ids ids = new Ids(new SecureRandom());
        ChannelHub hub = new ChannelHub(loops, metrics);
        housekeeping = Schedulers.newSingle("switchboard-housekeeping", true);
        List<DependencyCheck> checks;
        History history;
        Matchmaker matchmaker;
        PresenceStore presenceStore;
        if (config.clustered()) {
            RedisConfig rc = config.redis();
            redis = new RedisConnections(rc, metrics.registry());
            // A channel's (and a guest's inbox's) offset counter and epoch stay in Redis as long as a recovery can
            // still need them, a since within the history TTL or a resume within the grace, and no longer: an idle
            // channel leaves nothing behind. After that a since is answered recovered:false and the next use
            // starts a new epoch, so no offset is reused within one.
            long metaTtl = Math.max(config.historyTtlMs(), config.resumeGraceMs());
            RedisHistory redisHistory = new RedisHistory(redis, ids, config.nodeId(), metaTtl);
            history = redisHistory;
            broker = new RedisBroker(
                    redis,
                    redisHistory,
                    hub,
                    ids,
                    config.nodeId(),
                    config.historySize(),
                    config.historyTtlMs(),
                    metaTtl,
                    metrics.registry());
            RedisSessionRegistry clusterRegistry =
                    new RedisSessionRegistry(redis, config.nodeId(), rc.nodeLeaseMs(), config.resumeGraceMs());
            registry = clusterRegistry;
            ownedRegistry = clusterRegistry;
            checks = List.of(redis);
            matchmaker = new RedisMatchmaker(
                    new RedisLuaRunner(redis), matchSettings(config, rc.nodeLeaseMs()), System::currentTimeMillis);
            presenceStore = new RedisPresence(redis, config.nodeId(), rc.nodeLeaseMs(), config.presenceEventsMax());
        } else {
            redis = null;
            ownedRegistry = null;
            MemoryHistory memory = new MemoryHistory(
                    config.historySize(),
                    config.historyTtlMs(),
                    config.historyBudgetBytes(),
                    hub::hasSubscribers,
                    System::nanoTime,
                    ids);
            history = memory;
            broker = new LocalBroker(memory, hub);
            registry = new LocalSessionRegistry(config.resumeGraceMs(), System::nanoTime);
            checks = List.of();
            matchmaker = new MemoryMatchmaker(
                    matchSettings(config, RedisConfig.DEFAULT_NODE_LEASE_MS), System::currentTimeMillis);
            presenceStore = new MemoryPresence(config.presenceEventsMax());
            metrics.gauge("switchboard.history.channels", "Channels and inboxes with a history held", memory::channels);
            metrics.gauge(
                    "switchboard.history.messages", "Messages held in history over all channels", memory::messages);
            metrics.gauge(
                    "switchboard.history.bytes",
                    "Estimated bytes of history held, at most" + " SWITCHBOARD_HISTORY_BUDGET_BYTES",
                    memory::bytes);
            FunctionCounter.builder("switchboard.history.evictions", memory, MemoryHistory::evictions)
                    .description("Channel and inbox histories dropped, least recently used first, to stay within"
                            + " SWITCHBOARD_HISTORY_BUDGET_BYTES")
                    .register(metrics.registry());
            long period = Math.min(EVICTION_PERIOD_MS, config.historyTtlMs());
            housekeeping.schedulePeriodically(
                    () -> memory.evictIdle(hub::hasSubscribers), period, period, TimeUnit.MILLISECONDS);
        }
        events = events(config, ids);
        channels = new ChannelService(hub, broker, history, occupancy);
        InboxService inbox = new InboxService(channels, registry::isConnected);
        store = config.mongo() == null ? new MemoryUserStore(MEMORY_MATCHES) : new MongoUserStore(config.mongo());
        storeWriter = new StoreWriter(
                store,
                config.mongo() == null
                        ? MongoConfig.DEFAULT_BUFFER_SIZE
                        : config.mongo().bufferSize(),
                metrics.registry());
        checks = new ArrayList<>(checks);
        store.dependency().ifPresent(checks::add);
        if (events.enabled()) {
            checks.add(events.delivery());
        }
        matches = new MatchService(
                matchmaker,
                channels,
                config.nodeId(),
                config.resumeGraceMs(),
                housekeeping,
                metrics.registry(),
                store,
                storeWriter,
                events);
        presence = new PresenceService(
                presenceStore,
                registry::size,
                matches::waiting,
                config.resumeGraceMs(),
                housekeeping,
                System::nanoTime,
                metrics.registry());
        hooks = Hooks.create(
                config.hooks(),
                config.nodeId(),
                config.maxFrame(),
                config.maxSubscriptions(),
                loops.group(),
                metrics.registry());
        hooks.dependency().ifPresent(checks::add);
        health = new HealthService(
                config.nodeId(), config.clustered() ? "cluster" : "embedded", checks, metrics, registry::size);
        housekeeping.schedulePeriodically(
                registry::purge, config.resumeGraceMs(), config.resumeGraceMs(), TimeUnit.MILLISECONDS);
        metrics.gauge("switchboard.channels", "Channels with a local subscriber", hub::channels);
        metrics.gauge("switchboard.sessions", "Authenticated sessions on this instance", registry::size);
        ResumeTokens resumeTokens = new ResumeTokens(config.effectiveResumeSecret(), Clock.systemUTC());
        if (registry instanceof RedisSessionRegistry cluster) {
            sharedResumeSecret = resumeTokens.fixed()
                    ? null
                    : new RedisResumeSecret(redis, resumeTokens, Clock.systemUTC(), housekeeping);
            List<Supplier<Mono<Void>>> steps = sharedResumeSecret == null
                    ? List.of(cluster::leaseNow)
                    : List.of(cluster::leaseNow, sharedResumeSecret::sync);
            startup = new RedisStartup(
                    redis, config.nodeId(), config.redis().startWaitMs(), steps, housekeeping, System::nanoTime);
            health.readyOnceStarted(startup::started);
        } else {
            sharedResumeSecret = null;
            startup = null;
        }
        SessionContext sessions = new SessionContext(
                config,
                new Authenticator(config.jwtSecret()),
                resumeTokens,
                registry,
                channels,
                inbox,
                matches,
                presence,
                metrics,
                ids,
                System::nanoTime,
                new KeyedTokenBuckets(
                        config.edge().userConnectRate(),
                        config.edge().userConnectBurst(),
                        config.edge().rateEntries(),
                        System::nanoTime),
                hooks,
                events);
        HttpApi api =
                new HttpApi(config.apiKey(), config.maxFrame(), channels, inbox, registry, matches::history, presence);
        server = new GatewayServer(config, loops, sessions, health, metrics, api).bind();
    }

    /**
     * Webhook events when {@code SWITCHBOARD_WEBHOOK_URL} is set: in Redis streams in the cluster mode, in a
     * bounded queue in memory in the embedded mode; and who tells channels' occupancy (nobody without them).
     */
    private EventService events(GatewayConfig config, Ids ids) {
        if (!config.hooks().webhooks()) {
            return EventService.disabled();
        }
        int backlog = config.hooks().webhookBacklog();
        WebhookDelivery delivery = new WebhookDelivery(
                config.hooks().webhookUrl(),
                config.hooks().webhookSecret(),
                backlog,
                WebhookDelivery.DEFAULT_FIRST_BACKOFF,
                WebhookDelivery.DEFAULT_MAX_BACKOFF,
                metrics.registry(),
                housekeeping,
                Clock.systemUTC(),
                loops.group());
        EventLog log;
        SessionLineage lineage;
        RedisSessionLineage redisLineage = null;
        if (redis != null) {
            long lease = config.redis().nodeLeaseMs();
            redisLineage = new RedisSessionLineage(
                    redis, config.nodeId(), ids.epoch(), lease, config.resumeGraceMs(), housekeeping);
            lineage = redisLineage;
            log = new RedisEventLog(redis, redisLineage, backlog, lease, housekeeping);
        } else {
            // an ended or resumed connection is remembered well past the grace, for a late resume of it
            lineage = new MemorySessionLineage(2 * config.resumeGraceMs() + 60_000, System::nanoTime);
            log = new MemoryEventLog(backlog);
        }
        EventService service = new EventService(
                log,
                lineage,
                delivery,
                config.nodeId(),
                config.resumeGraceMs(),
                housekeeping,
                Clock.systemUTC(),
                () -> "ev_" + ids.epoch() + ids.epoch());
        if (redisLineage != null) {
            redisLineage.reapWith(service::nodeLost);
            RedisOccupancy clusterOccupancy =
                    new RedisOccupancy(redis, service, redisLineage.incarnation(), () -> ids.epoch() + ids.epoch());
            redisLineage.hold(clusterOccupancy);
            occupancy = clusterOccupancy;
        } else {
            occupancy = new LocalOccupancy(service);
        }
        return service;
    }

    private static MatchmakerSettings matchSettings(GatewayConfig config, long nodeLeaseMs) {
        return new MatchmakerSettings(
                config.interestWaitMs(),
                config.avoidRecent(),
                config.resumeGraceMs(),
                nodeLeaseMs,
                MatchmakerSettings.DEFAULT_SCAN_LIMIT,
                config.maxBlocks());
    }

    /** Starts a gateway; fails when the port cannot be bound. */
    public static Gateway start(GatewayConfig config) {
        return new Gateway(config);
    }

    /** The bound port (the chosen one when configured with 0). */
    public int port() {
        return server.port();
    }

    public GatewayConfig config() {
        return config;
    }

    public GatewayMetrics metrics() {
        return metrics;
    }

    public HealthService health() {
        return health;
    }

    public SessionRegistry registry() {
        return registry;
    }

    /** Presence: this instance's holders and the figures of {@code match.stats}. */
    public PresenceService presence() {
        return presence;
    }

    /** Where blocks and the match history are kept: MongoDB, or memory in the embedded default. */
    public UserStore store() {
        return store;
    }

    /** The Redis connections in cluster mode; empty in the embedded mode. */
    public Optional<RedisConnections> redis() {
        return Optional.ofNullable(redis);
    }

    /** Webhook events: {@link EventService#disabled()} unless {@code SWITCHBOARD_WEBHOOK_URL} is set. */
    public EventService events() {
        return events;
    }

    /** Completes when the server has been disposed. */
    public Mono<Void> onDispose() {
        return server.onDispose();
    }

    /**
     * Drains: from now on not ready and no new WebSocket connections; the open ones are closed with 1012 spread
     * evenly over {@code window}, so that their reconnects do not arrive all at once; returns when all are
     * closed (or after the window and the close grace). Their random-connect queue entries go, their matches
     * and identities stay resumable on the other instances for the grace.
     */
    public void drain(Duration window) {
        health.startDraining();
        List<SessionHandle> open = new ArrayList<>(registry.sessions());
        int n = open.size();
        log.info("Draining {} connections over {} ms", n, window.toMillis());
        CountDownLatch closed = new CountDownLatch(n);
        for (int i = 0; i < n; i++) {
            SessionHandle s = open.get(i);
            s.onClose(closed::countDown);
            long at = n == 1 ? 0 : window.toMillis() * i / n;
            housekeeping.schedule(
                    () -> s.close(CloseCodes.SERVICE_RESTART, "service restart"), at, TimeUnit.MILLISECONDS);
        }
        try {
            closed.await(window.toMillis() + WebSocketConnection.CLOSE_GRACE_MS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        health.startDraining();
        server.disposeNow(Duration.ofSeconds(10));
        hooks.close();
        matches.close();
        presence.close();
        events.close();
        storeWriter.close();
        store.close();
        if (startup != null) {
            startup.close();
        }
        if (sharedResumeSecret != null) {
            sharedResumeSecret.close();
        }
        housekeeping.dispose();
        broker.close();
        if (ownedRegistry != null) {
            try {
                ownedRegistry.close();
            } catch (Exception e) {
                log.debug("Closing the session registry failed: {}", e.toString());
            }
        }
        if (redis != null) {
            redis.close();
        }
        loops.close();
        metrics.close();
        log.info("Gateway {} stopped", config.nodeId());
    }
}
