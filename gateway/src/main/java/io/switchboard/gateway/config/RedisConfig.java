package io.switchboard.gateway.config;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The cluster mode's Redis settings; absent (null in {@link GatewayConfig}) in the embedded mode.
 *
 * @param url {@code REDIS_URL}: {@code redis://}, {@code rediss://} (TLS), {@code redis-sentinel://host:port#master}
 *            or {@code redis-cluster://host:port,host:port} ({@code rediss-cluster://} for TLS)
 * @param caFile {@code SWITCHBOARD_REDIS_CA}: PEM file of a private CA to trust for TLS, or null
 * @param commandTimeoutMs {@code SWITCHBOARD_REDIS_TIMEOUT_MS}: how long one Redis command may take before the
 *                         request it serves answers {@code unavailable}
 * @param nodeLeaseMs {@code SWITCHBOARD_NODE_LEASE_MS}: how long an instance stays the owner of its users'
 *                    sessions without renewing; a dead instance's users are free after it
 * @param startWaitMs {@code SWITCHBOARD_REDIS_START_WAIT_MS}: how long a starting instance stays not ready while
 *                    Redis does not work yet; after it, it serves degraded (0: ready at once)
 */
public record RedisConfig(String url, String caFile, long commandTimeoutMs, long nodeLeaseMs, long startWaitMs) {
    public static final long DEFAULT_COMMAND_TIMEOUT_MS = 1_000;
    public static final long DEFAULT_NODE_LEASE_MS = 10_000;
    public static final long DEFAULT_START_WAIT_MS = 30_000;
    /** The largest start wait accepted. */
    public static final long MAX_START_WAIT_MS = 600_000;

    /** The settings with the default start wait. */
    public RedisConfig(String url, String caFile, long commandTimeoutMs, long nodeLeaseMs) {
        this(url, caFile, commandTimeoutMs, nodeLeaseMs, DEFAULT_START_WAIT_MS);
    }

    /** Every problem with these settings, one line each, naming the variable and the value. */
    List<String> problems(long pingTimeoutMs) {
        List<String> p = new ArrayList<>();
        String why = RedisTarget.problem(url);
        if (why != null) {
            p.add("REDIS_URL=" + RedisTarget.mask(url) + ": " + why);
        }
        if (caFile != null) {
            if (!Files.isReadable(Path.of(caFile))) {
                p.add("SWITCHBOARD_REDIS_CA=" + caFile + ": no readable file there; expected a PEM CA certificate");
            }
            if (why == null && !RedisTarget.parse(url).tls()) {
                p.add("SWITCHBOARD_REDIS_CA is set but REDIS_URL=" + RedisTarget.mask(url)
                        + " does not use TLS; use rediss:// (or rediss-cluster://)");
            }
        }
        if (commandTimeoutMs >= pingTimeoutMs) {
            p.add("SWITCHBOARD_REDIS_TIMEOUT_MS=" + commandTimeoutMs + " is not less than SWITCHBOARD_PING_TIMEOUT_MS="
                    + pingTimeoutMs + ": a client would give up on a reply before Redis does");
        }
        if (nodeLeaseMs < 3 * commandTimeoutMs) {
            p.add("SWITCHBOARD_NODE_LEASE_MS=" + nodeLeaseMs + " is less than 3 times SWITCHBOARD_REDIS_TIMEOUT_MS="
                    + commandTimeoutMs + ": a slow renewal would make a live instance look dead");
        }
        if (startWaitMs < 0 || startWaitMs > MAX_START_WAIT_MS) {
            p.add("SWITCHBOARD_REDIS_START_WAIT_MS=" + startWaitMs + ": expected a whole number from 0 to "
                    + MAX_START_WAIT_MS);
        } else if (startWaitMs > 0 && startWaitMs < commandTimeoutMs) {
            p.add("SWITCHBOARD_REDIS_START_WAIT_MS=" + startWaitMs + " is less than SWITCHBOARD_REDIS_TIMEOUT_MS="
                    + commandTimeoutMs + ": the instance would give up on Redis before one command could answer;"
                    + " use 0 to be ready at once, or at least " + commandTimeoutMs);
        }
        return p;
    }
}
