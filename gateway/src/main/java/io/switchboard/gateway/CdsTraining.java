package io.switchboard.gateway;

import io.switchboard.gateway.config.GatewayConfig;
import io.switchboard.gateway.transport.GatewayServer;
import java.time.Duration;
import java.util.Map;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.netty.http.client.HttpClient;
import reactor.netty.http.client.WebsocketClientSpec;

/**
 * The training run of the gateway's class-data sharing archive ({@code scripts/cds}): starts a gateway in the
 * embedded mode on a free loopback port, drives it as clients do (the WebSocket upgrade, {@code hello},
 * {@code subscribe}, {@code publish}, a resume with the {@code welcome}'s token, health and metrics), and stops it,
 * so that a JVM run with {@code -XX:ArchiveClassesAtExit} archives the classes a serving gateway loads. A gateway
 * started with the archive ({@code gateway/jvm.options}) then loads them from it instead of from the jar.
 */
public final class CdsTraining {
    /** Connections the training opens when no count is given. */
    public static final int DEFAULT_CONNECTIONS = 400;

    private static final int IN_FLIGHT = 16;
    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    private CdsTraining() {}

    /** {@code args}: the number of connections to open (default {@link #DEFAULT_CONNECTIONS}). */
    public static void main(String[] args) {
        int connections = args.length > 0 ? Integer.parseInt(args[0]) : DEFAULT_CONNECTIONS;
        GatewayConfig config = GatewayConfig.fromEnvironment(Map.of(
                "PORT", "0",
                "SWITCHBOARD_HOST", "127.0.0.1",
                "SWITCHBOARD_NODE_ID", "cds-training",
                "SWITCHBOARD_CONNECT_RATE", "1000000",
                "SWITCHBOARD_CONNECT_BURST", "1000000"));
        Gateway gateway = Gateway.start(config);
        try {
            HttpClient http = HttpClient.create().baseUrl("http://127.0.0.1:" + gateway.port());
            Flux.range(0, connections)
                    .flatMap(i -> connect(http, i), IN_FLIGHT)
                    .then(get(http, "/health"))
                    .then(get(http, "/metrics"))
                    .block(TIMEOUT);
        } finally {
            gateway.close();
        }
        System.out.println("cds training: " + connections + " connections served");
    }

    /**
     * One client: {@code hello}, a subscription and a publication, until the publication's ack; every other one
     * then resumes with the {@code welcome}'s token on a second connection.
     */
    private static Mono<Void> connect(HttpClient http, int i) {
        return session(http, "{\"type\":\"hello\",\"v\":1,\"client\":\"cds-training\"}")
                .flatMap(welcome -> {
                    String token = field(welcome, "resume");
                    return i % 2 == 0 || token == null
                            ? Mono.empty()
                            : session(http, "{\"type\":\"hello\",\"v\":1,\"resume\":\"" + token + "\"}")
                                    .then();
                });
    }

    /** Opens a WebSocket, says {@code hello}, subscribes and publishes; the {@code welcome} it got. */
    private static Mono<String> session(HttpClient http, String hello) {
        return http.websocket(WebsocketClientSpec.builder()
                        .protocols(GatewayServer.SUBPROTOCOL)
                        .build())
                .uri("/ws")
                .handle((in, out) -> {
                    Sinks.Many<String> frames = Sinks.many().unicast().onBackpressureBuffer();
                    frames.tryEmitNext(hello);
                    String[] welcome = new String[1];
                    Mono<Void> reading = in.receive()
                            .asString()
                            .doOnNext(s -> {
                                if (s.startsWith("{\"type\":\"welcome\"")) {
                                    welcome[0] = s;
                                    frames.tryEmitNext(
                                            "{\"type\":\"subscribe\",\"id\":1,\"channel\":\"public:training\"}");
                                    frames.tryEmitNext("{\"type\":\"publish\",\"id\":2,\"channel\":\"public:training\","
                                            + "\"data\":{\"text\":\"hi\"}}");
                                }
                            })
                            .takeUntil(s -> s.contains("\"id\":2"))
                            .doFinally(signal -> frames.tryEmitComplete())
                            .then();
                    return Mono.when(out.sendString(frames.asFlux()), reading)
                            .then(Mono.fromSupplier(() -> welcome[0]));
                })
                .next();
    }

    private static Mono<Void> get(HttpClient http, String path) {
        return http.get().uri(path).responseContent().aggregate().then();
    }

    /** The string value of {@code name} in a JSON object written by the gateway, or null. */
    private static String field(String json, String name) {
        String key = "\"" + name + "\":\"";
        int at = json.indexOf(key);
        if (at < 0) {
            return null;
        }
        int from = at + key.length();
        int to = json.indexOf('"', from);
        return to < 0 ? null : json.substring(from, to);
    }
}
