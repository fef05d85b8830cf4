package io.switchboard.gateway.channel;

import reactor.core.publisher.Mono;

/**
 * Hears when a channel gains this instance's first local subscriber and loses its last one, to tell the backend
 * when a channel is occupied and vacated cluster-wide (docs/protocol.md section 11). {@link ChannelService} calls it
 * under the channel's lock, so that one channel's calls come in the order its subscribers came and went.
 */
public interface Occupancy {
    /** No webhook events: nothing is told. */
    Occupancy NONE = new Occupancy() {
        @Override
        public Mono<Void> joined(String channel, boolean first) {
            return Mono.empty();
        }

        @Override
        public Mono<Void> left(String channel) {
            return Mono.empty();
        }
    };

    /**
     * A local subscriber of {@code channel} arrived, this instance's first one when {@code first}; completes once
     * what it makes known is stored (the subscribe's ack waits for it); never fails.
     */
    Mono<Void> joined(String channel, boolean first);

    /**
     * This instance's last local subscriber of {@code channel} left; completes once what it makes known is stored
     * (the unsubscribe's ack waits for it, so that a change the client makes after that ack comes after it in
     * the events); never fails.
     */
    Mono<Void> left(String channel);
}
