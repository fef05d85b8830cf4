package io.switchboard.gateway.transport;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.netty.channel.Channel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.websocketx.Utf8FrameValidator;
import io.netty.handler.codec.http.websocketx.WebSocket13FrameDecoder;
import io.netty.handler.codec.http.websocketx.WebSocketDecoderConfig;
import io.switchboard.gateway.config.GatewayConfig;
import io.switchboard.gateway.config.HookConfig;
import io.switchboard.gateway.config.IceServer;
import io.switchboard.gateway.health.HealthService;
import io.switchboard.gateway.hooks.ClientHeaders;
import io.switchboard.gateway.metrics.GatewayMetrics;
import io.switchboard.gateway.session.Session;
import io.switchboard.gateway.session.SessionContext;
import io.switchboard.gateway.wire.EventLoops;
import io.switchboard.protocol.FrameCodec;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import reactor.netty.http.server.HttpServerRequest;
import reactor.netty.http.server.HttpServerResponse;
import reactor.netty.http.server.WebsocketServerSpec;
import reactor.netty.http.websocket.WebsocketInbound;
import reactor.netty.http.websocket.WebsocketOutbound;

/**
 * The HTTP server: the WebSocket endpoint {@code /ws}, health, metrics, the API, the browser client
 * (docs/protocol.md sections 1 and 9) and the demo page at {@code /} with its script, style and settings, on the
 * gateway's own I/O loops. Each WebSocket connection gets a UTF-8 validator (invalid text closes with 1007) and a
 * write-buffer bound equal to the outbound limit, and is handed to a {@link Session}. Before any of that, the
 * {@link EdgeGuard} bounds what a client can hold: request and idle timeouts, connection caps, the connect rate,
 * the handshake's validity and its {@code Origin}; the page and the browser client carry security headers.
 */
public final class GatewayServer {
    public static final String SUBPROTOCOL = "switchboard.v1";
    private static final String WS_DECODER = "wsdecoder";
    private static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";
    private static final String JAVASCRIPT = "text/javascript; charset=utf-8";
    private static final String TYPESCRIPT = "application/typescript; charset=utf-8";
    private static final String HTML = "text/html; charset=utf-8";
    private static final String CSS = "text/css; charset=utf-8";
    /**
     * The demo page's policy: its own scripts, styles and settings; WebSockets to this host or the one its
     * {@code ?ws=} names; a {@code data:} icon; no frames, plugins or inline code.
     */
    static final String CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; "
            + "img-src 'self' data:; media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; "
            + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    static final String REFERRER_POLICY = "no-referrer";

    private final GatewayConfig config;
    private final EventLoops loops;
    private final SessionContext sessions;
    private final HealthService health;
    private final GatewayMetrics metrics;
    private final HttpApi api;
    private final EdgeGuard guard;
    private final WebsocketServerSpec withSubprotocol;
    private final WebsocketServerSpec withoutSubprotocol;
    /** The WebSocket decoder's settings and the outbound bound's water marks, the same for every connection. */
    private final WebSocketDecoderConfig decoderConfig;

    private final WriteBufferWaterMark waterMark;
    private final byte[] browserClient;
    private final byte[] browserClientTypes;
    private final byte[] demoPage;
    private final byte[] demoScript;
    private final byte[] demoStyle;
    private final byte[] demoConfig;

    public GatewayServer(
            GatewayConfig config,
            EventLoops loops,
            SessionContext sessions,
            HealthService health,
            GatewayMetrics metrics,
            HttpApi api) {
        this.config = config;
        this.loops = loops;
        this.sessions = sessions;
        this.health = health;
        this.metrics = metrics;
        this.api = api;
        this.guard = new EdgeGuard(config.edge(), metrics, System::nanoTime);
        metrics.gauge(
                "switchboard.edge.connections",
                "Open TCP connections, WebSockets and refused ones included",
                guard::openConnections);
        metrics.gauge("switchboard.edge.addresses", "Client addresses with an open connection", guard::addresses);
        WebsocketServerSpec.Builder spec = WebsocketServerSpec.builder()
                .maxFramePayloadLength(config.maxFrame())
                .handlePing(true);
        withoutSubprotocol = spec.build();
        withSubprotocol = spec.protocols(SUBPROTOCOL).build();
        decoderConfig = WebSocketDecoderConfig.newBuilder()
                .expectMaskedFrames(true)
                .allowExtensions(false)
                .allowMaskMismatch(false)
                .maxFramePayloadLength(config.maxFrame())
                .closeOnProtocolViolation(false)
                .build();
        waterMark = new WriteBufferWaterMark(config.outboundBytes() / 2, config.outboundBytes());
        browserClient = resource("static/switchboard.js");
        browserClientTypes = resource("static/switchboard.d.ts");
        demoPage = resource("static/index.html");
        demoScript = resource("static/demo.js");
        demoStyle = resource("static/demo.css");
        demoConfig = demoConfig(config);
    }

    /** Binds the port; the caller owns the returned server and disposes it. */
    public DisposableServer bind() {
        return HttpServer.create()
                .runOn(loops.group())
                .host(config.host())
                .port(config.port())
                .doOnChannelInit((observer, channel, remote) -> guard.install(channel))
                .idleTimeout(Duration.ofMillis(config.edge().idleTimeoutMs()))
                .forwarded(guard::forwarded)
                .route(routes -> routes.get("/ws", this::upgrade)
                        .get("/health/live", (req, res) -> text(res, HttpResponseStatus.OK, "live\n"))
                        .get("/health/ready", this::ready)
                        .get("/health", this::report)
                        .get("/metrics", this::metrics)
                        .get("/switchboard.js", (req, res) -> asset(res, JAVASCRIPT, browserClient))
                        .get("/switchboard.d.ts", (req, res) -> asset(res, TYPESCRIPT, browserClientTypes))
                        .get("/", (req, res) -> asset(res, HTML, demoPage))
                        .get("/demo.js", (req, res) -> asset(res, JAVASCRIPT, demoScript))
                        .get("/demo.css", (req, res) -> asset(res, CSS, demoStyle))
                        .get("/demo/config", this::demoConfig)
                        .post("/api/publish", api::publish)
                        .post("/api/send", api::send)
                        .post("/api/disconnect", api::disconnect)
                        .get("/api/matches", api::matches)
                        .get("/api/presence", api::presence)
                        .get("/api/online", api::online))
                .bindNow(Duration.ofSeconds(10));
    }

    /**
     * Upgrades to WebSocket, echoing {@code switchboard.v1} when the client offers it. A client that offers no
     * subprotocol is served too: offering one is optional (docs/protocol.md section 1). Refused before the upgrade:
     * while draining (503), an invalid handshake (400 with the reason), an {@code Origin} not allowed (403), and
     * an address connecting too fast (429 with {@code Retry-After}).
     */
    private Mono<Void> upgrade(HttpServerRequest req, HttpServerResponse res) {
        if (health.draining()) {
            return text(res, HttpResponseStatus.SERVICE_UNAVAILABLE, "draining: connect to another instance\n");
        }
        BadUpgrade bad = BadUpgrade.of(req.requestHeaders());
        if (bad != null) {
            guard.invalidUpgrade(bad, req.remoteAddress());
            if (bad == BadUpgrade.BAD_VERSION) {
                res.header(HttpHeaderNames.SEC_WEBSOCKET_VERSION, BadUpgrade.VERSION);
            }
            return text(res, HttpResponseStatus.BAD_REQUEST, bad.reason + "\n");
        }
        if (!guard.originAllowed(req.requestHeaders().get(HttpHeaderNames.ORIGIN), req.remoteAddress())) {
            return text(res, HttpResponseStatus.FORBIDDEN, "this page's origin may not connect to this gateway\n");
        }
        long retryAfter = guard.tryConnect(req.remoteAddress());
        if (retryAfter > 0) {
            res.header(HttpHeaderNames.RETRY_AFTER, String.valueOf(retryAfter));
            return text(
                    res,
                    HttpResponseStatus.TOO_MANY_REQUESTS,
                    "connecting too often from your address: retry in " + retryAfter + " s\n");
        }
        String offered = req.requestHeaders().get(HttpHeaderNames.SEC_WEBSOCKET_PROTOCOL);
        boolean offersOurs = offered != null
                && Arrays.stream(offered.split(",")).anyMatch(p -> p.trim().equals(SUBPROTOCOL));
        return res.sendWebsocket(this::websocket, offersOurs ? withSubprotocol : withoutSubprotocol);
    }

    private Mono<Void> websocket(WebsocketInbound in, WebsocketOutbound out) {
        Channel[] holder = new Channel[1];
        in.withConnection(c -> holder[0] = c.channel());
        Channel channel = holder[0];
        if (channel.pipeline().get(WS_DECODER) != null) {
            // No extension is negotiated, so reserved bits are a violation; violations are not closed by the decoder
            // (it sends no close frame for an invalid close code) but by the WebSocketConnection, with the violation's
            // code.
            channel.pipeline().replace(WS_DECODER, WS_DECODER, new WebSocket13FrameDecoder(decoderConfig));
            channel.pipeline().addAfter(WS_DECODER, "utf8validator", new Utf8FrameValidator(false));
        }
        channel.config().setWriteBufferWaterMark(waterMark);
        // the connect hook's headers, kept by the session until its hello is answered
        ClientHeaders headers = sessions.hooks().proxies(HookConfig.CONNECT) ? clientHeaders(in.headers()) : null;
        // reactor-netty keeps the upgrade's request and response for as long as the connection lives, and nothing
        // reads their headers after the handshake: without them an idle connection holds about 1 KB less
        in.headers().clear();
        if (in instanceof HttpServerResponse upgrade) {
            upgrade.responseHeaders().clear();
        }
        int loopIndex = loops.indexOf(channel.eventLoop());
        WebSocketConnection connection = new WebSocketConnection(channel, config, sessions.metrics());
        return connection.run(new Session(sessions, connection, loops.scheduler(loopIndex), loopIndex, headers), in);
    }

    /** The upgrade request's headers the {@code connect} hook receives; several of one name joined. */
    static ClientHeaders clientHeaders(HttpHeaders h) {
        return new ClientHeaders(
                joined(h, HttpHeaderNames.COOKIE, "; "),
                joined(h, HttpHeaderNames.ORIGIN, ", "),
                joined(h, HttpHeaderNames.USER_AGENT, " "),
                joined(h, "x-forwarded-for", ", "));
    }

    private static String joined(HttpHeaders h, CharSequence name, String separator) {
        List<String> all = h.getAll(name);
        return all.isEmpty() ? null : all.size() == 1 ? all.get(0) : String.join(separator, all);
    }

    private Mono<Void> ready(HttpServerRequest req, HttpServerResponse res) {
        return health.ready()
                .flatMap(ok -> ok
                        ? text(res, HttpResponseStatus.OK, "ready\n")
                        : text(
                                res,
                                HttpResponseStatus.SERVICE_UNAVAILABLE,
                                health.draining()
                                        ? "draining\n"
                                        : health.starting()
                                                ? "starting: waiting for Redis\n"
                                                : "a required dependency is down\n"));
    }

    private Mono<Void> report(HttpServerRequest req, HttpServerResponse res) {
        return health.report().flatMap(doc -> HttpApi.json(res, HttpResponseStatus.OK, doc));
    }

    private Mono<Void> metrics(HttpServerRequest req, HttpServerResponse res) {
        return res.header(HttpHeaderNames.CONTENT_TYPE, PROMETHEUS_TEXT)
                .sendString(Mono.fromCallable(metrics::scrape), StandardCharsets.UTF_8)
                .then();
    }

    /** The demo page's settings: the ICE servers of its WebRTC calls, TURN credentials included, never cached. */
    private Mono<Void> demoConfig(HttpServerRequest req, HttpServerResponse res) {
        return secured(res)
                .header(HttpHeaderNames.CONTENT_TYPE, "application/json")
                .header(HttpHeaderNames.CACHE_CONTROL, "no-store")
                .sendByteArray(Mono.just(demoConfig))
                .then();
    }

    private static byte[] demoConfig(GatewayConfig config) {
        try {
            return FrameCodec.mapper()
                    .writeValueAsBytes(Map.of(
                            "iceServers",
                            config.iceServers().stream()
                                    .map(IceServer::toBrowser)
                                    .toList()));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write the demo page's settings", e);
        }
    }

    /**
     * A file of the gateway that the browser revalidates before each use, so a new version is seen at once. Pages of
     * any origin may load it: modules are fetched with CORS.
     */
    private static Mono<Void> asset(HttpServerResponse res, String contentType, byte[] body) {
        return secured(res)
                .header(HttpHeaderNames.CONTENT_TYPE, contentType)
                .header(HttpHeaderNames.CACHE_CONTROL, "no-cache")
                .header(HttpHeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, "*")
                .sendByteArray(Mono.just(body))
                .then();
    }

    /**
     * Adds the headers that keep the page and the browser client from being framed, sniffed as another type, or
     * leaking their address as a referrer.
     */
    private static HttpServerResponse secured(HttpServerResponse res) {
        return res.header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                .header("X-Content-Type-Options", "nosniff")
                .header("Referrer-Policy", REFERRER_POLICY);
    }

    /** Reads a resource of the gateway's jar once, at start-up: one that is missing is a broken build. */
    private static byte[] resource(String path) {
        try (InputStream in = GatewayServer.class.getClassLoader().getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException(
                        "the classpath resource " + path + " is missing from the gateway: rebuild it with mvn package");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the classpath resource " + path, e);
        }
    }

    private static Mono<Void> text(HttpServerResponse res, HttpResponseStatus status, String body) {
        return res.status(status)
                .header(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8")
                .sendString(Mono.just(body))
                .then();
    }
}
