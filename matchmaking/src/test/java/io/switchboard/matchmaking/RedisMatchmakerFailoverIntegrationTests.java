package io.switchboard.matchmaking;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.testing.redis.RedisSentinel;
import io.switchboard.testing.redis.RedisServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The Redis matchmaker when Redis fails over while batches are in flight: each batch is one script call, which
 * Redis runs and replicates whole, so a batch survives on the new master whole or is lost whole, as a single
 * operation would be. Real servers (test-support): a master, its replica and a sentinel.
 */
class RedisMatchmakerFailoverIntegrationTests {
    private static final MatchmakerSettings SETTINGS = MatchmakerContract.SETTINGS;
    private static final int USERS = 2_000;
    private static final Duration SETTLE = Duration.ofSeconds(60);
    /** Each user u_0 ... u_(n-1): "user|match|partner|queue score", empty when not set. */
    private static final String STATE = """
            local out = {}
            for i = 0, tonumber(ARGV[2]) - 1 do
              local u = 'u_' .. i
              local mp = redis.call('HMGET', ARGV[1] .. ':u:' .. u, 'm', 'p')
              local q = redis.call('ZSCORE', ARGV[1] .. ':q', u)
              out[#out + 1] = u .. '|' .. (mp[1] or '') .. '|' .. (mp[2] or '') .. '|' .. (q or '')
            end
            return out
            """;

    @Test
    @DisplayName("section 6: the master killed while batches of joins are in flight: on the new master every match"
            + " has both its users, nobody is queued and matched at once, and each pairing a caller was told of"
            + " survived whole or was lost whole")
    void masterKilledMidBatchLeavesNoHalfPairing() throws Exception {
        try (RedisSentinel sentinel = RedisSentinel.startWithReplica();
                LettuceLuaRunner runner = LettuceLuaRunner.connect(sentinel.uri())) {
            long now = MatchmakerContract.START;
            RedisMatchmaker mm = new RedisMatchmaker(runner, SETTINGS, () -> now);
            mm.renewLease("n1").block(MatchmakerContract.TIMEOUT);
            RedisServer old = sentinel.currentMaster();

            List<CompletableFuture<Outcome>> joins = new ArrayList<>();
            for (int i = 0; i < USERS; i++) {
                joins.add(mm.join(user(i), "s" + i, "n1", List.of()).toFuture());
            }
            // kill the master once some batches are answered and others still wait or run
            long deadline = System.nanoTime() + SETTLE.toNanos();
            long answeredBeforeKill;
            while ((answeredBeforeKill = joins.stream()
                                    .filter(CompletableFuture::isDone)
                                    .count())
                            < USERS / 4
                    && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            old.kill();
            RedisServer master = sentinel.awaitNewMaster(old, Duration.ofSeconds(20));

            Map<String, Pairing> told = new HashMap<>();
            int failed = 0;
            for (CompletableFuture<Outcome> f : joins) {
                try {
                    Outcome o = f.get(SETTLE.toMillis(), TimeUnit.MILLISECONDS);
                    for (Pairing p : o.pairings()) {
                        told.put(p.match(), p);
                    }
                } catch (ExecutionException e) {
                    failed++;
                }
            }

            Map<String, String[]> state = new HashMap<>();
            for (String line : master.cli("EVAL", STATE, "0", RedisMatchmaker.KEY, Integer.toString(USERS))
                    .split("\n")) {
                String[] f = line.split("\\|", -1);
                String m = f[1].isEmpty() ? null : f[1];
                assertThat(m == null || f[3].isEmpty())
                        .as("%s is queued and matched (%s) at once", f[0], m)
                        .isTrue();
                state.put(f[0], new String[] {m, f[2].isEmpty() ? null : f[2]});
            }
            assertThat(state).hasSize(USERS);
            for (Map.Entry<String, String[]> e : state.entrySet()) {
                String[] mine = e.getValue();
                if (mine[0] != null) {
                    String[] theirs = state.get(mine[1]);
                    assertThat(theirs)
                            .as("partner %s of %s", mine[1], e.getKey())
                            .isNotNull();
                    assertThat(theirs[0])
                            .as("match of %s, partner of %s", mine[1], e.getKey())
                            .isEqualTo(mine[0]);
                    assertThat(theirs[1]).as("partner of %s", mine[1]).isEqualTo(e.getKey());
                }
            }
            for (Pairing p : told.values()) {
                boolean initiatorHasIt = p.match().equals(state.get(p.initiator())[0]);
                boolean otherHasIt = p.match().equals(state.get(p.other())[0]);
                assertThat(initiatorHasIt)
                        .as("pairing %s survived for one of its users only", p)
                        .isEqualTo(otherHasIt);
            }
            assertThat(answeredBeforeKill).as("joins answered before the kill").isLessThan(USERS);
        }
    }

    private static String user(int i) {
        return "u_" + i;
    }
}
