package io.switchboard.gateway.cluster;

import io.switchboard.gateway.channel.History;
import io.switchboard.gateway.channel.HistoryRead;
import io.switchboard.gateway.channel.Publication;
import io.switchboard.gateway.id.Ids;
import io.switchboard.protocol.StreamPosition;
import java.util.ArrayList;
import java.util.List;
import reactor.core.publisher.Mono;

/**
 * Channel and inbox history in Redis, so that {@code since} recovery works on whichever instance a client
 * lands. A read returns the channel's latest offset and epoch (creating the epoch when the channel has none,
 * for instance after Redis lost its data) and, when asked, every message after a position if all are held.
 */
public final class RedisHistory implements History {
    private static final RedisScript READ = new RedisScript("""
            local epoch = redis.call('GET', KEYS[2])
            if not epoch then
              epoch = ARGV[1]
              redis.call('SET', KEYS[2], epoch, 'PX', ARGV[4])
              redis.call('DEL', KEYS[1], KEYS[3])
            end
            local latest = tonumber(redis.call('GET', KEYS[1]) or '0')
            if ARGV[2] == '' or ARGV[3] ~= epoch then return {latest, epoch, 0} end
            local since = tonumber(ARGV[2])
            if since > latest then
              if ARGV[5] == '1' then
                -- an instance saw offsets this counter never reached: Redis lost acknowledged writes (a failover
                -- with asynchronous replication, a restart from an old snapshot); their offsets must not be reused
                -- in this epoch, so the channel starts a new one
                epoch = ARGV[1]
                redis.call('SET', KEYS[2], epoch, 'PX', ARGV[4])
                redis.call('DEL', KEYS[1], KEYS[3])
                return {0, epoch, 2}
              end
              return {latest, epoch, 0}
            end
            if since == latest then return {latest, epoch, 1} end
            local n = redis.call('LLEN', KEYS[3])
            local oldest = latest - n + 1
            if since + 1 < oldest then return {latest, epoch, 0} end
            local out = {latest, epoch, 1}
            for _, m in ipairs(redis.call('LRANGE', KEYS[3], since + 1 - oldest, -1)) do
              out[#out + 1] = m
            end
            return out
            """);

    private final RedisConnections redis;
    private final Ids ids;
    private final String node;
    private final long metaTtlMs;

    /** @param metaTtlMs how long a channel's offset counter and epoch outlive its last message */
    public RedisHistory(RedisConnections redis, Ids ids, String node, long metaTtlMs) {
        this.redis = redis;
        this.ids = ids;
        this.node = node;
        this.metaTtlMs = metaTtlMs;
    }

    @Override
    public Mono<HistoryRead> read(String channel, StreamPosition since) {
        return read(channel, since, false).map(Witnessed::read);
    }

    /**
     * A read by an instance that delivered every offset up to {@code seen} itself: when the channel's counter is
     * behind it in the same epoch, Redis lost acknowledged writes and the channel gets a new epoch
     * ({@link Witnessed#rotated()}). Clients' positions are not trusted this way: a client could claim any offset.
     */
    Mono<Witnessed> witness(String channel, StreamPosition seen) {
        return read(channel, seen, true);
    }

    private Mono<Witnessed> read(String channel, StreamPosition since, boolean witness) {
        String[] keys = RedisKeys.channelKeys(channel);
        return READ.<List<Object>>run(
                        redis,
                        keys,
                        ids.epoch(),
                        since == null ? "" : Long.toString(since.offset()),
                        since == null ? "" : since.epoch(),
                        Long.toString(metaTtlMs),
                        witness ? "1" : "0")
                .map(r -> {
                    long latest = (Long) r.get(0);
                    String epoch = (String) r.get(1);
                    long outcome = (Long) r.get(2);
                    boolean recovered = since != null && outcome == 1L;
                    List<Publication> held = new ArrayList<>(Math.max(0, r.size() - 3));
                    int[] tags = new int[Math.max(0, r.size() - 3)];
                    for (int i = 3; i < r.size(); i++) {
                        String payload = (String) r.get(i);
                        held.add(RedisKeys.parse(channel, payload, node));
                        tags[i - 3] = RedisKeys.tag(payload);
                    }
                    return new Witnessed(new HistoryRead(latest, epoch, recovered, held), outcome == 2L, tags);
                });
    }

    /**
     * A history read as the broker needs it.
     *
     * @param read what was read
     * @param rotated whether the read found Redis behind what was seen, and so started a new epoch
     * @param tags {@link RedisKeys#tag} of each publication read, in order
     */
    record Witnessed(HistoryRead read, boolean rotated, int[] tags) {}

    /** Not counted in cluster mode: the history is shared, its size is Redis's to report. */
    @Override
    public long channels() {
        return -1;
    }

    @Override
    public long messages() {
        return -1;
    }
}
