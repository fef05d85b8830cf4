package io.switchboard.gateway.cluster;

import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import reactor.core.publisher.Mono;

/** A Lua script run by its SHA1 ({@code EVALSHA}), sent whole only when a server does not know it yet. */
final class RedisScript {
    private final String source;
    private final String sha;

    RedisScript(String source) {
        this.source = source;
        try {
            sha = HexFormat.of()
                    .formatHex(MessageDigest.getInstance("SHA-1").digest(source.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    <T> Mono<T> run(RedisConnections redis, String[] keys, String... args) {
        String key = keys.length == 0 ? null : keys[0];
        return redis.<T>execute(key, c -> c.evalsha(sha, ScriptOutputType.MULTI, keys, args))
                .onErrorResume(
                        RedisScript::isNoScript,
                        e -> redis.<T>execute(key, c -> c.eval(source, ScriptOutputType.MULTI, keys, args)));
    }

    private static boolean isNoScript(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof RedisNoScriptException
                    || String.valueOf(t.getMessage()).startsWith("NOSCRIPT")) {
                return true;
            }
        }
        return false;
    }
}
