package io.switchboard.gateway.cluster;

import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.lettuce.core.cluster.pubsub.RedisClusterPubSubAdapter;
import io.lettuce.core.cluster.pubsub.StatefulRedisClusterPubSubConnection;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This instance's Redis subscriptions and the messages they bring: classic {@code SUBSCRIBE} (every channel
 * outside a cluster, control channels everywhere) and, in a cluster, sharded ones ({@link ClusterShards}). The
 * connections are {@link RedisConnections}'; this keeps what is subscribed, so a new connection can be subscribed
 * again.
 */
final class RedisSubscriptions {
    // logs as RedisConnections: one logger for Redis's state
    private static final Logger log = LoggerFactory.getLogger(RedisConnections.class);

    private final List<BiConsumer<String, String>> messageHandlers = new CopyOnWriteArrayList<>();
    /** Channels subscribed with SUBSCRIBE: every channel outside a cluster, control channels everywhere. */
    private final Set<String> classic = ConcurrentHashMap.newKeySet();
    /** In a cluster: the sharded subscriptions, each on its slot's master. */
    private final ClusterShards shards = new ClusterShards();

    private final Function<Throwable, String> describe;

    /** @param describe an outage in words, for the {@link RedisUnavailableException} a subscription fails with */
    RedisSubscriptions(Function<Throwable, String> describe) {
        this.describe = describe;
    }

    ClusterShards shards() {
        return shards;
    }

    void onMessage(BiConsumer<String, String> handler) {
        messageHandlers.add(handler);
    }

    void onResubscribed(Consumer<String> handler) {
        shards.onResubscribed(handler);
    }

    /** Delivers every message of {@code ps} to the handlers. */
    void listenTo(StatefulRedisPubSubConnection<String, String> ps) {
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
    }

    /** Notes each sharded subscription a node of {@code cps} drops itself; {@code reconcile} then moves it. */
    void followDrops(StatefulRedisClusterPubSubConnection<String, String> cps, Runnable reconcile) {
        cps.addListener(new RedisClusterPubSubAdapter<>() {
            @Override
            public void sunsubscribed(RedisClusterNode node, String channel, long count) {
                // A node drops sharded subscriptions itself when its slots go elsewhere.
                if (shards.droppedBy(node.getNodeId(), channel)) {
                    reconcile.run();
                }
            }
        });
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

    /** Makes every classic subscription again on a new connection (Sentinel moved to another master). */
    void restore(StatefulRedisPubSubConnection<String, String> ps) {
        if (!classic.isEmpty()) {
            ps.sync().subscribe(classic.toArray(String[]::new));
        }
    }

    /** Subscribes to a channel (sharded pub/sub in a cluster); completes when confirmed. */
    CompletionStage<Void> subscribe(StatefulRedisPubSubConnection<String, String> ps, String channel) {
        if (ps instanceof StatefulRedisClusterPubSubConnection<String, String> cps) {
            return asOutage(shards.subscribe(cps, channel));
        }
        return subscribeClassic(ps, channel);
    }

    private CompletionStage<Void> subscribeClassic(StatefulRedisPubSubConnection<String, String> ps, String channel) {
        classic.add(channel);
        return asOutage(ps.async().subscribe(channel));
    }

    /** A subscription that failed for an outage fails with {@link RedisUnavailableException}, as commands do. */
    private CompletionStage<Void> asOutage(CompletionStage<Void> subscribed) {
        return subscribed.exceptionallyCompose(e -> {
            Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
            return CompletableFuture.failedFuture(
                    cause instanceof RedisUnavailableException || !RedisBreakers.isOutage(cause)
                            ? cause
                            : new RedisUnavailableException(describe.apply(cause), cause));
        });
    }

    void unsubscribe(StatefulRedisPubSubConnection<String, String> ps, String channel) {
        if (ps instanceof StatefulRedisClusterPubSubConnection<String, String> cps) {
            shards.unsubscribe(cps, channel);
        } else {
            classic.remove(channel);
            ps.async().unsubscribe(channel);
        }
    }

    /**
     * Subscribes to a channel that carries control messages for this instance (classic pub/sub); fails for an outage
     * with {@link RedisUnavailableException}, as the other subscriptions do, so that the request waiting on it (a
     * {@code send} right after Redis came back empty) answers {@code unavailable}, not {@code internal}.
     */
    CompletionStage<Void> subscribeControl(StatefulRedisPubSubConnection<String, String> ps, String channel) {
        return subscribeClassic(ps, channel);
    }
}
