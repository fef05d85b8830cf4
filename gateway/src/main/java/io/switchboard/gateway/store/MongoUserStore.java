package io.switchboard.gateway.store;

import com.mongodb.MongoClientSettings;
import com.mongodb.MongoTimeoutException;
import com.mongodb.client.model.BulkWriteOptions;
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.Indexes;
import com.mongodb.client.model.Sorts;
import com.mongodb.client.model.UpdateOneModel;
import com.mongodb.client.model.UpdateOptions;
import com.mongodb.client.model.Updates;
import com.mongodb.client.model.WriteModel;
import com.mongodb.event.ServerHeartbeatFailedEvent;
import com.mongodb.event.ServerHeartbeatSucceededEvent;
import com.mongodb.event.ServerMonitorListener;
import com.mongodb.reactivestreams.client.MongoClient;
import com.mongodb.reactivestreams.client.MongoClients;
import com.mongodb.reactivestreams.client.MongoCollection;
import com.mongodb.reactivestreams.client.MongoDatabase;
import io.switchboard.gateway.config.MongoConfig;
import io.switchboard.gateway.health.spi.DependencyCheck;
import io.switchboard.gateway.health.spi.DependencyHealth;
import io.switchboard.gateway.health.spi.DependencyProbe;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.bson.Document;
import org.bson.conversions.Bson;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Blocks and the match history in MongoDB, through the reactive streams driver. Collections: {@code blocks}
 * ({@code _id} "user\nother", indexed by {@code user} and by {@code other}) and {@code matches} ({@code _id} the
 * match id, indexed by {@code users} then {@code started} descending; {@code startedUs}, the start in
 * microseconds, orders matches of one millisecond); the indexes are created at start-up, or
 * as soon as MongoDB answers. A probe pings MongoDB every second: {@code /health} reports its state and latency,
 * and each change of state is one log line naming the host and the cause.
 */
public final class MongoUserStore implements UserStore, DependencyCheck {
    private static final Logger log = LoggerFactory.getLogger(MongoUserStore.class);
    /** How often the probe pings. */
    public static final Duration PROBE_PERIOD = Duration.ofSeconds(1);

    private final MongoConfig config;
    private final MongoClient client;
    private final MongoDatabase db;
    private final MongoCollection<Document> blocks;
    private final MongoCollection<Document> matches;
    private final Duration timeout;
    private final AtomicReference<Throwable> lastHeartbeatFailure = new AtomicReference<>();
    private final DependencyProbe probe;
    private volatile boolean indexed;

    public MongoUserStore(MongoConfig config) {
        this.config = config;
        this.timeout = Duration.ofMillis(config.timeoutMs());
        long t = config.timeoutMs();
        MongoClientSettings settings = MongoClientSettings.builder()
                .applyConnectionString(config.connectionString())
                .applicationName("switchboard")
                .applyToClusterSettings(b -> b.serverSelectionTimeout(t, TimeUnit.MILLISECONDS))
                .applyToSocketSettings(b ->
                        b.connectTimeout((int) t, TimeUnit.MILLISECONDS).readTimeout((int) t, TimeUnit.MILLISECONDS))
                .applyToConnectionPoolSettings(b -> b.maxSize(config.poolSize()).maxWaitTime(t, TimeUnit.MILLISECONDS))
                .applyToServerSettings(b -> b.heartbeatFrequency(1, TimeUnit.SECONDS)
                        .addServerMonitorListener(new ServerMonitorListener() {
                            @Override
                            public void serverHeartbeatSucceeded(ServerHeartbeatSucceededEvent event) {
                                lastHeartbeatFailure.set(null);
                            }

                            @Override
                            public void serverHeartbeatFailed(ServerHeartbeatFailedEvent event) {
                                lastHeartbeatFailure.set(event.getThrowable());
                            }
                        }))
                .build();
        this.client = MongoClients.create(settings);
        this.db = client.getDatabase(config.database());
        this.blocks = db.getCollection("blocks");
        this.matches = db.getCollection("matches");
        this.probe = DependencyProbe.builder(log, new DependencyProbe.Lines() {
                    @Override
                    public String up(DependencyHealth now, boolean first, Duration downFor) {
                        return downFor == null
                                ? "MongoDB at " + config.hosts() + " is up (" + now.latencyMs() + " ms)"
                                : "MongoDB at " + config.hosts() + " is back after " + downFor.toMillis() + " ms down";
                    }

                    @Override
                    public String down(String cause) {
                        return "MongoDB at " + config.hosts() + " is down: " + cause;
                    }
                })
                .check(this::ping)
                .cause(this::cause)
                .scheduler(Schedulers.parallel())
                .period(PROBE_PERIOD)
                .timeout(timeout.multipliedBy(2))
                .afterEachUp(this::ensureIndexes)
                .build();
        probe.start();
    }

    // ---------------------------------------------------------------- health

    private Mono<DependencyHealth> ping() {
        long start = System.nanoTime();
        return Mono.from(db.runCommand(new Document("ping", 1)))
                .then(Mono.fromSupplier(() ->
                        new DependencyHealth(true, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start), null)));
    }

    /** How many probes have finished (for tests that wait for the next one). */
    public long probes() {
        return probe.probes();
    }

    /** The root cause in a few words: for a selection timeout, what the driver's own heartbeat ran into. */
    private String cause(Throwable e) {
        Throwable t = e;
        if (e instanceof MongoTimeoutException || e instanceof TimeoutException) {
            Throwable heartbeat = lastHeartbeatFailure.get();
            if (heartbeat != null) {
                t = heartbeat;
            } else if (e instanceof TimeoutException) {
                return "no answer within " + timeout.multipliedBy(2).toMillis() + " ms";
            }
        }
        return Causes.rootCause(t);
    }

    /** Whether the indexes are in place (created at the first probe that found MongoDB up). */
    boolean indexed() {
        return indexed;
    }

    private Mono<Void> ensureIndexes() {
        if (indexed) {
            return Mono.empty();
        }
        return Mono.from(blocks.createIndex(Indexes.ascending("user")))
                .then(Mono.from(blocks.createIndex(Indexes.ascending("other"))))
                .then(Mono.from(matches.createIndex(
                        Indexes.compoundIndex(Indexes.ascending("users"), Indexes.descending("started")))))
                .timeout(timeout.multipliedBy(2))
                .doOnSuccess(v -> {
                    indexed = true;
                    log.debug("MongoDB indexes of {} are in place", config.database());
                })
                .onErrorResume(e -> {
                    log.warn(
                            "MongoDB at {}: creating the indexes failed, trying again in a second: {}",
                            config.hosts(),
                            cause(e));
                    return Mono.empty();
                })
                .then();
    }

    @Override
    public String name() {
        return "mongodb";
    }

    /** MongoDB down makes the instance DEGRADED, not unready: matching and messaging go on without it. */
    @Override
    public boolean requiredForReadiness() {
        return false;
    }

    @Override
    public Mono<DependencyHealth> check() {
        DependencyHealth h = probe.health();
        return Mono.just(
                probe.foundDown()
                        ? new DependencyHealth(
                                false, -1, "MongoDB at " + config.hosts() + " does not answer: " + h.detail())
                        : h);
    }

    @Override
    public Optional<DependencyCheck> dependency() {
        return Optional.of(this);
    }

    /** True unless the probe found MongoDB down: before the first answer, it is worth trying. */
    @Override
    public boolean available() {
        return !probe.foundDown();
    }

    // ---------------------------------------------------------------- data

    @Override
    public Mono<Void> write(List<StoreWrite> batch) {
        List<WriteModel<Document>> blockWrites = new ArrayList<>();
        List<WriteModel<Document>> matchWrites = new ArrayList<>();
        UpdateOptions upsert = new UpdateOptions().upsert(true);
        for (StoreWrite w : batch) {
            if (w instanceof StoreWrite.Block b) {
                blockWrites.add(new UpdateOneModel<>(
                        Filters.eq("_id", b.user() + "\n" + b.other()),
                        Updates.combine(
                                Updates.setOnInsert("user", b.user()),
                                Updates.setOnInsert("other", b.other()),
                                Updates.setOnInsert("at", Date.from(b.at()))),
                        upsert));
            } else if (w instanceof StoreWrite.MatchStarted s) {
                matchWrites.add(new UpdateOneModel<>(
                        Filters.eq("_id", s.match()),
                        Updates.combine(
                                Updates.set("users", List.of(s.initiator(), s.other())),
                                Updates.set("interests", s.interests()),
                                Updates.set("started", Date.from(s.started())),
                                Updates.set("startedUs", micros(s.started())),
                                Updates.set("node", s.node())),
                        upsert));
            } else if (w instanceof StoreWrite.MatchEnded e) {
                matchWrites.add(new UpdateOneModel<>(
                        Filters.eq("_id", e.match()),
                        Updates.combine(Updates.set("ended", Date.from(e.ended())), Updates.set("reason", e.reason())),
                        upsert));
            }
        }
        BulkWriteOptions ordered = new BulkWriteOptions().ordered(true);
        Mono<Void> b = blockWrites.isEmpty()
                ? Mono.empty()
                : Mono.from(blocks.bulkWrite(blockWrites, ordered)).then();
        Mono<Void> m = matchWrites.isEmpty()
                ? Mono.empty()
                : Mono.from(matches.bulkWrite(matchWrites, ordered)).then();
        return b.then(m).timeout(timeout.multipliedBy(2));
    }

    @Override
    public Mono<Set<String>> blocksOf(String user) {
        Bson either = Filters.or(Filters.eq("user", user), Filters.eq("other", user));
        return Flux.from(blocks.find(either))
                .map(d -> user.equals(d.getString("user")) ? d.getString("other") : d.getString("user"))
                .collect(HashSet<String>::new, Set::add)
                .map(Set::copyOf)
                .timeout(timeout);
    }

    @Override
    public Mono<List<MatchRecord>> matches(String user, int limit) {
        return Flux.from(matches.find(Filters.and(Filters.eq("users", user), Filters.exists("startedUs")))
                        .sort(Sorts.descending("started", "startedUs"))
                        .limit(limit))
                .map(MongoUserStore::record)
                .collectList()
                .timeout(timeout);
    }

    /** Microseconds since the epoch: matches of one user made within a millisecond still sort right. */
    private static long micros(Instant t) {
        return t.getEpochSecond() * 1_000_000 + t.getNano() / 1_000;
    }

    private static MatchRecord record(Document d) {
        Date ended = d.getDate("ended");
        long us = d.getLong("startedUs");
        return new MatchRecord(
                d.getString("_id"),
                d.getList("users", String.class),
                d.getList("interests", String.class, List.of()),
                Instant.ofEpochSecond(us / 1_000_000, (us % 1_000_000) * 1_000),
                ended == null ? null : ended.toInstant(),
                d.getString("reason"),
                d.getString("node"));
    }

    @Override
    public void close() {
        probe.dispose();
        client.close();
    }
}
