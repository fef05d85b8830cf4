package io.switchboard.gateway.support;

import java.util.ArrayList;
import java.util.List;

/** What a test opened (gateways, proxies, clients), closed in reverse order after it. */
public final class Closing implements AutoCloseable {
    private final List<AutoCloseable> open = new ArrayList<>();

    /** Keeps {@code c} to close after the test; returns it. */
    public <C extends AutoCloseable> C keep(C c) {
        open.add(c);
        return c;
    }

    @Override
    public void close() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
        open.clear();
    }
}
