package io.switchboard.matchmaking;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.testing.redis.RedisExtension;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
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

    @Test
    @DisplayName("an operation that fails inside the script fails alone: the others of its batch take effect")
    void operationFailingInABatchFailsAlone() {
        // u_x's record is not a hash: every operation on u_x fails in the script with WRONGTYPE
        redis.server().cli("SET", RedisMatchmaker.KEY + ":u:u_x", "not a hash");
        // Redis holds the first call, so that the three joins wait and go together in the next one
        redis.server().cli("CLIENT", "PAUSE", "300", "WRITE");
        CompletableFuture<Void> first = matchmaker().renewLease("n1").toFuture();

        List<CompletableFuture<Outcome>> joins = new ArrayList<>();
        for (String u : List.of("u_a", "u_x", "u_b")) {
            joins.add(matchmaker().join(u, "s_" + u, "n1", List.of()).toFuture());
        }

        first.join();
        assertThat(joins.get(0).join().status()).isEqualTo(Outcome.QUEUED);
        assertThat(joins.get(1))
                .failsWithin(TIMEOUT)
                .withThrowableOfType(ExecutionException.class)
                .withMessageContaining("WRONGTYPE");
        assertPairing(matchOf(joins.get(2).join()), "u_a", "u_b");
    }

    @Test
    @DisplayName("at most MAX_WAITING operations wait for Redis: one more fails at once with MatchmakerBusyException,"
            + " and those waiting all run when Redis answers")
    void operationsBeyondTheWaitingBoundFailAtOnce() {
        redis.server().cli("CLIENT", "PAUSE", "2000", "WRITE");
        CompletableFuture<Void> first = matchmaker().renewLease("n1").toFuture();
        List<CompletableFuture<Outcome>> waiting = new ArrayList<>();
        for (int i = 0; i < RedisMatchmaker.MAX_WAITING; i++) {
            waiting.add(matchmaker().join("u_" + i, "s_" + i, "n1", List.of()).toFuture());
        }

        CompletableFuture<Outcome> oneMore =
                matchmaker().join("u_more", "s_more", "n1", List.of()).toFuture();

        assertThat(oneMore).isCompletedExceptionally();
        assertThat(first).isNotDone();
        redis.server().cli("CLIENT", "UNPAUSE");
        first.join();
        long matched = waiting.stream()
                .map(f -> f.orTimeout(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).join())
                .filter(o -> Outcome.MATCHED.equals(o.status()))
                .count();
        assertThat(matched).isEqualTo(RedisMatchmaker.MAX_WAITING / 2);
        assertThat(queueLength()).isZero();
    }
}
