package io.switchboard.gateway.cluster;

import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisCommandTimeoutException;
import io.lettuce.core.RedisURI;
import io.netty.channel.ConnectTimeoutException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.security.cert.CertificateException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BooleanSupplier;
import javax.net.ssl.SSLException;

/**
 * Redis failures in words a person can act on (refused, DNS, TLS, authentication), naming the host and port and
 * never the URL, which can hold a password. It remembers each address's last reconnect failure, so that a
 * connection that is only "not connected" says why.
 */
final class RedisCauses {
    /** The end of a cause that only says a connection is being made again, not why it was lost. */
    static final String RECONNECTING = ", reconnecting";

    private final boolean tls;
    private final Duration timeout;
    private final BooleanSupplier everUp;
    /** The last reconnect failure per address, in words, until that address connects again. */
    private final Map<String, String> reconnectFailures = new ConcurrentHashMap<>();

    /**
     * @param url {@code REDIS_URL}, only to know whether it asks for TLS
     * @param everUp whether Redis has answered since start-up: a closed connection then was lost, not refused
     */
    RedisCauses(String url, Duration timeout, BooleanSupplier everUp) {
        this.tls = url.toLowerCase(Locale.ROOT).startsWith("rediss");
        this.timeout = timeout;
        this.everUp = everUp;
    }

    /** A reconnect attempt to {@code where} failed: remembered until it connects. */
    void reconnectFailed(String where, Throwable cause) {
        reconnectFailures.put(where, describe(cause, where));
    }

    void connected(String where) {
        reconnectFailures.remove(where);
    }

    /** Why {@code where} is not connected, or {@code otherwise} when no reconnect attempt said. */
    String lastFailure(String where, String otherwise) {
        return reconnectFailures.getOrDefault(where, otherwise);
    }

    /** A cause in words a person can act on, for a connection to {@code where}. */
    String describe(Throwable e, String where) {
        List<Throwable> causes = new ArrayList<>();
        for (Throwable t = e; t != null && causes.size() < 20; t = t.getCause()) {
            causes.add(t);
            for (Throwable s : t.getSuppressed()) {
                // A Redis Cluster that cannot be reached reports each seed's failure as a suppressed exception.
                for (Throwable u = s; u != null && causes.size() < 20; u = u.getCause()) {
                    causes.add(u);
                }
            }
        }
        for (Throwable t : causes) {
            if (t instanceof UnknownHostException) {
                return "DNS name not found: " + hostNames(where);
            }
        }
        for (Throwable t : causes) {
            if (t instanceof SSLException || t instanceof CertificateException) {
                String m = String.valueOf(t.getMessage());
                if (causes.stream()
                        .anyMatch(c -> c instanceof CertificateException
                                || String.valueOf(c.getMessage()).contains("PKIX")
                                || String.valueOf(c.getMessage()).contains("certification path"))) {
                    return "the TLS certificate of " + where + " is not trusted (" + m + "); set SWITCHBOARD_REDIS_CA"
                            + " to the PEM file of the CA that signed it";
                }
                return "TLS handshake failed (" + m + ")"
                        + (tls ? "; does this server speak TLS? otherwise use redis://" : "");
            }
            if (t instanceof ConnectException || t instanceof ConnectTimeoutException) {
                String m = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
                if (m.contains("timed out")) {
                    return "connection to " + where + " timed out";
                }
                return "connection refused by " + where;
            }
            if (t instanceof RedisCommandTimeoutException) {
                return "no answer within " + timeout.toMillis() + " ms"
                        + (tls && !everUp.getAsBoolean()
                                ? " over TLS; if this server does not speak TLS, the TLS handshake cannot complete: use redis://"
                                : "");
            }
            if (t instanceof RedisCommandExecutionException) {
                String m = String.valueOf(t.getMessage());
                if (m.startsWith("WRONGPASS") || m.startsWith("NOAUTH") || m.contains("AUTH")) {
                    return "authentication failed (" + m + "); check the user and password in REDIS_URL";
                }
            }
        }
        for (Throwable t : causes) {
            String m = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
            if (m.contains("connection closed") || m.contains("connection reset")) {
                if (everUp.getAsBoolean()) {
                    return "the connection to " + where + " was lost" + RECONNECTING;
                }
                return "the connection to " + where + " was closed"
                        + (tls ? "" : "; if this Redis requires TLS, REDIS_URL needs rediss://");
            }
            if (m.contains("currently not connected")) {
                String last = reconnectFailures.get(where);
                return last != null ? last : "not connected to " + where + RECONNECTING;
            }
        }
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    private static String hostNames(String where) {
        return where.replaceAll(":\\d+", "");
    }

    /** {@code host:port}, without the user and password the URI may hold. */
    static String address(RedisURI uri) {
        return uri.getHost() + ":" + uri.getPort();
    }

    static String address(SocketAddress a) {
        if (a instanceof InetSocketAddress i) {
            String host = i.getAddress() != null ? i.getAddress().getHostAddress() : i.getHostString();
            return host + ":" + i.getPort();
        }
        return String.valueOf(a);
    }
}
