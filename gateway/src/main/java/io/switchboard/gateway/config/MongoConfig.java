package io.switchboard.gateway.config;

import com.mongodb.ConnectionString;
import java.util.ArrayList;
import java.util.List;

/**
 * The MongoDB settings: where blocks and the match history are kept when {@code MONGODB_URI} is set.
 *
 * @param uri a {@code mongodb://} or {@code mongodb+srv://} connection string, taken as is ({@code MONGODB_URI});
 *            its database, or {@code switchboard} when it names none
 * @param timeoutMs connect, server selection and socket read timeout: shorter than anything a client waits for,
 *                  so that a slow MongoDB never holds a client up ({@code SWITCHBOARD_MONGODB_TIMEOUT_MS})
 * @param poolSize the most connections to MongoDB ({@code SWITCHBOARD_MONGODB_POOL})
 * @param bufferSize the most match-history and block records waiting to be written while MongoDB is slow or
 *                   down; beyond it the oldest are dropped and counted ({@code SWITCHBOARD_MONGODB_BUFFER})
 */
public record MongoConfig(String uri, long timeoutMs, int poolSize, int bufferSize) {
    public static final long DEFAULT_TIMEOUT_MS = 2_000;
    public static final int DEFAULT_POOL_SIZE = 20;
    public static final int DEFAULT_BUFFER_SIZE = 10_000;
    public static final String DEFAULT_DATABASE = "switchboard";

    /** The connection string, parsed; only call on a config without {@link #problems(long)}. */
    public ConnectionString connectionString() {
        return new ConnectionString(uri);
    }

    public String database() {
        String db = connectionString().getDatabase();
        return db == null || db.isEmpty() ? DEFAULT_DATABASE : db;
    }

    /** The hosts of the URI, for log lines: no user name, no password. */
    public String hosts() {
        try {
            return String.join(",", connectionString().getHosts());
        } catch (IllegalArgumentException e) {
            return "(unreadable MONGODB_URI)";
        }
    }

    /** The URI without its credentials, for the start-up log. */
    public String masked() {
        int at = uri.lastIndexOf('@');
        int scheme = uri.indexOf("://");
        return at > scheme && scheme >= 0 ? uri.substring(0, scheme + 3) + "****@" + uri.substring(at + 1) : uri;
    }

    List<String> problems(long helloTimeoutMs) {
        List<String> p = new ArrayList<>();
        try {
            new ConnectionString(uri);
        } catch (IllegalArgumentException e) {
            p.add("MONGODB_URI is not a MongoDB connection string (mongodb://host:port/db or mongodb+srv://host/db): "
                    + e.getMessage().replace(uri, "<MONGODB_URI>"));
        }
        if (timeoutMs >= helloTimeoutMs) {
            p.add("SWITCHBOARD_MONGODB_TIMEOUT_MS=" + timeoutMs + " is not shorter than SWITCHBOARD_HELLO_TIMEOUT_MS="
                    + helloTimeoutMs + ": a slow MongoDB would hold clients up");
        }
        return p;
    }
}
