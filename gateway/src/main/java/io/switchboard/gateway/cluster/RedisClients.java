package io.switchboard.gateway.cluster;

import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.SslOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions.RefreshTrigger;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.metrics.MicrometerCommandLatencyRecorder;
import io.lettuce.core.metrics.MicrometerOptions;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.lettuce.core.resource.Delay;
import io.micrometer.core.instrument.MeterRegistry;
import io.switchboard.gateway.config.RedisConfig;
import io.switchboard.gateway.config.RedisTarget;
import java.io.File;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * How the Lettuce client is made for a Redis target: single server and Sentinel, or Redis Cluster, with the
 * command timeout, TLS and reconnect settings; {@link RedisConnections} owns and shuts down what this makes.
 */
final class RedisClients {
    private RedisClients() {}

    /** The event loops, command latency metrics and reconnect delay every Redis connection of the instance shares. */
    static ClientResources resources(MeterRegistry registry) {
        return DefaultClientResources.builder()
                .commandLatencyRecorder(new MicrometerCommandLatencyRecorder(
                        registry, MicrometerOptions.builder().histogram(false).build()))
                // Reconnect attempts at most a second apart, so a promoted master is found within a second or so.
                .reconnectDelay(Delay.exponential(
                        Duration.ofMillis(10), RedisConnections.MAX_RECONNECT_DELAY, 2, TimeUnit.MILLISECONDS))
                .build();
    }

    /** A {@link RedisClusterClient} for a cluster target, a {@link RedisClient} otherwise. */
    static AbstractRedisClient create(
            RedisConfig config, RedisTarget target, ClientResources resources, Duration timeout) {
        SocketOptions socket = SocketOptions.builder()
                .connectTimeout(timeout.multipliedBy(2))
                .keepAlive(true)
                .build();
        TimeoutOptions timeouts = TimeoutOptions.enabled(timeout);
        if (target.kind() == RedisTarget.Kind.CLUSTER) {
            RedisClusterClient c = RedisClusterClient.create(
                    resources,
                    target.uris().stream().map(u -> withTimeout(u, timeout)).toList());
            c.setOptions(ClusterClientOptions.builder()
                    .socketOptions(socket)
                    .timeoutOptions(timeouts)
                    .sslOptions(sslOptions(config))
                    // Node connections open lazily, so commands wait for them rather than being refused; the
                    // queue is bounded, the timeout and the breaker keep callers from waiting long.
                    .disconnectedBehavior(ClientOptions.DisconnectedBehavior.DEFAULT)
                    .requestQueueSize(RedisConnections.REQUEST_QUEUE_SIZE)
                    .topologyRefreshOptions(ClusterTopologyRefreshOptions.builder()
                            .enablePeriodicRefresh(Duration.ofSeconds(5))
                            .enableAdaptiveRefreshTrigger(
                                    RefreshTrigger.MOVED_REDIRECT,
                                    RefreshTrigger.ASK_REDIRECT,
                                    RefreshTrigger.PERSISTENT_RECONNECTS,
                                    RefreshTrigger.UNCOVERED_SLOT,
                                    RefreshTrigger.UNKNOWN_NODE)
                            .adaptiveRefreshTriggersTimeout(Duration.ofSeconds(1))
                            .build())
                    .build());
            return c;
        }
        RedisClient c = RedisClient.create(resources, withTimeout(target.uris().get(0), timeout));
        c.setOptions(ClientOptions.builder()
                .socketOptions(socket)
                .timeoutOptions(timeouts)
                .sslOptions(sslOptions(config))
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                .build());
        return c;
    }

    private static RedisURI withTimeout(RedisURI uri, Duration timeout) {
        uri.setTimeout(timeout);
        return uri;
    }

    private static SslOptions sslOptions(RedisConfig config) {
        if (config.caFile() == null) {
            return SslOptions.create();
        }
        return SslOptions.builder()
                .jdkSslProvider()
                .trustManager(new File(config.caFile()))
                .build();
    }
}
