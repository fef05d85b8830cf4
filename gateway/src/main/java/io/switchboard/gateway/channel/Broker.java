package io.switchboard.gateway.channel;

import reactor.core.publisher.Mono;

/**
 * Assigns offsets, stores publications in the history and hands them to every instance's {@link ChannelHub}.
 * The embedded implementation does this in memory; the cluster one through Redis.
 */
public interface Broker extends AutoCloseable {

    /** Publishes; emits the publication once it has its offset and is durable in the history. */
    Mono<Publication> publish(String channel, String type, String from, String data);

    /**
     * A local subscriber of {@code channel} arrived: make sure this instance receives the channel; completes
     * once it does (at once when it already did).
     */
    Mono<Void> attach(String channel);

    /** This instance's last local subscriber of {@code channel} left. */
    void detach(String channel);

    @Override
    void close();
}
