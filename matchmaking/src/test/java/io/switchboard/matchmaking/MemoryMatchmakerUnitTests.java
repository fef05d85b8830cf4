package io.switchboard.matchmaking;

import java.util.function.LongSupplier;

/** The random-connect rules against the in-memory matchmaker of a single instance. */
class MemoryMatchmakerUnitTests extends MatchmakerContract {
    private MemoryMatchmaker current;

    @Override
    protected Matchmaker create(MatchmakerSettings settings, LongSupplier clockMillis) {
        current = new MemoryMatchmaker(settings, clockMillis);
        return current;
    }

    @Override
    protected long userRecords() {
        return current.users();
    }
}
