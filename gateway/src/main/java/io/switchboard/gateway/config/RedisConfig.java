package io.switchboard.gateway.config;

import io.switchboard.gateway.cluster.RedisTarget;
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
 */
public record RedisConfig(String url, String caFile, long commandTimeoutMs, long nodeLeaseMs) {
    public static final long DEFAULT_COMMAND_TIMEOUT_MS = 1_000;
    public static final long DEFAULT_NODE_LEASE_MS = 10_000;

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
        return p;
    }
}
