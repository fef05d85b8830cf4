package io.switchboard.testing.redis;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * A real Redis cluster for tests: N masters, each with R replicas ({@link #start(int, int)}), on free loopback
 * ports, joined with {@code redis-cli --cluster create}, every slot assigned. Each node is a {@link RedisServer}, so a
 * test can kill and restart one; a restarted node keeps its {@code nodes.conf} (in its directory), so it comes back as
 * the same cluster node, with no data. A cluster with replicas fails over: {@link #killMaster(RedisServer)},
 * {@link #awaitPromotion(RedisServer, Duration)}, then {@link RedisServer#restart()} and
 * {@link #awaitRejoined(RedisServer, Duration)}. {@link #close()} stops them all.
 */
public final class RedisCluster implements AutoCloseable {
    /** How long {@link #start(int)} waits, after creating the cluster, for every node to report it healthy. */
    public static final Duration READY_TIMEOUT = Duration.ofSeconds(20);
    /**
     * How long a node of a cluster without replicas waits before it considers an unreachable peer failed
     * ({@code cluster-node-timeout}); no failover can follow, so it need not be short.
     */
    public static final Duration NODE_TIMEOUT = Duration.ofMillis(2000);
    /**
     * {@code cluster-node-timeout} of a cluster with replicas: a replica starts its election about this long (plus
     * up to a second) after its master dies, so a failover takes a few seconds. Shorter would make a node that
     * stalls on a busy machine look failed.
     */
    public static final Duration FAILOVER_NODE_TIMEOUT = Duration.ofMillis(1000);
    /** The fewest masters {@code redis-cli --cluster create} accepts. */
    public static final int MIN_MASTERS = 3;

    private static final int SLOTS = 16384;
    private static final Duration POLL = Duration.ofMillis(50);

    private final List<RedisServer> nodes;
    /** The slots each master served when {@link #killMaster(RedisServer)} killed it. */
    private final Map<RedisServer, Set<Integer>> killed = new ConcurrentHashMap<>();

    private RedisCluster(List<RedisServer> nodes) {
        this.nodes = List.copyOf(nodes);
    }

    /**
     * Starts {@code masters} cluster-enabled servers, joins them into one cluster with the slots spread evenly, and
     * waits until every node reports {@code cluster_state:ok}, every slot served and every other node known.
     */
    public static RedisCluster start(int masters) {
        return start(masters, 0);
    }

    /**
     * Starts {@code masters * (1 + replicasPerMaster)} cluster-enabled servers and joins them with
     * {@code redis-cli --cluster create --cluster-replicas replicasPerMaster}: the slots spread evenly over the
     * masters, each with {@code replicasPerMaster} replicas. Waits until every node reports {@code cluster_state:ok},
     * every slot served and every other node known, every node sees the same masters and replicas, and every replica
     * has finished its initial sync ({@code master_link_status:up}), so that a test may kill a master at once.
     * <p>
     * With replicas, the nodes use {@link #FAILOVER_NODE_TIMEOUT}, and a replica may always be elected
     * ({@code cluster-replica-validity-factor 0}: its link to the killed master was down for a while, which would
     * otherwise make it refuse); replicas never migrate to another master, so the topology is the one created until a
     * test changes it.
     */
    public static RedisCluster start(int masters, int replicasPerMaster) {
        if (masters < MIN_MASTERS) {
            throw new IllegalArgumentException("masters is " + masters + ", expected at least " + MIN_MASTERS
                    + ": redis-cli --cluster create refuses a smaller cluster");
        }
        if (replicasPerMaster < 0) {
            throw new IllegalArgumentException("replicasPerMaster is " + replicasPerMaster + ", expected 0 or more");
        }
        Commands.redisCli();
        Duration nodeTimeout = replicasPerMaster == 0 ? NODE_TIMEOUT : FAILOVER_NODE_TIMEOUT;
        List<RedisServer> nodes = new ArrayList<>();
        try {
            for (int i = 0; i < masters * (1 + replicasPerMaster); i++) {
                nodes.add(RedisServer.launch("redis-cluster-node", null, launch -> nodeArguments(launch, nodeTimeout)));
            }
            List<String> create = new ArrayList<>(List.of(Commands.redisCli().toString(), "--cluster", "create"));
            nodes.forEach(node -> create.add(RedisServer.HOST + ":" + node.port()));
            create.addAll(List.of("--cluster-replicas", Integer.toString(replicasPerMaster), "--cluster-yes"));
            Commands.check(create, READY_TIMEOUT);
            RedisCluster cluster = new RedisCluster(nodes);
            cluster.awaitHealthy(masters, replicasPerMaster);
            return cluster;
        } catch (RuntimeException e) {
            closeAll(nodes, e);
            throw e;
        }
    }

    private static List<String> nodeArguments(RedisServer.Launch launch, Duration nodeTimeout) {
        List<String> args = new ArrayList<>(RedisServer.plainArguments(launch));
        args.addAll(List.of(
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                launch.dir().resolve("nodes-" + launch.port() + ".conf").toString(),
                "--cluster-node-timeout",
                Long.toString(nodeTimeout.toMillis()),
                // Redis 7 takes the bus port as a setting; the default, port + 10000, may be taken or above 65535.
                "--cluster-port",
                Integer.toString(launch.busPort()),
                // A replica whose master was killed has a stale link by definition: it must still be electable.
                "--cluster-replica-validity-factor",
                "0",
                // Keep the topology redis-cli created: a replica must not move to a master left without one.
                "--cluster-allow-replica-migration",
                "no",
                // As the gateway's docs recommend: the slots of healthy masters stay served while one shard has none.
                "--cluster-require-full-coverage",
                "no",
                // The default waits 5 s for more replicas before a full sync; a test waits for the sync.
                "--repl-diskless-sync-delay",
                "0"));
        return args;
    }

    private void awaitHealthy(int masters, int replicasPerMaster) {
        int replicas = masters * replicasPerMaster;
        String expected = "cluster_state:ok, cluster_slots_ok:" + SLOTS + ", cluster_known_nodes:" + nodes.size()
                + ", " + masters + " masters and " + replicas + " replicas seen alike by every node, every replica"
                + " with master_link_status:up";
        await("the Redis cluster to become healthy (expected " + expected + ")", READY_TIMEOUT, () -> {
            List<String> unhealthy = new ArrayList<>();
            Map<String, String> roles = new LinkedHashMap<>();
            for (RedisServer node : nodes) {
                String info = node.cli("cluster", "info");
                if (!(info.contains("cluster_state:ok")
                        && info.contains("cluster_slots_ok:" + SLOTS)
                        && info.contains("cluster_known_nodes:" + nodes.size()))) {
                    unhealthy.add(node.port() + " (" + summary(info) + ")");
                }
                Topology view = Topology.of(node);
                roles.put(node.port() + " sees", view.roles());
                if (view.masters().size() != masters || view.replicas().size() != replicas) {
                    unhealthy.add(node.port() + " (sees " + view.roles() + ")");
                }
            }
            if (roles.values().stream().distinct().count() > 1) {
                unhealthy.add("the nodes disagree: " + roles);
            }
            for (RedisServer node : nodes) {
                String replication = node.cli("info", "replication");
                if (replication.contains("role:slave") && !replication.contains("master_link_status:up")) {
                    unhealthy.add(node.port() + " (a replica with " + field(replication, "master_link_status") + ")");
                }
            }
            return unhealthy.isEmpty() ? Look.found(this) : Look.notYet(String.join("; ", unhealthy));
        });
    }

    private static String summary(String clusterInfo) {
        return clusterInfo
                .lines()
                .filter(l -> l.startsWith("cluster_state:")
                        || l.startsWith("cluster_slots_ok:")
                        || l.startsWith("cluster_known_nodes:"))
                .collect(Collectors.joining(", "));
    }

    /** The gateway's seed list for a cluster: {@code redis-cluster://127.0.0.1:P1,127.0.0.1:P2,...}. */
    public String uri() {
        return nodes.stream()
                .map(n -> RedisServer.HOST + ":" + n.port())
                .collect(Collectors.joining(",", "redis-cluster://", ""));
    }

    public List<Integer> ports() {
        return nodes.stream().map(RedisServer::port).toList();
    }

    /** The nodes, masters and replicas, in the order of {@link #ports()}. */
    public List<RedisServer> nodes() {
        return nodes;
    }

    /**
     * The nodes that serve slots now, as the first running node's {@code CLUSTER NODES} says, in the order of their
     * first slot. A killed master stays one until a replica takes its slots over.
     */
    public List<RedisServer> masters() {
        Topology view = view();
        return view.masters().stream()
                .sorted(Comparator.comparingInt(
                        n -> n.slots().isEmpty() ? SLOTS : n.slots().get(0)[0]))
                .map(n -> server(n.port()))
                .toList();
    }

    /** The nodes that are replicas now, as the first running node's {@code CLUSTER NODES} says, in node order. */
    public List<RedisServer> replicas() {
        Set<Integer> ports = view().replicas().stream().map(Topology.Node::port).collect(Collectors.toSet());
        return nodes.stream().filter(n -> ports.contains(n.port())).toList();
    }

    /** The master that serves {@code slot} now, as the first running node's {@code CLUSTER NODES} says. */
    public RedisServer masterForSlot(int slot) {
        if (slot < 0 || slot >= SLOTS) {
            throw new IllegalArgumentException("slot is " + slot + ", expected 0 to " + (SLOTS - 1));
        }
        Topology view = view();
        return view.masters().stream()
                .filter(n -> n.serves(slot))
                .findFirst()
                .map(n -> server(n.port()))
                .orElseThrow(() -> new IllegalStateException(
                        "no master serves slot " + slot + "; the cluster sees " + view.roles()));
    }

    /** The master that serves {@code key}'s slot now ({@link #slot(String)}). */
    public RedisServer masterForKey(String key) {
        return masterForSlot(slot(key));
    }

    /**
     * The slot of {@code key}, as {@code CLUSTER KEYSLOT} computes it: CRC16 (XMODEM) of the key's UTF-8 bytes, or of
     * its hash tag (what is between the first {@code {} and the next {@code }}, when that is not empty), modulo
     * 16384.
     */
    public static int slot(String key) {
        byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
        int start = 0;
        int end = bytes.length;
        int open = indexOf(bytes, (byte) '{', 0);
        if (open >= 0) {
            int close = indexOf(bytes, (byte) '}', open + 1);
            if (close > open + 1) {
                start = open + 1;
                end = close;
            }
        }
        int crc = 0;
        for (int i = start; i < end; i++) {
            crc ^= (bytes[i] & 0xff) << 8;
            for (int bit = 0; bit < 8; bit++) {
                crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
            }
        }
        return (crc & 0xffff) % SLOTS;
    }

    private static int indexOf(byte[] bytes, byte b, int from) {
        for (int i = from; i < bytes.length; i++) {
            if (bytes[i] == b) {
                return i;
            }
        }
        return -1;
    }

    /**
     * The slots {@code master} serves, as {@code CLUSTER NODES} writes them: ranges {@code first-last} or single
     * slots, comma-separated, e.g. {@code 0-5460}; for assertions on log lines that name them.
     */
    public String slotRanges(RedisServer master) {
        Topology view = view();
        Topology.Node node = view.node(master.port());
        if (node == null || node.slots().isEmpty()) {
            throw new IllegalArgumentException(master + " serves no slots; the cluster sees " + view.roles());
        }
        return node.ranges();
    }

    /**
     * Kills {@code master} with SIGKILL ({@link RedisServer#kill()}), as a crash would, after noting the slots it
     * served for {@link #awaitPromotion(RedisServer, Duration)}, and returns it.
     */
    public RedisServer killMaster(RedisServer master) {
        requireNode(master);
        Topology view = view();
        Topology.Node node = view.node(master.port());
        if (node == null || !view.masters().contains(node)) {
            throw new IllegalArgumentException(
                    master + " is not a master serving slots; the cluster sees " + view.roles());
        }
        killed.put(master, node.slotSet());
        master.kill();
        return master;
    }

    /**
     * Waits until one other node serves every slot that {@code killedMaster} served when
     * {@link #killMaster(RedisServer)} killed it, every running node agrees on that and reports
     * {@code cluster_state:ok}, and the new master reports {@code role:master}; returns the new master.
     */
    public RedisServer awaitPromotion(RedisServer killedMaster, Duration timeout) {
        Set<Integer> slots = killed.get(killedMaster);
        if (slots == null) {
            throw new IllegalArgumentException(
                    killedMaster + " was not killed by killMaster: there are no slots it" + " served to wait for");
        }
        String what = "a replica of " + killedMaster + " to take over its slots " + Topology.ranges(slots);
        return await(what, timeout, () -> {
            List<String> seen = new ArrayList<>();
            Set<Integer> owners = new HashSet<>();
            boolean ok = true;
            for (RedisServer node : running()) {
                String state = field(node.cli("cluster", "info"), "cluster_state");
                Topology view = Topology.of(node);
                Set<Integer> servedBy = new TreeSet<>();
                for (int slot : slots) {
                    Topology.Node owner = view.masters().stream()
                            .filter(n -> n.serves(slot))
                            .findFirst()
                            .orElse(null);
                    servedBy.add(owner == null ? -1 : owner.port());
                }
                owners.addAll(servedBy);
                ok &= state.equals("cluster_state:ok");
                seen.add(node.port() + ": " + state + ", the slots served by " + servedBy);
            }
            String summary = "the running nodes say " + String.join("; ", seen);
            if (!ok || owners.size() != 1 || owners.contains(-1) || owners.contains(killedMaster.port())) {
                return Look.notYet(summary);
            }
            RedisServer promoted = server(owners.iterator().next());
            String role = promoted.isRunning() ? field(promoted.cli("info", "replication"), "role") : "not running";
            return role.equals("role:master")
                    ? Look.found(promoted)
                    : Look.notYet(summary + "; " + promoted.port() + " reports " + role);
        });
    }

    /**
     * Waits until {@code node}, restarted after a kill, is a replica with its initial sync done
     * ({@code role:slave}, {@code master_link_status:up}) and every running node sees it as a replica of the same
     * running master; returns that master.
     */
    public RedisServer awaitRejoined(RedisServer node, Duration timeout) {
        requireNode(node);
        return await(node + " to rejoin as a connected replica", timeout, () -> {
            if (!node.isRunning()) {
                return Look.notYet(node + " is not running: restart it first");
            }
            String replication = node.cli("info", "replication");
            String role = field(replication, "role");
            String link = field(replication, "master_link_status");
            List<String> seen = new ArrayList<>();
            Set<Integer> masters = new HashSet<>();
            for (RedisServer other : running()) {
                Topology view = Topology.of(other);
                Topology.Node n = view.node(node.port());
                int master = n == null || !n.flags().contains("slave") || n.failed() ? -1 : view.portOf(n.masterId());
                masters.add(master);
                seen.add(other.port() + " sees "
                        + (n == null
                                ? "no such node"
                                : String.join(",", new TreeSet<>(n.flags())) + (master > 0 ? " of " + master : "")));
            }
            String state = field(node.cli("cluster", "info"), "cluster_state");
            String summary =
                    node.port() + " reports " + role + ", " + link + ", " + state + "; " + String.join("; ", seen);
            if (!role.equals("role:slave")
                    || !link.equals("master_link_status:up")
                    || !state.equals("cluster_state:ok")
                    || masters.size() != 1
                    || masters.contains(-1)) {
                return Look.notYet(summary);
            }
            RedisServer master = server(masters.iterator().next());
            return master.isRunning() ? Look.found(master) : Look.notYet(summary + "; its master is not running");
        });
    }

    private List<RedisServer> running() {
        return nodes.stream().filter(RedisServer::isRunning).toList();
    }

    /** What the first running node says about the cluster. */
    private Topology view() {
        return running().stream()
                .findFirst()
                .map(Topology::of)
                .orElseThrow(() -> new IllegalStateException("no node of " + this + " is running"));
    }

    private RedisServer server(int port) {
        return nodes.stream()
                .filter(n -> n.port() == port)
                .findFirst()
                .orElseThrow(() -> new IllegalStateException(
                        "the cluster names a node on port " + port + ", which is none of " + this + "'s"));
    }

    private void requireNode(RedisServer server) {
        if (!nodes.contains(server)) {
            throw new IllegalArgumentException(server + " is not a node of " + this);
        }
    }

    /** {@code name:value} of an INFO section, or {@code name:(missing)}. */
    private static String field(String info, String name) {
        return info.lines()
                .filter(l -> l.startsWith(name + ":"))
                .findFirst()
                .orElse(name + ":(missing)")
                .strip();
    }

    /** One poll of a condition: the answer when it holds, otherwise what was seen instead. */
    private record Look<T>(T answer, String seen) {
        static <T> Look<T> found(T answer) {
            return new Look<>(answer, null);
        }

        static <T> Look<T> notYet(String seen) {
            return new Look<>(null, seen);
        }
    }

    /** Polls {@code look} until it finds an answer, failing after {@code timeout} with what it saw last. */
    private static <T> T await(String what, Duration timeout, Supplier<Look<T>> look) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Look<T> result = look.get();
            if (result.answer() != null) {
                return result.answer();
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(
                        "timed out after " + timeout.toMillis() + " ms waiting for " + what + ": " + result.seen());
            }
            RedisServer.sleep(POLL);
        }
    }

    /** One node's {@code CLUSTER NODES}. */
    private record Topology(List<Node> nodes) {
        /** One line: the node's id, client port, flags, master's id ({@code -} for a master) and slot ranges. */
        record Node(String id, int port, Set<String> flags, String masterId, List<int[]> slots) {
            boolean failed() {
                return flags.contains("fail") || flags.contains("handshake") || flags.contains("noaddr");
            }

            boolean serves(int slot) {
                return slots.stream().anyMatch(r -> r[0] <= slot && slot <= r[1]);
            }

            Set<Integer> slotSet() {
                Set<Integer> set = new TreeSet<>();
                slots.forEach(r -> {
                    for (int s = r[0]; s <= r[1]; s++) {
                        set.add(s);
                    }
                });
                return set;
            }

            String ranges() {
                return slots.stream()
                        .map(r -> r[0] == r[1] ? Integer.toString(r[0]) : r[0] + "-" + r[1])
                        .collect(Collectors.joining(","));
            }
        }

        static Topology of(RedisServer viewer) {
            String answer = viewer.cli("cluster", "nodes");
            List<Node> nodes = new ArrayList<>();
            for (String line : answer.lines().filter(l -> !l.isBlank()).toList()) {
                String[] f = line.trim().split(" ");
                if (f.length < 8) {
                    throw new IllegalStateException(viewer + " answered CLUSTER NODES with a line of " + f.length
                            + " fields, expected at least 8: " + line);
                }
                String address = f[1].split("[@,]")[0];
                int port = Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
                List<int[]> slots = new ArrayList<>();
                for (int i = 8; i < f.length; i++) {
                    if (f[i].startsWith("[")) {
                        continue; // a slot being imported or migrated: not served by this node yet
                    }
                    String[] range = f[i].split("-");
                    int first = Integer.parseInt(range[0]);
                    slots.add(new int[] {first, range.length == 1 ? first : Integer.parseInt(range[1])});
                }
                nodes.add(new Node(f[0], port, Set.of(f[2].split(",")), f[3], slots));
            }
            return new Topology(nodes);
        }

        /** The nodes flagged master that serve at least one slot. */
        List<Node> masters() {
            return nodes.stream()
                    .filter(n -> n.flags().contains("master") && !n.slots().isEmpty())
                    .toList();
        }

        List<Node> replicas() {
            return nodes.stream().filter(n -> n.flags().contains("slave")).toList();
        }

        Node node(int port) {
            return nodes.stream().filter(n -> n.port() == port).findFirst().orElse(null);
        }

        int portOf(String id) {
            return nodes.stream()
                    .filter(n -> n.id().equals(id))
                    .findFirst()
                    .map(Node::port)
                    .orElse(-1);
        }

        /**
         * Each node's port and role, for comparing views and for messages:
         * {@code 7000 master 0-5460, 7003 replica of 7000}.
         */
        String roles() {
            return nodes.stream()
                    .sorted(Comparator.comparingInt(Node::port))
                    .map(n -> n.port() + role(n) + (n.failed() ? " (failed)" : ""))
                    .collect(Collectors.joining(", "));
        }

        private String role(Node n) {
            if (n.flags().contains("slave")) {
                return " replica of " + portOf(n.masterId());
            }
            return n.flags().contains("master") ? " master " + n.ranges() : " " + String.join(",", n.flags());
        }

        static String ranges(Set<Integer> slots) {
            List<int[]> ranges = new ArrayList<>();
            for (int slot : new TreeSet<>(slots)) {
                if (!ranges.isEmpty() && ranges.get(ranges.size() - 1)[1] == slot - 1) {
                    ranges.get(ranges.size() - 1)[1] = slot;
                } else {
                    ranges.add(new int[] {slot, slot});
                }
            }
            return new Node("", 0, Set.of(), "-", ranges).ranges();
        }
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
