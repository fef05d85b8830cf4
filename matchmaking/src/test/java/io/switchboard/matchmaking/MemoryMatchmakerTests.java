package io.switchboard.matchmaking;

import java.util.function.LongSupplier;

/** The random-connect rules against the in-memory matchmaker of a single instance. */
class MemoryMatchmakerTests extends MatchmakerContract {

    @Override
    protected Matchmaker create(MatchmakerSettings settings, LongSupplier clockMillis) {
        return new MemoryMatchmaker(settings, clockMillis);
    }
}
