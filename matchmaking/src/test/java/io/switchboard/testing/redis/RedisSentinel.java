package io.switchboard.testing.redis;

import java.nio.file.Files;
import java.time.Duration;
import java.util.List;

/**
 * A real Redis Sentinel for tests: one master {@link RedisServer} and one sentinel process that monitors it as
 * {@value #MASTER_NAME} with quorum 1. {@link #close()} stops both.
 */
public final class RedisSentinel implements AutoCloseable {
    /** The name the sentinel knows the master by. */
    public static final String MASTER_NAME = "mymaster";
    /** How long the sentinel waits before it considers an unreachable master down. */
    public static final Duration DOWN_AFTER = Duration.ofMillis(2000);
    /** How long {@link #start()} waits for the sentinel to name the master. */
    public static final Duration READY_TIMEOUT = Duration.ofSeconds(10);

    private static final Duration POLL = Duration.ofMillis(50);

    private final RedisServer master;
    private final RedisServer sentinel;

    private RedisSentinel(RedisServer master, RedisServer sentinel) {
        this.master = master;
        this.sentinel = sentinel;
    }

    /** Starts a master and a sentinel monitoring it, and waits until the sentinel answers the master's address. */
    public static RedisSentinel start() {
        RedisServer master = RedisServer.start();
        RedisServer sentinel = null;
        try {
            sentinel = RedisServer.launch("redis-sentinel", null, launch -> {
                // Sentinel rewrites its configuration file, so each launch writes a fresh one it may own.
                var config = launch.dir().resolve("sentinel-" + launch.port() + ".conf");
                Files.writeString(config, String.join("\n",
                        "port " + launch.port(),
                        "bind " + RedisServer.HOST,
                        "protected-mode no",
                        "dir " + launch.dir(),
                        "sentinel monitor " + MASTER_NAME + " " + RedisServer.HOST + " " + master.port() + " 1",
                        "sentinel down-after-milliseconds " + MASTER_NAME + " " + DOWN_AFTER.toMillis(),
                        ""));
                return List.of(config.toString(), "--sentinel");
            });
            awaitMaster(sentinel, master);
            return new RedisSentinel(master, sentinel);
        } catch (RuntimeException e) {
            if (sentinel != null) {
                sentinel.close();
            }
            master.close();
            throw e;
        }
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

    /** Lettuce's form: {@code redis-sentinel://127.0.0.1:S#mymaster}. */
    public String uri() {
        return "redis-sentinel://" + RedisServer.HOST + ":" + sentinel.port() + "#" + MASTER_NAME;
    }

    /** The sentinel's own port. */
    public int port() {
        return sentinel.port();
    }

    public RedisServer master() {
        return master;
    }

    /** Stops the sentinel, then the master. */
    @Override
    public void close() {
        try {
            sentinel.close();
        } finally {
            master.close();
        }
    }

    @Override
    public String toString() {
        return "RedisSentinel " + uri();
    }
}
