package io.switchboard.gateway.cluster;

import io.switchboard.matchmaking.LuaRunner;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import reactor.core.publisher.Mono;

/** Runs the matchmaker's scripts on this instance's Redis connections, behind their circuit breaker. */
public final class RedisLuaRunner implements LuaRunner {
    private final RedisConnections redis;
    private final Map<String, RedisScript> scripts = new ConcurrentHashMap<>();

    public RedisLuaRunner(RedisConnections redis) {
        this.redis = redis;
    }

    @Override
    public Mono<List<Object>> run(String script, String sha, String[] keys, String... args) {
        return scripts.computeIfAbsent(sha, s -> new RedisScript(script)).run(redis, keys, args);
    }
}
