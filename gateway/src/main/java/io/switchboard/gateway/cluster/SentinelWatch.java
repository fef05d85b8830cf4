package io.switchboard.gateway.cluster;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.sentinel.api.StatefulRedisSentinelConnection;
import io.switchboard.gateway.config.RedisTarget;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sentinel: a connection to the sentinels to ask who the master is, and a subscription to their
 * {@code +switch-master} announcements, so a failover is followed as soon as it is announced. Neither is required:
 * the probe asks the sentinels again every period, and a sentinel that cannot be reached is left to the next probe.
 * It owns both connections and closes them.
 *
 * <p>{@link #watch} and {@link #newMaster} run on the Redis scheduler's thread only.
 */
final class SentinelWatch implements AutoCloseable {
    // logs as RedisConnections: one logger for Redis's state
    private static final Logger log = LoggerFactory.getLogger(RedisConnections.class);

    private final RedisTarget target;
    private final Duration timeout;
    private final Function<Throwable, String> describe;
    private final Runnable onSwitch;
    private volatile StatefulRedisSentinelConnection<String, String> sentinel;
    private volatile StatefulRedisPubSubConnection<String, String> events;

    /**
     * @param describe a failure in words, for a log line
     * @param onSwitch called on a Lettuce thread at each {@code +switch-master}
     */
    SentinelWatch(RedisTarget target, Duration timeout, Function<Throwable, String> describe, Runnable onSwitch) {
        this.target = target;
        this.timeout = timeout;
        this.describe = describe;
        this.onSwitch = onSwitch;
    }

    /** Connects to the sentinels of {@code c}'s URI; what cannot be reached now is left to the next probe. */
    void watch(RedisClient c) {
        RedisURI uri = target.uris().get(0);
        try {
            sentinel = c.connectSentinel(StringCodec.UTF8, uri);
        } catch (RuntimeException e) {
            log.info("Redis sentinels {} cannot be asked for the master now: {}", target.hosts(), describe.apply(e));
        }
        for (RedisURI s : uri.getSentinels()) {
            try {
                RedisURI plain = RedisURI.builder()
                        .withHost(s.getHost())
                        .withPort(s.getPort())
                        .withSsl(uri.isSsl())
                        .withTimeout(timeout)
                        .build();
                StatefulRedisPubSubConnection<String, String> e = c.connectPubSub(StringCodec.UTF8, plain);
                e.addListener(new RedisPubSubAdapter<>() {
                    @Override
                    public void message(String channel, String message) {
                        onSwitch.run();
                    }
                });
                e.sync().subscribe("+switch-master");
                events = e;
                return;
            } catch (RuntimeException e) {
                log.debug(
                        "Subscribing to +switch-master on sentinel {}:{} failed: {}",
                        s.getHost(),
                        s.getPort(),
                        e.toString());
            }
        }
    }

    /** Whether {@code connection} is the subscription to the sentinels' announcements. */
    boolean isEvents(Object connection) {
        return connection != null && connection == events;
    }

    /**
     * The master the sentinels name when it is not {@code at} (a failover, planned or not), logged as a move;
     * null when it is {@code at}, or when the sentinels cannot be asked now.
     */
    String newMaster(String at) {
        StatefulRedisSentinelConnection<String, String> s = sentinel;
        if (s == null) {
            return null;
        }
        String named;
        try {
            SocketAddress a = s.async()
                    .getMasterAddrByName(masterId())
                    .toCompletableFuture()
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            named = RedisCauses.address(a);
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            log.debug("Asking the sentinels {} for the master failed: {}", target.hosts(), e.toString());
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
        if (named == null || named.equals(at)) {
            return null;
        }
        log.warn(
                "Redis master {} moved from {} to {} (named by sentinels {}); moving the connections there",
                masterId(),
                at,
                named,
                target.hosts());
        return named;
    }

    private String masterId() {
        return target.uris().get(0).getSentinelMasterId();
    }

    @Override
    public void close() {
        if (events != null) {
            events.closeAsync();
        }
        if (sentinel != null) {
            sentinel.closeAsync();
        }
    }
}
