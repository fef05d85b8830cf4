package io.switchboard.gateway.channel;

import reactor.core.publisher.Mono;

/**
 * The embedded mode's broker: one instance, so a publication goes from the history straight to the local
 * {@link ChannelHub}, under the channel's lock so that subscribers see offsets in order.
 */
public final class LocalBroker implements Broker {
    private final MemoryHistory history;
    private final ChannelHub hub;

    public LocalBroker(MemoryHistory history, ChannelHub hub) {
        this.history = history;
        this.hub = hub;
    }

    @Override
    public Mono<Publication> publish(String channel, String type, String from, String data) {
        long start = System.nanoTime();
        return Mono.fromSupplier(() -> history.append(channel, type, from, data, start, hub::dispatch));
    }

    @Override
    public Mono<Void> attach(String channel) {
        return Mono.empty();
    }

    @Override
    public void detach(String channel) {}

    @Override
    public void close() {}
}
