package io.switchboard.matchmaking;

import io.switchboard.testing.redis.RedisExtension;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The random-connect rules against the Redis matchmaker, on a real redis-server emptied before each test. */
class RedisMatchmakerTests extends MatchmakerContract {
    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    /** Counts the matchmaker's keys but the shared ones (queue, matched set, leases, sequence). */
    private static final String COUNT_USER_KEYS = """
            local n = 0
            for _, k in ipairs(redis.call('KEYS', ARGV[1] .. ':*')) do
              local rest = string.sub(k, #ARGV[1] + 2)
              if rest ~= 'q' and rest ~= 'mt' and rest ~= 'nodes' and rest ~= 'seq' then n = n + 1 end
            end
            return n
            """;

    @Override
    protected Matchmaker create(MatchmakerSettings settings, LongSupplier clockMillis) {
        // The matchmaker does not own its runner: the runner is closed after it.
        LettuceLuaRunner runner = own(LettuceLuaRunner.connect(redis.server().uri()));
        return new RedisMatchmaker(runner, settings, clockMillis);
    }

    @Override
    protected long userRecords() {
        return Long.parseLong(redis.server()
                .cli("EVAL", COUNT_USER_KEYS, "0", RedisMatchmaker.KEY)
                .trim());
    }
}
