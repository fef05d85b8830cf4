package io.switchboard.gateway.channel;

import io.switchboard.protocol.StreamPosition;
import reactor.core.publisher.Mono;

/**
 * Subscribing and publishing, whatever the broker: a new subscriber is indexed and the broker's subscription
 * to the channel is confirmed before the history is read, so nothing published meanwhile is missed. Changes of
 * one channel's local subscribers and the broker's subscription happen under one lock per channel (striped),
 * so a channel's last subscriber leaving and a new one arriving can never leave the broker unsubscribed, and the
 * {@link Occupancy} hears of a channel's first and last local subscribers in the order they came and went.
 */
public final class ChannelService {
    private static final int STRIPES = 256;
    private final ChannelHub hub;
    private final Broker broker;
    private final History history;
    private final Occupancy occupancy;
    private final Object[] locks = new Object[STRIPES];

    /** {@code occupancy} hears of channels' first and last local subscribers ({@link Occupancy#NONE}: nobody). */
    public ChannelService(ChannelHub hub, Broker broker, History history, Occupancy occupancy) {
        this.hub = hub;
        this.broker = broker;
        this.history = history;
        this.occupancy = occupancy;
        for (int i = 0; i < STRIPES; i++) {
            locks[i] = new Object();
        }
    }

    private Object lockOf(String channel) {
        return locks[(channel.hashCode() & 0x7fffffff) % STRIPES];
    }

    /**
     * Indexes {@code subscriber} and reads the channel's history after {@code since}; the subscriber must
     * buffer what it is delivered until it has handled the read.
     */
    public Mono<HistoryRead> subscribe(String channel, Subscriber subscriber, StreamPosition since) {
        Mono<Void> attached;
        Mono<Void> told;
        synchronized (lockOf(channel)) {
            boolean first = hub.add(channel, subscriber);
            attached = broker.attach(channel);
            told = occupancy.joined(channel, first);
        }
        return Mono.when(attached, told)
                .then(history.read(channel, since))
                .doOnError(e -> unsubscribe(channel, subscriber));
    }

    public void unsubscribe(String channel, Subscriber subscriber) {
        unsubscribed(channel, subscriber).subscribe();
    }

    /**
     * Removes {@code subscriber}; completes once what its going makes known (the channel vacated) is stored, for
     * an unsubscribe's ack to wait for; never fails.
     */
    public Mono<Void> unsubscribed(String channel, Subscriber subscriber) {
        synchronized (lockOf(channel)) {
            if (hub.remove(channel, subscriber)) {
                broker.detach(channel);
                return occupancy.left(channel);
            }
        }
        return Mono.empty();
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
