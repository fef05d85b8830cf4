package io.switchboard.gateway.transport;

import io.netty.channel.Channel;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.switchboard.gateway.config.EdgeConfig;
import io.switchboard.gateway.metrics.GatewayMetrics;
import io.switchboard.gateway.session.KeyedTokenBuckets;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.netty.NettyPipeline;
import reactor.netty.http.server.ConnectionInfo;

/**
 * The gateway's door (docs/design.md failure model, hostile clients), one per server: counts the open TCP connections in
 * total and per client address and refuses those over a cap with an HTTP answer, limits how fast an address may
 * open WebSockets, names the client of a request, and logs each kind of refusal at most once a minute. Every
 * accepted connection gets an {@link EdgeHandler} that enforces its request deadline and gives its answer.
 */
public final class EdgeGuard {
    static final String HANDLER = "switchboard.edge";
    /** How long a connection refused on arrival may take to send the request it is answered on. */
    static final long REFUSED_WAIT_MS = 1_000;
    /** The {@code Retry-After} of a refusal for a connection cap, in seconds. */
    static final long CAP_RETRY_AFTER_SECONDS = 5;

    private static final String X_FORWARDED_FOR = "X-Forwarded-For";
    private static final Logger log = LoggerFactory.getLogger(EdgeGuard.class);

    private final EdgeConfig config;
    private final GatewayMetrics metrics;
    private final EpisodeLog episodes;
    private final ClientAddresses addresses;
    private final KeyedTokenBuckets connects;
    private final AtomicInteger open = new AtomicInteger();
    private final ConcurrentHashMap<String, Integer> perAddress = new ConcurrentHashMap<>();

    public EdgeGuard(EdgeConfig config, GatewayMetrics metrics, LongSupplier nanoTime) {
        this.config = config;
        this.metrics = metrics;
        this.episodes = new EpisodeLog(log, nanoTime);
        this.addresses = new ClientAddresses(config.trustedProxies());
        this.connects =
                new KeyedTokenBuckets(config.connectRate(), config.connectBurst(), config.rateEntries(), nanoTime);
    }

    /**
     * A refusal before the upgrade: the HTTP answer with its {@code Retry-After}, the metric's reason, and the line
     * to log when it is given.
     */
    record Refusal(HttpResponseStatus status, String reason, String message, long retryAfterSeconds, String logLine) {}

    /** Puts an {@link EdgeHandler} on an accepted connection, right after the HTTP codec. */
    void install(Channel channel) {
        channel.pipeline()
                .addAfter(
                        NettyPipeline.HttpCodec,
                        HANDLER,
                        new EdgeHandler(this, config.headerTimeoutMs(), config.idleTimeoutMs()));
    }

    /**
     * Counts a connection that has just arrived, until it closes: in the total, and under its peer's address unless
     * the peer is a trusted proxy (whose connections count under the client they carry, see {@link #attribute}).
     * Null when it may be served; else the refusal it gets on its first request.
     */
    Refusal admit(Channel channel) {
        int total = open.incrementAndGet();
        InetAddress peer = peer(channel.remoteAddress());
        String key = peer == null || addresses.trusted(peer) ? null : ClientAddresses.key(peer);
        int here = key == null ? 0 : count(key, 1);
        channel.closeFuture().addListener(f -> {
            open.decrementAndGet();
            if (key != null) {
                count(key, -1);
            }
        });
        if (key != null && here > config.maxConnectionsPerAddress()) {
            return addressCap(key);
        }
        if (total > config.maxConnections()) {
            return new Refusal(
                    HttpResponseStatus.SERVICE_UNAVAILABLE,
                    "max_connections",
                    "this instance is at its connection limit: try again later",
                    CAP_RETRY_AFTER_SECONDS,
                    "At SWITCHBOARD_MAX_CONNECTIONS=" + config.maxConnections()
                            + " open connections: refusing new ones with 503");
        }
        return null;
    }

    /**
     * Counts a connection from a trusted proxy under the client its first request names, until it closes. Null when
     * it may be served, else its refusal.
     */
    Refusal attribute(Channel channel, HttpRequest request) {
        InetAddress peer = peer(channel.remoteAddress());
        if (peer == null || !addresses.trusted(peer)) {
            return null;
        }
        String key =
                ClientAddresses.key(addresses.client(peer, request.headers().getAll(X_FORWARDED_FOR)));
        int here = count(key, 1);
        channel.closeFuture().addListener(f -> count(key, -1));
        return here > config.maxConnectionsPerAddress() ? addressCap(key) : null;
    }

    private Refusal addressCap(String key) {
        return new Refusal(
                HttpResponseStatus.TOO_MANY_REQUESTS,
                "address_connections",
                "too many open connections from your address: close some, or try again later",
                CAP_RETRY_AFTER_SECONDS,
                key + " has more than SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS=" + config.maxConnectionsPerAddress()
                        + " open connections: refusing its new ones with 429");
    }

    /** A refusal being answered: counted, and logged at most once a minute per reason. */
    void refusing(Refusal refusal) {
        metrics.edgeRefused(refusal.reason());
        episodes.warn(refusal.reason(), refusal.logLine());
    }

    private int count(String key, int delta) {
        Integer n = perAddress.compute(key, (k, v) -> {
            int next = (v == null ? 0 : v) + delta;
            return next <= 0 ? null : next;
        });
        return n == null ? 0 : n;
    }

    /**
     * The answer to a request the HTTP codec could not read (a request line or headers too long, or not HTTP): the
     * status reactor-netty would give, with a one-line reason; counted, and logged once a minute per kind.
     */
    Refusal malformed(Channel channel, Throwable cause) {
        HttpResponseStatus status;
        String message;
        if (cause instanceof TooLongHttpLineException) {
            status = HttpResponseStatus.REQUEST_URI_TOO_LONG;
            message = "the request line is too long";
        } else if (cause instanceof TooLongHttpHeaderException) {
            status = HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE;
            message = "the request headers are too large";
        } else {
            status = HttpResponseStatus.BAD_REQUEST;
            message = "not a valid HTTP/1.1 request"
                    + (cause == null || cause.getMessage() == null ? "" : ": " + printable(cause.getMessage()));
        }
        metrics.edgeRefused("bad_request");
        String kind = cause == null ? "unknown" : cause.getClass().getSimpleName();
        episodes.info(
                "bad_request." + status.code(),
                "Answered " + status.code() + " to a request from " + address(channel.remoteAddress())
                        + " that could not be read (" + kind + ")");
        return new Refusal(status, "bad_request", message, 0, null);
    }

    /** A connection that sent no complete request in time, about to be closed. */
    void requestTimedOut(Channel channel, long waitedMs) {
        metrics.edgeRefused("header_timeout");
        episodes.info(
                "header_timeout",
                "Closed a connection from " + address(channel.remoteAddress())
                        + " that sent no complete request within " + waitedMs + " ms (SWITCHBOARD_HEADER_TIMEOUT_MS, "
                        + "SWITCHBOARD_IDLE_TIMEOUT_MS)");
    }

    /**
     * Takes a WebSocket connect of {@code client} from its token bucket: 0 when it may connect, else the seconds it
     * should wait ({@code Retry-After}).
     */
    long tryConnect(InetSocketAddress client) {
        InetAddress address = client == null ? null : client.getAddress();
        if (address == null) {
            return 0;
        }
        String key = ClientAddresses.key(address);
        long waitMs = connects.tryTake(key);
        if (waitMs == 0) {
            return 0;
        }
        metrics.edgeRefused("connect_rate");
        episodes.warn(
                "connect_rate",
                key + " connects faster than SWITCHBOARD_CONNECT_RATE=" + config.connectRate()
                        + "/s (SWITCHBOARD_CONNECT_BURST=" + config.connectBurst() + "): refusing with 429");
        return Math.max(1, (waitMs + 999) / 1000);
    }

    /** Whether a WebSocket may be opened from a page of {@code origin}; counts and logs a refusal. */
    boolean originAllowed(String origin, InetSocketAddress client) {
        if (config.originAllowed(origin)) {
            return true;
        }
        metrics.edgeRefused("origin");
        episodes.info(
                "origin",
                "Refused a WebSocket from " + address(client) + " for its Origin " + printable(origin)
                        + ", not in SWITCHBOARD_ALLOWED_ORIGINS");
        return false;
    }

    /** Counts and logs an invalid handshake, one line a minute per kind of mistake. */
    void invalidUpgrade(BadUpgrade bad, InetSocketAddress client) {
        metrics.edgeRefused("invalid_upgrade");
        episodes.info(
                "invalid_upgrade." + bad.name(),
                "Answered 400 to an invalid WebSocket upgrade from " + address(client) + ": " + bad.reason);
    }

    /**
     * The request's {@link ConnectionInfo} with the client as its remote address when the peer is a trusted proxy
     * ({@code HttpServer.forwarded}); otherwise as it is, whatever {@code X-Forwarded-For} says.
     */
    ConnectionInfo forwarded(ConnectionInfo info, HttpRequest request) {
        InetSocketAddress peer = info.getRemoteAddress();
        if (peer == null || peer.getAddress() == null || !addresses.trusted(peer.getAddress())) {
            return info;
        }
        InetAddress client =
                addresses.client(peer.getAddress(), request.headers().getAll(X_FORWARDED_FOR));
        return client.equals(peer.getAddress()) ? info : info.withRemoteAddress(new InetSocketAddress(client, 0));
    }

    /** Open TCP connections, WebSockets and refused ones included. */
    public int openConnections() {
        return open.get();
    }

    /** Client addresses with an open connection. */
    public int addresses() {
        return perAddress.size();
    }

    private static InetAddress peer(SocketAddress address) {
        return address instanceof InetSocketAddress a ? a.getAddress() : null;
    }

    private static String address(SocketAddress address) {
        InetAddress a = peer(address);
        return a == null ? String.valueOf(address) : a.getHostAddress();
    }

    /** A client-chosen header value for a log line: bounded, without control characters. */
    private static String printable(String value) {
        if (value == null) {
            return "(none)";
        }
        String v = value.length() > 100 ? value.substring(0, 100) + "..." : value;
        return "'" + v.replaceAll("\\p{Cntrl}", "?") + "'";
    }
}
