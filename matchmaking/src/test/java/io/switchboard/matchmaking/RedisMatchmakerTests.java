package io.switchboard.matchmaking;

import io.switchboard.testing.redis.RedisExtension;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The random-connect rules against the Redis matchmaker, on a real redis-server emptied before each test. */
class RedisMatchmakerTests extends MatchmakerContract {
    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    @Override
    protected Matchmaker create(MatchmakerSettings settings, LongSupplier clockMillis) {
        // The matchmaker does not own its runner: the runner is closed after it.
        LettuceLuaRunner runner = own(LettuceLuaRunner.connect(redis.server().uri()));
        return new RedisMatchmaker(runner, settings, clockMillis);
    }
}
