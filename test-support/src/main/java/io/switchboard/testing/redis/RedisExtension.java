package io.switchboard.testing.redis;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.opentest4j.TestAbortedException;

/**
 * Runs one {@link RedisServer} for a test class and empties it before each test:
 * {@code @RegisterExtension static final RedisExtension redis = RedisExtension.plain();}. The server starts before
 * all tests of the class and stops after them; a test that killed it gets it restarted, empty, for the next one.
 * Without redis-server on the PATH each test is skipped with the reason ({@link io.switchboard.testing.Binaries}).
 */
public final class RedisExtension implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback {
    private final boolean tls;
    private RedisServer server;
    private String owner;
    /** Why the server could not start when redis-server is missing: each test is skipped with it, and counted. */
    private TestAbortedException missing;

    private RedisExtension(boolean tls) {
        this.tls = tls;
    }

    /** A plain server, {@code redis://}. */
    public static RedisExtension plain() {
        return new RedisExtension(false);
    }

    /** A TLS-only server, {@code rediss://}, whose CA is {@code server().caCertificate()}. */
    public static RedisExtension tls() {
        return new RedisExtension(true);
    }

    public synchronized RedisServer server() {
        if (server == null) {
            throw new IllegalStateException("RedisExtension has no server outside its test class: register it on a"
                    + " static field, @RegisterExtension static final RedisExtension redis = RedisExtension.plain()");
        }
        return server;
    }

    @Override
    public synchronized void beforeAll(ExtensionContext context) {
        // A @Nested class sees the outer class's extension again: it shares the outer server.
        if (server == null && missing == null) {
            try {
                server = tls ? RedisServer.startTls() : RedisServer.start();
                owner = context.getUniqueId();
            } catch (TestAbortedException e) {
                missing = e;
            }
        }
    }

    @Override
    public synchronized void beforeEach(ExtensionContext context) {
        if (missing != null) {
            throw new TestAbortedException(missing.getMessage());
        }
        RedisServer s = server();
        if (s.isRunning()) {
            s.cli("FLUSHALL");
        } else {
            s.restart();
        }
    }

    @Override
    public synchronized void afterAll(ExtensionContext context) {
        if (server != null && context.getUniqueId().equals(owner)) {
            try {
                server.close();
            } finally {
                server = null;
                owner = null;
            }
        }
    }
}
