package io.switchboard.gateway.channel;

import io.switchboard.protocol.StreamPosition;
import reactor.core.publisher.Mono;

/**
 * The bounded history of every channel and inbox: it keeps at least the last {@code historySize} messages for
 * {@code historyTtl}, and names each life of a channel's history with an epoch.
 */
public interface History {

    /**
     * Reads a channel's latest position and, when {@code since} is given, every message after it if all are
     * still held.
     */
    Mono<HistoryRead> read(String channel, StreamPosition since);

    /** Channels with a history held. */
    long channels();

    /** Messages held over all channels. */
    long messages();
}
