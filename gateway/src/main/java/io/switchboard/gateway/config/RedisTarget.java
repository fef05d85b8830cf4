package io.switchboard.gateway.config;

import io.lettuce.core.RedisURI;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Where Redis is, read from {@code REDIS_URL}: one server ({@code redis://}, {@code rediss://} for TLS),
 * Sentinel ({@code redis-sentinel://host:port[,host:port]#master}), or a Redis Cluster given by seed nodes
 * ({@code redis-cluster://[user:password@]host:port,host:port}, {@code rediss-cluster://} for TLS).
 *
 * @param kind which of the three
 * @param uris the Lettuce URIs: one for a server or Sentinel, every seed for a cluster
 * @param tls whether connections use TLS
 */
public record RedisTarget(Kind kind, List<RedisURI> uris, boolean tls) {
    public enum Kind {
        STANDALONE,
        SENTINEL,
        CLUSTER
    }

    private static final String EXPECTED = "expected redis://host:port, rediss://host:port, "
            + "redis-sentinel://host:port#master or redis-cluster://host:port,host:port";

    public RedisTarget {
        uris = List.copyOf(uris);
    }

    /** Parses {@code url}; throws {@link IllegalArgumentException} naming the problem. */
    public static RedisTarget parse(String url) {
        int sep = url.indexOf("://");
        if (sep < 0) {
            throw new IllegalArgumentException("no scheme; " + EXPECTED);
        }
        String scheme = url.substring(0, sep).toLowerCase(Locale.ROOT);
        String rest = url.substring(sep + 3);
        switch (scheme) {
            case "redis", "rediss" -> {
                return new RedisTarget(Kind.STANDALONE, List.of(lettuce(url)), scheme.equals("rediss"));
            }
            case "redis-sentinel", "rediss-sentinel" -> {
                RedisURI uri = lettuce(url);
                if (uri.getSentinelMasterId() == null
                        || uri.getSentinelMasterId().isEmpty()) {
                    throw new IllegalArgumentException("a Sentinel URL needs the master's name after #");
                }
                return new RedisTarget(Kind.SENTINEL, List.of(uri), scheme.startsWith("rediss"));
            }
            case "redis-cluster", "rediss-cluster" -> {
                boolean tls = scheme.startsWith("rediss");
                String credentials = "";
                int at = rest.lastIndexOf('@');
                if (at >= 0) {
                    credentials = rest.substring(0, at + 1);
                    rest = rest.substring(at + 1);
                }
                int slash = rest.indexOf('/');
                if (slash >= 0) {
                    rest = rest.substring(0, slash);
                }
                List<RedisURI> seeds = new ArrayList<>();
                for (String hostPort : rest.split(",")) {
                    if (hostPort.isBlank()) {
                        throw new IllegalArgumentException("empty seed node in the list; " + EXPECTED);
                    }
                    seeds.add(lettuce((tls ? "rediss://" : "redis://") + credentials + hostPort.trim()));
                }
                return new RedisTarget(Kind.CLUSTER, seeds, tls);
            }
            default -> throw new IllegalArgumentException("unknown scheme '" + scheme + "'; " + EXPECTED);
        }
    }

    private static RedisURI lettuce(String url) {
        if (!url.toLowerCase(Locale.ROOT).startsWith("redis-sentinel")
                && !url.toLowerCase(Locale.ROOT).startsWith("rediss-sentinel")) {
            try {
                if (new URI(url).getHost() == null) {
                    throw new IllegalArgumentException("host:port cannot be read; " + EXPECTED);
                }
            } catch (URISyntaxException e) {
                throw new IllegalArgumentException("cannot be read (" + e.getReason() + "); " + EXPECTED);
            }
        }
        RedisURI uri;
        try {
            uri = RedisURI.create(url);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("cannot be read (" + e.getMessage() + "); " + EXPECTED);
        }
        if ((uri.getHost() == null || uri.getHost().isEmpty())
                && uri.getSentinels().isEmpty()) {
            throw new IllegalArgumentException("no host; " + EXPECTED);
        }
        return uri;
    }

    /** Why {@code url} cannot be used, or null when it can. */
    public static String problem(String url) {
        try {
            parse(url);
            return null;
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    /** {@code url} with any password replaced by {@code ****}, for logs and error lines. */
    public static String mask(String url) {
        if (url == null) {
            return null;
        }
        int sep = url.indexOf("://");
        int at = url.lastIndexOf('@');
        if (sep < 0 || at < sep) {
            return url;
        }
        String userInfo = url.substring(sep + 3, at);
        int colon = userInfo.indexOf(':');
        String masked = colon >= 0 ? userInfo.substring(0, colon) + ":****" : "****";
        return url.substring(0, sep + 3) + masked + url.substring(at);
    }

    /** The hosts, for log lines: {@code host:port[,host:port]}. */
    public String hosts() {
        List<String> out = new ArrayList<>();
        for (RedisURI u : uris) {
            if (kind == Kind.SENTINEL) {
                u.getSentinels().forEach(s -> out.add(s.getHost() + ":" + s.getPort()));
            } else {
                out.add(u.getHost() + ":" + u.getPort());
            }
        }
        return String.join(",", out);
    }
}
