package io.switchboard.gateway.cluster;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.switchboard.gateway.channel.Broker;
import io.switchboard.gateway.channel.ChannelHub;
import io.switchboard.gateway.channel.HistoryRead;
import io.switchboard.gateway.channel.Publication;
import io.switchboard.gateway.id.Ids;
import io.switchboard.protocol.StreamPosition;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.util.retry.Retry;

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
            local rotated = 0
            if not epoch then
              epoch = ARGV[2]
              redis.call('SET', KEYS[2], epoch)
              redis.call('DEL', KEYS[1], KEYS[3])
            elseif epoch == ARGV[7] and tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[8]) then
              -- this instance acknowledged or delivered offsets the counter never reached: Redis lost them, and
              -- their offsets must not be handed out again in this epoch
              epoch = ARGV[2]
              redis.call('SET', KEYS[2], epoch)
              redis.call('DEL', KEYS[1], KEYS[3])
              rotated = 1
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
            return {offset, epoch, rotated}
            """;
    /** Starts a new epoch for a channel whose offsets were handed out twice in the current one. */
    private static final RedisScript ROTATE = new RedisScript("""
            if redis.call('GET', KEYS[2]) == ARGV[1] then
              redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
              redis.call('DEL', KEYS[1], KEYS[3])
              return {1}
            end
            return {0}
            """);
    /** Channels whose last acknowledged position this instance remembers, to notice Redis going back. */
    static final int KNOWN_CHANNELS = 10_000;
    /** Offsets per channel whose {@link RedisKeys#tag} is kept, to tell a duplicate from a reused offset. */
    private static final int TAGS = 16;
    /** Earlier epochs per channel whose last offset is kept: Redis going back to one does not repeat it. */
    private static final int EARLIER_EPOCHS = 4;

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
    /** The last position this instance acknowledged per channel, least recently published dropped first. */
    private final Map<String, StreamPosition> acknowledged =
            Collections.synchronizedMap(new LinkedHashMap<>(256, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, StreamPosition> eldest) {
                    return size() > KNOWN_CHANNELS;
                }
            });

    private final Counter messagesIn;
    private final Counter gapsFilled;
    private final Counter gapsLost;
    private final Counter epochsLost;

    public RedisBroker(
            RedisConnections redis,
            RedisHistory history,
            ChannelHub hub,
            Ids ids,
            String node,
            int historySize,
            long historyTtlMs,
            long metaTtlMs,
            MeterRegistry registry) {
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
                .description("Pub/sub messages received from Redis")
                .register(registry);
        this.gapsFilled = Counter.builder("switchboard.redis.gaps")
                .tag("outcome", "filled")
                .description("Messages missed on the pub/sub link, by whether history filled them")
                .register(registry);
        this.gapsLost = Counter.builder("switchboard.redis.gaps")
                .tag("outcome", "lost")
                .description("Messages missed on the pub/sub link, by whether history filled them")
                .register(registry);
        this.epochsLost = Counter.builder("switchboard.redis.epochs.lost")
                .description("Channels and inboxes given a new epoch because Redis lost acknowledged messages")
                .register(registry);
        Gauge.builder("switchboard.redis.subscriptions", attached, Map::size)
                .description("Redis pub/sub channels this instance holds")
                .register(registry);
        redis.onMessage(this::onMessage);
        redis.onReconnect(this::catchUpAll);
        redis.onResubscribed(redisChannel -> {
            String channel = RedisKeys.channelOf(redisChannel);
            Attached a = channel == null ? null : attached.get(channel);
            if (a != null) {
                synchronized (a) {
                    if (a.epoch != null && !a.catchingUp) {
                        catchUp(channel, a);
                    }
                }
            }
        });
    }

    @Override
    public Mono<Publication> publish(String channel, String type, String from, String data) {
        long nanos = System.nanoTime();
        String[] keys = RedisKeys.channelKeys(channel);
        StreamPosition known = known(channel);
        return publish.<List<Object>>run(
                        redis,
                        keys,
                        RedisKeys.pubsubChannel(channel),
                        ids.epoch(),
                        RedisKeys.body(type, from, node, nanos, data),
                        Integer.toString(historySize),
                        Long.toString(historyTtlMs),
                        Long.toString(metaTtlMs),
                        known == null ? "" : known.epoch(),
                        known == null ? "0" : Long.toString(known.offset()))
                .map(r -> {
                    Publication p =
                            new Publication(channel, (Long) r.get(0), (String) r.get(1), type, from, data, nanos);
                    if (r.size() > 2 && (Long) r.get(2) == 1L) {
                        lostEpoch(channel, known, p.epoch(), "a publish found its offset counter behind");
                    }
                    acknowledged.merge(
                            channel,
                            new StreamPosition(p.offset(), p.epoch()),
                            (was, now) -> was.epoch().equals(now.epoch()) && was.offset() > now.offset() ? was : now);
                    return p;
                });
    }

    /** The furthest position of {@code channel} this instance acknowledged or delivered, or null. */
    private StreamPosition known(String channel) {
        StreamPosition acked = acknowledged.get(channel);
        Attached a = attached.get(channel);
        if (a == null) {
            return acked;
        }
        synchronized (a) {
            if (a.epoch == null || acked != null && acked.epoch().equals(a.epoch) && acked.offset() > a.last) {
                return acked;
            }
            return new StreamPosition(a.last, a.epoch);
        }
    }

    private void lostEpoch(String channel, StreamPosition seen, String newEpoch, String how) {
        epochsLost.increment();
        log.warn(
                "Redis lost acknowledged messages of {}: {} (this instance saw offset {} of epoch {}); it starts"
                        + " epoch {}, and clients recovering from before see recovered:false",
                channel,
                how,
                seen == null ? "?" : seen.offset(),
                seen == null ? "?" : seen.epoch(),
                newEpoch);
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
        int tag = RedisKeys.tag(payload);
        synchronized (a) {
            if (a.catchingUp) {
                a.queue(p, tag);
                return;
            }
            if (a.epoch != null && a.epoch.equals(p.epoch()) && p.offset() > a.last + 1) {
                a.queue(p, tag);
                catchUp(channel, a);
                return;
            }
            dispatchLive(channel, a, p, tag);
        }
    }

    /**
     * Dispatches a message that came live. One at or before the last offset of the same epoch is a duplicate (a
     * catch-up read it first) when it is the same message; a different message there means Redis handed the
     * offset out twice, having lost the first: the channel gets a new epoch. When the offset is too old to
     * compare, a history read as a witness tells (guarded by a).
     */
    private void dispatchLive(String channel, Attached a, Publication p, int tag) {
        if (a.epoch != null && !a.epoch.equals(p.epoch()) && p.offset() <= a.seenIn(p.epoch())) {
            // An earlier epoch is back (a failover to a replica that lagged) with offsets this instance delivered:
            // they are being handed out again.
            if (!a.rotating) {
                a.rotating = true;
                rotate(
                        channel,
                        a,
                        new StreamPosition(a.seenIn(p.epoch()), p.epoch()),
                        "epoch " + p.epoch() + " came back and offset " + p.offset() + " was handed out again");
            }
            return;
        }
        if (a.epoch == null || !a.epoch.equals(p.epoch()) || p.offset() > a.last) {
            a.dispatch(p, tag);
            return;
        }
        Boolean same = a.sameAs(p.offset(), tag);
        if (Boolean.TRUE.equals(same) || a.rotating) {
            return;
        }
        a.rotating = true;
        StreamPosition seen = new StreamPosition(a.last, a.epoch);
        if (same == null) {
            history.witness(channel, seen)
                    .subscribe(
                            w -> {
                                synchronized (a) {
                                    a.rotating = false;
                                }
                                if (w.rotated()) {
                                    lostEpoch(channel, seen, w.read().epoch(), "its offset counter is behind");
                                }
                            },
                            e -> {
                                synchronized (a) {
                                    a.rotating = false;
                                }
                            });
            return;
        }
        rotate(channel, a, seen, "offset " + p.offset() + " was handed out twice");
    }

    /** Gives {@code channel} a new epoch if it is still in {@code seen}'s, whose offsets were reused. */
    private void rotate(String channel, Attached a, StreamPosition seen, String how) {
        String next = ids.epoch();
        ROTATE.<List<Object>>run(redis, RedisKeys.channelKeys(channel), seen.epoch(), next, Long.toString(metaTtlMs))
                .subscribe(
                        r -> {
                            if ((Long) r.get(0) == 1L) {
                                lostEpoch(channel, seen, next, how);
                            }
                        },
                        e -> {
                            synchronized (a) {
                                a.rotating = false;
                            }
                            log.warn("Starting a new epoch for {} failed: {}", channel, e.toString());
                        });
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

    /**
     * Fills a gap from the history; what arrives meanwhile waits, so that offsets stay in order. The read is a
     * witness: when Redis is behind what this instance delivered, the channel starts a new epoch.
     */
    private void catchUp(String channel, Attached a) {
        a.catchingUp = true;
        StreamPosition from = new StreamPosition(a.last, a.epoch);
        history.witness(channel, from)
                .retryWhen(Retry.backoff(5, Duration.ofMillis(100)))
                .subscribe(read -> finishCatchUp(channel, a, from, read), e -> {
                    log.warn(
                            "Catching up {} from Redis history failed, messages may be missing: {}",
                            channel,
                            e.toString());
                    finishCatchUp(channel, a, from, null);
                });
    }

    private void finishCatchUp(String channel, Attached a, StreamPosition from, RedisHistory.Witnessed witnessed) {
        synchronized (a) {
            HistoryRead read = witnessed == null ? null : witnessed.read();
            if (witnessed != null && witnessed.rotated()) {
                lostEpoch(channel, from, read.epoch(), "its offset counter is behind");
            } else if (read != null && read.recovered()) {
                long before = a.last;
                dispatchAll(a, witnessed);
                gapsFilled.increment(Math.max(0, a.last - before));
            } else if (read != null && read.epoch().equals(a.epoch) && read.latest() > a.last) {
                gapsLost.increment(read.latest() - a.last);
                log.warn(
                        "Messages {}..{} of {} were missed on the Redis pub/sub link and are no longer in "
                                + "its history",
                        a.last + 1,
                        read.latest(),
                        channel);
            } else if (read != null && !read.epoch().equals(a.epoch) && read.latest() < a.seenIn(read.epoch())) {
                // An earlier epoch is back, behind what this instance delivered of it: its offsets would be reused.
                a.rotating = true;
                rotate(
                        channel,
                        a,
                        new StreamPosition(a.seenIn(read.epoch()), read.epoch()),
                        "epoch " + read.epoch() + " came back with its offset counter behind");
            } else if (read != null && !read.epoch().equals(a.epoch) && read.latest() > a.seenIn(read.epoch())) {
                // Redis lost the channel (restarted empty, keys expired) and a new epoch has messages already:
                // they were published while this instance was not subscribed, and are read from its start. An epoch
                // seen before (Redis went back to an older state, as a failover to a stale replica does) is read
                // from where this instance left it, so nothing is dispatched twice.
                StreamPosition start = new StreamPosition(a.seenIn(read.epoch()), read.epoch());
                history.witness(channel, start)
                        .subscribe(
                                w -> {
                                    synchronized (a) {
                                        if (w.read().recovered()
                                                && w.read().epoch().equals(start.epoch())) {
                                            dispatchAll(a, w);
                                        }
                                        drainQueued(channel, a);
                                    }
                                },
                                e -> {
                                    synchronized (a) {
                                        drainQueued(channel, a);
                                    }
                                });
                return;
            }
            drainQueued(channel, a);
        }
    }

    private static void dispatchAll(Attached a, RedisHistory.Witnessed witnessed) {
        List<Publication> held = witnessed.read().publications();
        for (int i = 0; i < held.size(); i++) {
            a.dispatch(held.get(i), witnessed.tags()[i]);
        }
    }

    /** Ends a catch-up: what arrived meanwhile is dispatched in order (guarded by a). */
    private void drainQueued(String channel, Attached a) {
        a.catchingUp = false;
        while (!a.queued.isEmpty()) {
            Publication p = a.queued.poll();
            dispatchLive(channel, a, p, a.queuedTags.poll());
        }
    }

    @Override
    public void close() {
        attached.clear();
    }

    /**
     * One channel this instance subscribes to in Redis, the last offset dispatched from it, and the
     * {@link RedisKeys#tag} of the last few, to tell a duplicate from an offset handed out twice.
     */
    private final class Attached {
        final CompletableFuture<Void> ready = new CompletableFuture<>();
        final ArrayDeque<Publication> queued = new ArrayDeque<>();
        final ArrayDeque<Integer> queuedTags = new ArrayDeque<>();
        final long[] tagOffsets = new long[TAGS];
        final int[] tags = new int[TAGS];
        String epoch;
        long last;
        boolean catchingUp;
        /** A new epoch is being made or checked for: further suspects wait for its outcome. */
        boolean rotating;
        /** The last offset dispatched of the few epochs before this one, which a failover can bring back. */
        Map<String, Long> earlier;

        void queue(Publication p, int tag) {
            queued.add(p);
            queuedTags.add(tag);
        }

        /** Whether the message at {@code offset} of the current epoch had this tag; null when it is not kept. */
        Boolean sameAs(long offset, int tag) {
            int i = (int) (offset % TAGS);
            return tagOffsets[i] == offset ? tags[i] == tag : null;
        }

        /** The last offset dispatched of {@code e}: the current epoch or one of the last few; 0 for others. */
        long seenIn(String e) {
            if (e.equals(epoch)) {
                return last;
            }
            return earlier == null ? 0 : earlier.getOrDefault(e, 0L);
        }

        /** Dispatches {@code p} unless it was already, in this epoch or an earlier one (guarded by this). */
        void dispatch(Publication p, int tag) {
            if (p.offset() <= seenIn(p.epoch())) {
                return;
            }
            if (!p.epoch().equals(epoch)) {
                Arrays.fill(tagOffsets, 0);
                rotating = false;
                if (epoch != null) {
                    if (earlier == null) {
                        earlier = new LinkedHashMap<>(4, 0.75f, false) {
                            @Override
                            protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
                                return size() > EARLIER_EPOCHS;
                            }
                        };
                    }
                    earlier.put(epoch, last);
                }
                if (earlier != null) {
                    earlier.remove(p.epoch());
                }
            }
            epoch = p.epoch();
            last = p.offset();
            int i = (int) (p.offset() % TAGS);
            tagOffsets[i] = p.offset();
            tags[i] = tag;
            hub.dispatch(p);
        }
    }
}
