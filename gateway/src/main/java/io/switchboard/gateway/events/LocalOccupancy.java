package io.switchboard.gateway.events;

import io.switchboard.gateway.channel.Occupancy;
import reactor.core.publisher.Mono;

/**
 * The embedded mode's {@code channel.occupied} and {@code channel.vacated}: this instance is the cluster, so its
 * first local subscriber of a channel occupies it and its last one vacates it. Each event is stored while the
 * channel's lock is held (the memory log stores at once), so one channel's events alternate, in order.
 */
public final class LocalOccupancy implements Occupancy {
    private final EventService events;

    public LocalOccupancy(EventService events) {
        this.events = events;
    }

    @Override
    public Mono<Void> joined(String channel, boolean first) {
        if (!first || !EventService.tellsOccupancy(channel)) {
            return Mono.empty();
        }
        return events.channel(channel, true, null, null);
    }

    @Override
    public Mono<Void> left(String channel) {
        if (!EventService.tellsOccupancy(channel)) {
            return Mono.empty();
        }
        // appended now, under the channel's lock, so in order; the unsubscribe's ack waits for it
        return Mono.fromFuture(
                events.channel(channel, false, null, null)
                        .onErrorResume(e -> Mono.empty())
                        .toFuture(),
                true);
    }
}
