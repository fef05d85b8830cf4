package io.switchboard.gateway.channel;

import io.switchboard.protocol.StreamPosition;
import reactor.core.publisher.Mono;

/**
 * Subscribing and publishing, whatever the broker: a new subscriber is indexed before the history is read, so
 * nothing published meanwhile is missed, and the broker is told when a channel gains its first or loses its
 * last local subscriber.
 */
public final class ChannelService {
    private final ChannelHub hub;
    private final Broker broker;
    private final History history;

    public ChannelService(ChannelHub hub, Broker broker, History history) {
        this.hub = hub;
        this.broker = broker;
        this.history = history;
    }

    /**
     * Indexes {@code subscriber} and reads the channel's history after {@code since}; the subscriber must
     * buffer what it is delivered until it has handled the read.
     */
    public Mono<HistoryRead> subscribe(String channel, Subscriber subscriber, StreamPosition since) {
        Mono<Void> attached = hub.add(channel, subscriber) ? broker.attach(channel) : Mono.empty();
        return attached.then(history.read(channel, since))
                .doOnError(e -> unsubscribe(channel, subscriber));
    }

    public void unsubscribe(String channel, Subscriber subscriber) {
        if (hub.remove(channel, subscriber)) {
            broker.detach(channel);
        }
    }

    public Mono<Publication> publish(String channel, String type, String from, String data) {
        return broker.publish(channel, type, from, data);
    }

    public ChannelHub hub() {
        return hub;
    }

    public History history() {
        return history;
    }
}
