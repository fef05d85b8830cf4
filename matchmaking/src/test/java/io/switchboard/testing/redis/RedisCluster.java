package io.switchboard.testing.redis;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A real Redis cluster for tests: N masters without replicas on free loopback ports, joined with
 * {@code redis-cli --cluster create}, every slot assigned. Each node is a {@link RedisServer}, so a test can kill
 * and restart one. {@link #close()} stops them all.
 */
public final class RedisCluster implements AutoCloseable {
    /** How long {@link #start(int)} waits, after creating the cluster, for every node to report it healthy. */
    public static final Duration READY_TIMEOUT = Duration.ofSeconds(20);
    /** How long a node waits before it considers an unreachable peer failed ({@code cluster-node-timeout}). */
    public static final Duration NODE_TIMEOUT = Duration.ofMillis(2000);
    /** The fewest masters {@code redis-cli --cluster create} accepts. */
    public static final int MIN_MASTERS = 3;

    private static final int SLOTS = 16384;
    private static final Duration POLL = Duration.ofMillis(50);

    private final List<RedisServer> nodes;

    private RedisCluster(List<RedisServer> nodes) {
        this.nodes = List.copyOf(nodes);
    }

    /**
     * Starts {@code masters} cluster-enabled servers, joins them into one cluster with the slots spread evenly, and
     * waits until every node reports {@code cluster_state:ok}, every slot served and every other node known.
     */
    public static RedisCluster start(int masters) {
        if (masters < MIN_MASTERS) {
            throw new IllegalArgumentException("masters is " + masters + ", expected at least " + MIN_MASTERS
                    + ": redis-cli --cluster create refuses a smaller cluster");
        }
        Commands.redisCli();
        List<RedisServer> nodes = new ArrayList<>();
        try {
            for (int i = 0; i < masters; i++) {
                nodes.add(RedisServer.launch("redis-cluster-node", null, RedisCluster::nodeArguments));
            }
            List<String> create = new ArrayList<>(List.of(Commands.redisCli().toString(), "--cluster", "create"));
            nodes.forEach(node -> create.add(RedisServer.HOST + ":" + node.port()));
            create.addAll(List.of("--cluster-replicas", "0", "--cluster-yes"));
            Commands.check(create, READY_TIMEOUT);
            awaitHealthy(nodes);
            return new RedisCluster(nodes);
        } catch (RuntimeException e) {
            closeAll(nodes, e);
            throw e;
        }
    }

    private static List<String> nodeArguments(RedisServer.Launch launch) {
        List<String> args = new ArrayList<>(RedisServer.plainArguments(launch));
        args.addAll(List.of("--cluster-enabled", "yes",
                "--cluster-config-file", launch.dir().resolve("nodes-" + launch.port() + ".conf").toString(),
                "--cluster-node-timeout", Long.toString(NODE_TIMEOUT.toMillis()),
                // Redis 7 takes the bus port as a setting; the default, port + 10000, may be taken or above 65535.
                "--cluster-port", Integer.toString(launch.busPort())));
        return args;
    }

    private static void awaitHealthy(List<RedisServer> nodes) {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        String expected = "cluster_state:ok, cluster_slots_ok:" + SLOTS + ", cluster_known_nodes:" + nodes.size();
        while (true) {
            List<String> unhealthy = new ArrayList<>();
            for (RedisServer node : nodes) {
                String info = node.cli("cluster", "info");
                if (!(info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:" + SLOTS)
                        && info.contains("cluster_known_nodes:" + nodes.size()))) {
                    unhealthy.add(node.port() + " (" + summary(info) + ")");
                }
            }
            if (unhealthy.isEmpty()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the Redis cluster did not become healthy within "
                        + READY_TIMEOUT.toSeconds() + " s: expected " + expected + " on every node, but "
                        + String.join("; ", unhealthy));
            }
            RedisServer.sleep(POLL);
        }
    }

    private static String summary(String clusterInfo) {
        return clusterInfo.lines()
                .filter(l -> l.startsWith("cluster_state:") || l.startsWith("cluster_slots_ok:")
                        || l.startsWith("cluster_known_nodes:"))
                .collect(Collectors.joining(", "));
    }

    /** The gateway's seed list for a cluster: {@code redis-cluster://127.0.0.1:P1,127.0.0.1:P2,...}. */
    public String uri() {
        return nodes.stream().map(n -> RedisServer.HOST + ":" + n.port())
                .collect(Collectors.joining(",", "redis-cluster://", ""));
    }

    public List<Integer> ports() {
        return nodes.stream().map(RedisServer::port).toList();
    }

    /** The nodes, in the order of {@link #ports()}. */
    public List<RedisServer> nodes() {
        return nodes;
    }

    @Override
    public void close() {
        closeAll(nodes, null);
    }

    private static void closeAll(List<RedisServer> nodes, RuntimeException failure) {
        RuntimeException first = failure;
        for (RedisServer node : nodes) {
            try {
                node.close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (failure == null && first != null) {
            throw first;
        }
    }

    @Override
    public String toString() {
        return "RedisCluster " + uri();
    }
}
