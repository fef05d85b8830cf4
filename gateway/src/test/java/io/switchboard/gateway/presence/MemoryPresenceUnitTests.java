package io.switchboard.gateway.presence;

/** The presence contract on the embedded mode's store. */
class MemoryPresenceUnitTests extends PresenceStoreContract {
    @Override
    PresenceStore newStore() {
        return new MemoryPresence(EVENTS_MAX);
    }
}
