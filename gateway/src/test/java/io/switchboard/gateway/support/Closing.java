package io.switchboard.gateway.support;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * What a test opened (gateways, proxies, clients, log appenders), closed in reverse order after it. Registered as
 * an extension ({@code @RegisterExtension final Closing closing = new Closing();}) it closes after each test.
 */
public final class Closing implements AutoCloseable, AfterEachCallback {
    private final List<AutoCloseable> open = new ArrayList<>();

    /** Keeps {@code c} to close after the test; returns it. */
    public <C extends AutoCloseable> C keep(C c) {
        open.add(c);
        return c;
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        close();
    }

    @Override
    public void close() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
        open.clear();
    }
}
