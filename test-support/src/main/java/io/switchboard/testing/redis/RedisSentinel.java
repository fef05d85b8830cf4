package io.switchboard.testing.redis;

import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A real Redis Sentinel for tests: one master {@link RedisServer} and one sentinel process that monitors it as
 * {@value #MASTER_NAME} with quorum 1; {@link #startWithReplica()} adds a replica that the sentinel promotes when the
 * master dies ({@link RedisServer#kill()}) or on {@link #failover()}. {@link #close()} stops them all.
 */
public final class RedisSentinel implements AutoCloseable {
    /** The name the sentinel knows the master by. */
    public static final String MASTER_NAME = "mymaster";
    /** How long the sentinel of {@link #start()} waits before it considers an unreachable master down. */
    public static final Duration DOWN_AFTER = Duration.ofMillis(2000);
    /**
     * How long the sentinel of {@link #startWithReplica()} waits before it considers an unreachable master down and
     * promotes the replica: a master kill leads to a new master in about twice this.
     */
    public static final Duration FAILOVER_DOWN_AFTER = Duration.ofMillis(1000);
    /**
     * The sentinel's {@code failover-timeout} for {@link #startWithReplica()}: a promotion not seen within it is
     * abandoned, and the sentinel starts no other failover of the master on its own within twice this after one
     * started ({@link #failover()} is not held back).
     */
    public static final Duration FAILOVER_TIMEOUT = Duration.ofMillis(4000);
    /** How long {@link #start()} waits for the sentinel to name the master (and to know the synced replica). */
    public static final Duration READY_TIMEOUT = Duration.ofSeconds(10);

    private static final Duration POLL = Duration.ofMillis(50);

    private final RedisServer master;
    private final RedisServer replica;
    private final RedisServer sentinel;

    private RedisSentinel(RedisServer master, RedisServer replica, RedisServer sentinel) {
        this.master = master;
        this.replica = replica;
        this.sentinel = sentinel;
    }

    /** Starts a master and a sentinel monitoring it, and waits until the sentinel answers the master's address. */
    public static RedisSentinel start() {
        RedisServer master = RedisServer.start();
        RedisServer sentinel = null;
        try {
            sentinel = launchSentinel(
                    master, List.of("sentinel down-after-milliseconds " + MASTER_NAME + " " + DOWN_AFTER.toMillis()));
            awaitMaster(sentinel, master);
            return new RedisSentinel(master, null, sentinel);
        } catch (RuntimeException e) {
            closeAll(e, sentinel, master);
            throw e;
        }
    }

    /**
     * Starts a master, a replica of it ({@code --replicaof}) and a sentinel monitoring the master with
     * {@link #FAILOVER_DOWN_AFTER} and {@link #FAILOVER_TIMEOUT}; waits until the replica has finished its initial sync
     * ({@code master_link_status:up}) and the sentinel names the master and knows the replica as a healthy one, so
     * that a test may fail over at once.
     * <p>
     * Both servers have the default {@code replica-priority} 100 (0 would make a replica unelectable) and serve
     * stale data when their master is away. {@link RedisServer#restart()} starts a server again with its first
     * command line, empty: the first master as a master, which the sentinel turns into a replica of the current one
     * after some seconds; the first replica as a replica of the first master.
     */
    public static RedisSentinel startWithReplica() {
        RedisServer master = null;
        RedisServer replica = null;
        RedisServer sentinel = null;
        try {
            master = RedisServer.launch("redis-server", null, RedisSentinel::dataArguments);
            int masterPort = master.port();
            replica = RedisServer.launch("redis-server", null, launch -> {
                List<String> args = new ArrayList<>(dataArguments(launch));
                args.addAll(List.of("--replicaof", RedisServer.HOST, Integer.toString(masterPort)));
                return args;
            });
            awaitSynced(replica);
            sentinel = launchSentinel(
                    master,
                    List.of(
                            "sentinel down-after-milliseconds " + MASTER_NAME + " " + FAILOVER_DOWN_AFTER.toMillis(),
                            "sentinel failover-timeout " + MASTER_NAME + " " + FAILOVER_TIMEOUT.toMillis()));
            awaitMaster(sentinel, master);
            awaitKnownReplica(sentinel, replica);
            return new RedisSentinel(master, replica, sentinel);
        } catch (RuntimeException e) {
            closeAll(e, sentinel, replica, master);
            throw e;
        }
    }

    private static List<String> dataArguments(RedisServer.Launch launch) {
        List<String> args = new ArrayList<>(RedisServer.plainArguments(launch));
        args.addAll(List.of(
                // The default waits 5 s for more replicas before a full sync; a test waits for the sync.
                "--repl-diskless-sync-delay", "0",
                // The defaults, said out loud: 0 would make the sentinel never promote this server, and a replica
                // that refused reads while its master is away would look down to a client during a failover.
                "--replica-priority", "100",
                "--replica-serve-stale-data", "yes"));
        return args;
    }

    private static RedisServer launchSentinel(RedisServer master, List<String> settings) {
        return RedisServer.launch("redis-sentinel", null, launch -> {
            // Sentinel rewrites its configuration file, so each launch writes a fresh one it may own.
            var config = launch.dir().resolve("sentinel-" + launch.port() + ".conf");
            List<String> lines = new ArrayList<>(List.of(
                    "port " + launch.port(),
                    "bind " + RedisServer.HOST,
                    "protected-mode no",
                    "dir " + launch.dir(),
                    "sentinel monitor " + MASTER_NAME + " " + RedisServer.HOST + " " + master.port() + " 1"));
            lines.addAll(settings);
            lines.add("");
            Files.writeString(config, String.join("\n", lines));
            return List.of(config.toString(), "--sentinel");
        });
    }

    private static void awaitMaster(RedisServer sentinel, RedisServer master) {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        String expected = RedisServer.HOST + "\n" + master.port();
        String answer;
        while (!(answer = sentinel.cli("sentinel", "get-master-addr-by-name", MASTER_NAME)).equals(expected)) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the sentinel on " + RedisServer.HOST + ":" + sentinel.port()
                        + " did not name " + MASTER_NAME + " at " + RedisServer.HOST + ":" + master.port()
                        + " within " + READY_TIMEOUT.toSeconds() + " s; it answers " + answer.replace('\n', ' '));
            }
            RedisServer.sleep(POLL);
        }
    }

    private static void awaitSynced(RedisServer replica) {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        String link;
        while (!(link = field(replica.cli("info", "replication"), "master_link_status"))
                .equals("master_link_status:up")) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(replica + " did not finish its initial sync within "
                        + READY_TIMEOUT.toSeconds() + " s: expected master_link_status:up, it reports " + link);
            }
            RedisServer.sleep(POLL);
        }
    }

    /**
     * Waits until the sentinel lists {@code replica} with no flag but {@code slave} and its link to the master up:
     * without that, {@code SENTINEL FAILOVER} answers NOGOODSLAVE and a master kill leads to no promotion.
     */
    private static void awaitKnownReplica(RedisServer sentinel, RedisServer replica) {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (true) {
            Map<String, String> seen = sentinelReplica(sentinel, replica.port());
            if ("slave".equals(seen.get("flags")) && "ok".equals(seen.get("master-link-status"))) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the sentinel on " + RedisServer.HOST + ":" + sentinel.port()
                        + " did not list " + replica + " as a healthy replica within " + READY_TIMEOUT.toSeconds()
                        + " s: expected flags slave and master-link-status ok, it lists "
                        + (seen.isEmpty()
                                ? "no such replica"
                                : "flags " + seen.get("flags") + " and master-link-status "
                                        + seen.get("master-link-status")));
            }
            RedisServer.sleep(POLL);
        }
    }

    /** The fields {@code SENTINEL REPLICAS} gives for the replica on {@code port}, or none. */
    private static Map<String, String> sentinelReplica(RedisServer sentinel, int port) {
        // redis-cli prints the nested answer flat, one field name or value per line; each replica starts at "name".
        List<String> lines =
                sentinel.cli("sentinel", "replicas", MASTER_NAME).lines().toList();
        Map<String, String> fields = new LinkedHashMap<>();
        for (int i = 0; i + 1 < lines.size(); i += 2) {
            if (lines.get(i).equals("name")) {
                if (String.valueOf(port).equals(fields.get("port"))) {
                    return fields;
                }
                fields = new LinkedHashMap<>();
            }
            fields.put(lines.get(i), lines.get(i + 1));
        }
        return String.valueOf(port).equals(fields.get("port")) ? fields : Map.of();
    }

    /** Lettuce's form: {@code redis-sentinel://127.0.0.1:S#mymaster}. */
    public String uri() {
        return "redis-sentinel://" + RedisServer.HOST + ":" + sentinel.port() + "#" + MASTER_NAME;
    }

    /** The sentinel's own port. */
    public int port() {
        return sentinel.port();
    }

    /** The ports of the sentinels, for a client that takes them as a list: one, {@link #port()}. */
    public List<Integer> sentinelPorts() {
        return List.of(sentinel.port());
    }

    /** The master this started with; after a failover, {@link #currentMaster()} is the one the sentinel names. */
    public RedisServer master() {
        return master;
    }

    /** The server the sentinel names as master now ({@code SENTINEL get-master-addr-by-name}). */
    public RedisServer currentMaster() {
        String answer = sentinel.cli("sentinel", "get-master-addr-by-name", MASTER_NAME);
        RedisServer named = named(answer);
        if (named == null) {
            throw new IllegalStateException("the sentinel on " + RedisServer.HOST + ":" + sentinel.port() + " names "
                    + answer.replace('\n', ':') + " as " + MASTER_NAME + ", which is none of " + servers());
        }
        return named;
    }

    /** Of the two servers of {@link #startWithReplica()}, the one the sentinel does not name as master now. */
    public RedisServer replica() {
        if (replica == null) {
            throw new IllegalStateException(this + " has no replica: only RedisSentinel.startWithReplica() starts one");
        }
        return currentMaster() == master ? replica : master;
    }

    /**
     * Asks the sentinel for a planned failover ({@code SENTINEL FAILOVER mymaster}): it promotes the replica without
     * waiting for the master to look down. {@link #awaitNewMaster(RedisServer, Duration)} waits for the outcome. The
     * old master is not told: it stays a master, taking writes from clients still connected to it, until the sentinel
     * turns it into a replica of the new one, about 10 s later.
     */
    public void failover() {
        if (replica == null) {
            throw new IllegalStateException(
                    this + " has no replica to fail over to:" + " use RedisSentinel.startWithReplica()");
        }
        String answer = sentinel.cli("sentinel", "failover", MASTER_NAME);
        if (!answer.equals("OK")) {
            throw new IllegalStateException("SENTINEL FAILOVER " + MASTER_NAME + " on " + RedisServer.HOST + ":"
                    + sentinel.port() + " answered " + answer + ", expected OK");
        }
    }

    /**
     * Waits until the sentinel names a master other than {@code old} and that server reports {@code role:master};
     * returns it.
     */
    public RedisServer awaitNewMaster(RedisServer old, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String answer = sentinel.cli("sentinel", "get-master-addr-by-name", MASTER_NAME);
            RedisServer named = named(answer);
            String seen = "the sentinel names " + answer.replace('\n', ':');
            if (named != null && named != old) {
                String role = named.isRunning() ? field(named.cli("info", "replication"), "role") : "not running";
                if (role.equals("role:master")) {
                    return named;
                }
                seen += ", which reports " + role;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("timed out after " + timeout.toMillis() + " ms waiting for a master"
                        + " other than " + old + ": " + seen + "; the sentinel's state of " + MASTER_NAME + ": "
                        + masterState());
            }
            RedisServer.sleep(POLL);
        }
    }

    /** The flags and failover state the sentinel has for the master, for messages. */
    private String masterState() {
        List<String> lines =
                sentinel.cli("sentinel", "master", MASTER_NAME).lines().toList();
        List<String> state = new ArrayList<>();
        for (int i = 0; i + 1 < lines.size(); i += 2) {
            if (List.of("flags", "failover-state", "num-slaves").contains(lines.get(i))) {
                state.add(lines.get(i) + " " + lines.get(i + 1));
            }
        }
        return String.join(", ", state);
    }

    /** The server at the address {@code SENTINEL get-master-addr-by-name} answered (host and port on two lines). */
    private RedisServer named(String answer) {
        String[] address = answer.split("\n");
        if (address.length != 2 || !address[0].trim().equals(RedisServer.HOST)) {
            return null;
        }
        int port;
        try {
            port = Integer.parseInt(address[1].trim());
        } catch (NumberFormatException e) {
            return null;
        }
        return servers().stream().filter(s -> s.port() == port).findFirst().orElse(null);
    }

    private List<RedisServer> servers() {
        return replica == null ? List.of(master) : List.of(master, replica);
    }

    private static String field(String info, String name) {
        return info.lines()
                .filter(l -> l.startsWith(name + ":"))
                .findFirst()
                .orElse(name + ":(missing)")
                .strip();
    }

    /** Stops the sentinel, then the replica, then the master. */
    @Override
    public void close() {
        RuntimeException failure = closeAll(null, sentinel, replica, master);
        if (failure != null) {
            throw failure;
        }
    }

    /**
     * Closes each server that is not null, carrying on past a failure. With no {@code failure} already, returns the
     * first failure, or null; otherwise adds the failures to {@code failure}, for the caller to throw, and returns
     * null.
     */
    private static RuntimeException closeAll(RuntimeException failure, RedisServer... servers) {
        RuntimeException first = failure;
        for (RedisServer server : servers) {
            if (server == null) {
                continue;
            }
            try {
                server.close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        return failure == null ? first : null;
    }

    @Override
    public String toString() {
        return "RedisSentinel " + uri();
    }
}
