package io.switchboard.testing.mongo;

import com.mongodb.ConnectionString;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.net.InetSocketAddress;
import java.util.UUID;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A MongoDB for tests: {@code mongo-java-server} in this process (spoken to through the real driver), or the real
 * {@code mongod} that {@code TEST_MONGODB_URI} names. Each {@link #uri(String)} names a database of its own, so
 * tests do not see each other's data. Outages are made with a {@link io.switchboard.testing.net.TcpProxy} in front
 * of {@link #port()}.
 */
public final class MongoFixture implements AutoCloseable {
    private final MongoServer server;
    private final String host;
    private final int port;

    private MongoFixture(MongoServer server, String host, int port) {
        this.server = server;
        this.host = host;
        this.port = port;
    }

    /** One MongoDB for a test class: {@code @RegisterExtension static final Extension mongo = MongoFixture.perClass();} */
    public static Extension perClass() {
        return new Extension();
    }

    /** Starts the MongoDB before the class's tests and stops it after them. */
    public static final class Extension implements BeforeAllCallback, AfterAllCallback {
        private MongoFixture fixture;

        public MongoFixture get() {
            return fixture;
        }

        @Override
        public void beforeAll(ExtensionContext context) {
            fixture = start();
        }

        @Override
        public void afterAll(ExtensionContext context) {
            fixture.close();
        }
    }

    public static MongoFixture start() {
        String external = System.getenv("TEST_MONGODB_URI");
        if (external != null && !external.isBlank()) {
            String first = new ConnectionString(external).getHosts().get(0);
            int colon = first.lastIndexOf(':');
            return new MongoFixture(
                    null,
                    colon < 0 ? first : first.substring(0, colon),
                    colon < 0 ? 27017 : Integer.parseInt(first.substring(colon + 1)));
        }
        MongoServer server = new MongoServer(new MemoryBackend());
        InetSocketAddress address = server.bind();
        return new MongoFixture(server, "127.0.0.1", address.getPort());
    }

    public String host() {
        return host;
    }

    public int port() {
        return port;
    }

    /** A URI of a fresh database named after {@code name}. */
    public String uri(String name) {
        return uri(host, port, name);
    }

    /** A URI of database {@code name} through another port (a proxy in front of this MongoDB). */
    public static String uri(String host, int port, String name) {
        return "mongodb://" + host + ":" + port + "/" + name;
    }

    /** A database name not used before. */
    public static String freshDatabase(String prefix) {
        return prefix + "_" + UUID.randomUUID().toString().substring(0, 8);
    }

    @Override
    public void close() {
        if (server != null) {
            server.shutdownNow();
        }
    }
}
