package io.switchboard.gateway.cluster;

import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.models.partitions.Partitions;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.lettuce.core.cluster.pubsub.StatefulRedisClusterPubSubConnection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Redis Cluster: this instance's sharded subscriptions ({@code SSUBSCRIBE}), each on the node that serves its
 * channel's slot, and moving each to its slot's new master after a failover or a slot migration. A channel that
 * moved is announced to the {@code onResubscribed} handlers: what was published meanwhile went to nobody, and is
 * to be read from history.
 *
 * <p>Subscribing and unsubscribing may run on any thread; each entry changes only by compare-and-set.
 * {@link #reconcile} runs on the Redis scheduler's thread only.
 */
final class ClusterShards {
    // logs as RedisConnections: one logger for Redis's state
    private static final Logger log = LoggerFactory.getLogger(RedisConnections.class);
    /** A sharded subscription being made or moved: not yet confirmed by any node. */
    private static final String PENDING = "";
    /** A sharded subscription a node dropped on its own (failover, slot migration): to be made again. */
    private static final String DROPPED = "?";

    /** Each sharded channel and the id of the node that confirmed its SSUBSCRIBE. */
    private final Map<String, String> sharded = new ConcurrentHashMap<>();

    private final List<Consumer<String>> resubscribedHandlers = new CopyOnWriteArrayList<>();

    /** Called with a sharded channel whose subscription moved to another node. */
    void onResubscribed(Consumer<String> handler) {
        resubscribedHandlers.add(handler);
    }

    /** Subscribes on the master of the channel's slot; completes when that node confirmed it. */
    CompletionStage<Void> subscribe(StatefulRedisClusterPubSubConnection<String, String> cps, String channel) {
        int slot = SlotHash.getSlot(channel);
        RedisClusterNode node = cps.getPartitions().getMasterBySlot(slot);
        if (node == null) {
            return CompletableFuture.failedFuture(
                    new RedisUnavailableException("no Redis master serves slot " + slot + " now"));
        }
        String id = node.getNodeId();
        sharded.put(channel, PENDING);
        return cps.getConnectionAsync(id)
                .thenCompose(n -> n.async().ssubscribe(channel))
                .whenComplete((ok, e) -> {
                    if (e != null) {
                        sharded.remove(channel, PENDING);
                    } else if (!sharded.replace(channel, PENDING, id)) {
                        sunsubscribe(cps, id, channel);
                    }
                });
    }

    void unsubscribe(StatefulRedisClusterPubSubConnection<String, String> cps, String channel) {
        String at = sharded.remove(channel);
        if (at != null && !at.equals(PENDING) && !at.equals(DROPPED)) {
            sunsubscribe(cps, at, channel);
        }
    }

    /**
     * A node dropped a subscription itself (its slots went elsewhere). Whether it was one of ours: then it is to be
     * made again by {@link #reconcile}.
     */
    boolean droppedBy(String nodeId, String channel) {
        return sharded.replace(channel, nodeId, DROPPED);
    }

    /** Whether a subscription waits to be made again after its node dropped it. */
    boolean anyDropped() {
        return sharded.values().stream().anyMatch(DROPPED::equals);
    }

    /** Moves each sharded subscription whose slot has another master now (or that its node dropped) there. */
    void reconcile(StatefulRedisClusterPubSubConnection<String, String> cps) {
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
                                    RedisCauses.address(master.getUri()),
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
}
