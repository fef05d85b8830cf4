package io.switchboard.matchmaking;

import java.util.List;
import reactor.core.publisher.Mono;

/**
 * Runs a Lua script in Redis and returns its array reply: the one thing {@link RedisMatchmaker} needs from a
 * Redis client. The gateway supplies one backed by its own connections (circuit breaker, timeouts);
 * {@link LettuceLuaRunner} is a plain one.
 */
public interface LuaRunner {

    /** Runs {@code script} (known by its SHA-1 {@code sha}, sent whole when the server lacks it). */
    Mono<List<Object>> run(String script, String sha, String[] keys, String... args);
}
