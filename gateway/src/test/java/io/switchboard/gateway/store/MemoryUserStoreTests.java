package io.switchboard.gateway.store;

class MemoryUserStoreTests extends UserStoreContract {
    @Override
    UserStore create() {
        return new MemoryUserStore(10_000);
    }
}
