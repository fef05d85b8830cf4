package io.switchboard.gateway.cluster;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.switchboard.gateway.Ids;
import io.switchboard.gateway.channel.Broker;
import io.switchboard.gateway.channel.ChannelHub;
import io.switchboard.gateway.channel.HistoryRead;
import io.switchboard.gateway.channel.Publication;
import io.switchboard.protocol.StreamPosition;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * The cluster mode's broker. A publish assigns the channel's next offset, appends to its history and publishes
 * to every instance in one round trip (a Lua script), and is acknowledged only after that. Each instance holds
 * one Redis subscription per channel that has local subscribers, whatever their number, and drops it when the
 * last one leaves. Messages reach the local {@link ChannelHub} in offset order: a gap (a message lost while
 * the pub/sub link was down) is filled from the history before anything newer is dispatched, and after a
 * reconnect every channel catches up the same way.
 */
public final class RedisBroker implements Broker {
    private static final Logger log = LoggerFactory.getLogger(RedisBroker.class);
    private static final String PUBLISH_SCRIPT = """
            local epoch = redis.call('GET', KEYS[2])
            if not epoch then
              epoch = ARGV[2]
              redis.call('SET', KEYS[2], epoch)
              redis.call('DEL', KEYS[1], KEYS[3])
            end
            local offset = redis.call('INCR', KEYS[1])
            local payload = offset .. '\\n' .. epoch .. '\\n' .. ARGV[3]
            local size = tonumber(ARGV[4])
            if size > 0 then
              redis.call('RPUSH', KEYS[3], payload)
              redis.call('LTRIM', KEYS[3], -size, -1)
              redis.call('PEXPIRE', KEYS[3], ARGV[5])
            end
            redis.call('PEXPIRE', KEYS[1], ARGV[6])
            redis.call('PEXPIRE', KEYS[2], ARGV[6])
            redis.call('%s', ARGV[1], payload)
            return {offset, epoch}
            """;

    private final RedisConnections redis;
    private final RedisHistory history;
    private final ChannelHub hub;
    private final Ids ids;
    private final String node;
    private final int historySize;
    private final long historyTtlMs;
    private final long metaTtlMs;
    private final RedisScript publish;
    private final Map<String, Attached> attached = new ConcurrentHashMap<>();
    private final Counter messagesIn;
    private final Counter gapsFilled;
    private final Counter gapsLost;

    public RedisBroker(RedisConnections redis, RedisHistory history, ChannelHub hub, Ids ids, String node,
                       int historySize, long historyTtlMs, long metaTtlMs, MeterRegistry registry) {
        this.redis = redis;
        this.history = history;
        this.hub = hub;
        this.ids = ids;
        this.node = node;
        this.historySize = historySize;
        this.historyTtlMs = historyTtlMs;
        this.metaTtlMs = metaTtlMs;
        this.publish = new RedisScript(PUBLISH_SCRIPT.formatted(redis.sharded() ? "SPUBLISH" : "PUBLISH"));
        this.messagesIn = Counter.builder("switchboard.redis.pubsub.messages")
                .description("Pub/sub messages received from Redis").register(registry);
        this.gapsFilled = Counter.builder("switchboard.redis.gaps").tag("outcome", "filled")
                .description("Messages missed on the pub/sub link, by whether history filled them").register(registry);
        this.gapsLost = Counter.builder("switchboard.redis.gaps").tag("outcome", "lost")
                .description("Messages missed on the pub/sub link, by whether history filled them").register(registry);
        Gauge.builder("switchboard.redis.subscriptions", attached, Map::size)
                .description("Redis pub/sub channels this instance holds").register(registry);
        redis.onMessage(this::onMessage);
        redis.onReconnect(this::catchUpAll);
    }

    @Override
    public Mono<Publication> publish(String channel, String type, String from, String data) {
        long nanos = System.nanoTime();
        String[] keys = RedisKeys.channelKeys(channel);
        return publish.<List<Object>>run(redis, keys, RedisKeys.pubsubChannel(channel), ids.epoch(),
                        RedisKeys.body(type, from, node, nanos, data), Integer.toString(historySize),
                        Long.toString(historyTtlMs), Long.toString(metaTtlMs))
                .map(r -> new Publication(channel, (Long) r.get(0), (String) r.get(1), type, from, data, nanos));
    }

    @Override
    public Mono<Void> attach(String channel) {
        Attached existing = attached.get(channel);
        if (existing != null) {
            return Mono.fromCompletionStage(existing.ready.copy());
        }
        // Callers hold the channel's lock (ChannelService), so nobody else attaches this channel meanwhile.
        Attached fresh = new Attached();
        attached.put(channel, fresh);
        redis.subscribe(RedisKeys.pubsubChannel(channel)).whenComplete((ok, e) -> {
            if (e != null) {
                attached.remove(channel, fresh);
                fresh.ready.completeExceptionally(e);
            } else {
                fresh.ready.complete(null);
            }
        });
        return Mono.fromCompletionStage(fresh.ready.copy());
    }

    @Override
    public void detach(String channel) {
        if (attached.remove(channel) != null) {
            redis.unsubscribe(RedisKeys.pubsubChannel(channel));
        }
    }

    /** Channels this instance is subscribed to in Redis. */
    public int subscriptions() {
        return attached.size();
    }

    private void onMessage(String redisChannel, String payload) {
        String channel = RedisKeys.channelOf(redisChannel);
        if (channel == null) {
            return;
        }
        messagesIn.increment();
        Attached a = attached.get(channel);
        if (a == null) {
            return;
        }
        Publication p;
        try {
            p = RedisKeys.parse(channel, payload, node);
        } catch (RuntimeException e) {
            log.warn("Ignoring an unreadable message on Redis channel {}: {}", redisChannel, e.getMessage());
            return;
        }
        synchronized (a) {
            if (a.catchingUp) {
                a.queued.add(p);
                return;
            }
            if (a.epoch != null && a.epoch.equals(p.epoch()) && p.offset() > a.last + 1) {
                a.queued.add(p);
                catchUp(channel, a);
                return;
            }
            a.dispatch(p);
        }
    }

    private void catchUpAll() {
        attached.forEach((channel, a) -> {
            synchronized (a) {
                if (a.epoch != null && !a.catchingUp) {
                    catchUp(channel, a);
                }
            }
        });
    }

    /** Fills a gap from the history; what arrives meanwhile waits, so that offsets stay in order. */
    private void catchUp(String channel, Attached a) {
        a.catchingUp = true;
        StreamPosition from = new StreamPosition(a.last, a.epoch);
        history.read(channel, from)
                .retryWhen(reactor.util.retry.Retry.backoff(5, java.time.Duration.ofMillis(100)))
                .subscribe(read -> finishCatchUp(channel, a, read), e -> {
            log.warn("Catching up {} from Redis history failed, messages may be missing: {}", channel,
                    e.toString());
            finishCatchUp(channel, a, null);
        });
    }

    private void finishCatchUp(String channel, Attached a, HistoryRead read) {
        synchronized (a) {
            if (read != null && read.recovered()) {
                long before = a.last;
                for (Publication p : read.publications()) {
                    a.dispatch(p);
                }
                gapsFilled.increment(Math.max(0, a.last - before));
            } else if (read != null && read.epoch().equals(a.epoch) && read.latest() > a.last) {
                gapsLost.increment(read.latest() - a.last);
                log.warn("Messages {}..{} of {} were missed on the Redis pub/sub link and are no longer in "
                        + "its history", a.last + 1, read.latest(), channel);
            }
            a.catchingUp = false;
            ArrayDeque<Publication> queued = a.queued;
            while (!queued.isEmpty()) {
                a.dispatch(queued.poll());
            }
        }
    }

    @Override
    public void close() {
        attached.clear();
    }

    /** One channel this instance subscribes to in Redis, and the last offset dispatched from it. */
    private final class Attached {
        final CompletableFuture<Void> ready = new CompletableFuture<>();
        final ArrayDeque<Publication> queued = new ArrayDeque<>();
        String epoch;
        long last;
        boolean catchingUp;

        /** Dispatches {@code p} unless it was already (guarded by this). */
        void dispatch(Publication p) {
            if (p.epoch().equals(epoch) && p.offset() <= last) {
                return;
            }
            epoch = p.epoch();
            last = p.offset();
            hub.dispatch(p);
        }
    }
}
