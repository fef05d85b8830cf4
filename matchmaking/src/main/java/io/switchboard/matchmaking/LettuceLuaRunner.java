package io.switchboard.matchmaking;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import java.util.List;
import reactor.core.publisher.Mono;

/** A {@link LuaRunner} on its own Lettuce connection to one Redis server; owns and closes it. */
public final class LettuceLuaRunner implements LuaRunner, AutoCloseable {
    private final RedisClient client;
    private final StatefulRedisConnection<String, String> connection;
    private final RedisAsyncCommands<String, String> commands;

    private LettuceLuaRunner(RedisClient client) {
        this.client = client;
        this.connection = client.connect();
        this.commands = connection.async();
    }

    /** Connects to {@code redisUri} ({@code redis://host:port}). */
    public static LettuceLuaRunner connect(String redisUri) {
        return new LettuceLuaRunner(RedisClient.create(redisUri));
    }

    @Override
    public Mono<List<Object>> run(String script, String sha, String[] keys, String... args) {
        return Mono.<List<Object>>fromCompletionStage(() -> commands.evalsha(sha, ScriptOutputType.MULTI, keys, args))
                .onErrorResume(
                        RedisNoScriptException.class,
                        e -> Mono.fromCompletionStage(() -> commands.eval(script, ScriptOutputType.MULTI, keys, args)));
    }

    @Override
    public void close() {
        connection.close();
        client.shutdown();
    }
}
