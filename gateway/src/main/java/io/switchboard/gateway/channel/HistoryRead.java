package io.switchboard.gateway.channel;

import java.util.List;

/**
 * What a subscriber learns of a channel's history: its latest offset and epoch, and when a position was asked
 * for, whether every later message was still held ({@code recovered}) and those messages, in order.
 */
public record HistoryRead(long latest, String epoch, boolean recovered, List<Publication> publications) {
    public HistoryRead {
        publications = List.copyOf(publications);
    }
}
