package io.switchboard.protocol;

import java.util.Objects;

/** A position in a channel's or inbox's history: the last offset seen within one epoch. */
public record StreamPosition(long offset, String epoch) {
    public StreamPosition {
        Objects.requireNonNull(epoch, "epoch");
        if (offset < 0) {
            throw new IllegalArgumentException("offset must be >= 0, was " + offset);
        }
    }
}
