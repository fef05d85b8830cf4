package io.switchboard.gateway.cluster;

import io.switchboard.gateway.Ids;
import io.switchboard.gateway.channel.History;
import io.switchboard.gateway.channel.HistoryRead;
import io.switchboard.gateway.channel.Publication;
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
            if since > latest then return {latest, epoch, 0} end
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
        String[] keys = RedisKeys.channelKeys(channel);
        return READ.<List<Object>>run(redis, keys, ids.epoch(),
                        since == null ? "" : Long.toString(since.offset()), since == null ? "" : since.epoch(),
                        Long.toString(metaTtlMs))
                .map(r -> {
                    long latest = (Long) r.get(0);
                    String epoch = (String) r.get(1);
                    boolean recovered = since != null && (Long) r.get(2) == 1L;
                    List<Publication> held = new ArrayList<>(Math.max(0, r.size() - 3));
                    for (int i = 3; i < r.size(); i++) {
                        held.add(RedisKeys.parse(channel, (String) r.get(i), node));
                    }
                    return new HistoryRead(latest, epoch, recovered, held);
                });
    }

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
