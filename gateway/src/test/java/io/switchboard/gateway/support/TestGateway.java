package io.switchboard.gateway.support;

import com.fasterxml.jackson.databind.JsonNode;
import io.switchboard.gateway.Gateway;
import io.switchboard.gateway.config.GatewayConfig;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardClientOptions;
import io.switchboard.protocol.client.SwitchboardException;
import io.switchboard.testing.Await;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * A real gateway in the test JVM on a free loopback port, with the clients a test opened against it; closing
 * it closes them all. Settings start from the defaults plus a JWT secret, an API key and per-address connection
 * limits high enough for a test's many clients on one address; a test overrides any environment variable it needs.
 */
public final class TestGateway implements AutoCloseable {
    public static final String JWT_SECRET = "test-secret-test-secret-test-secret-0123456789";
    public static final String API_KEY = "test-api-key-0123456789";
    public static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final Gateway gateway;
    private final List<SwitchboardClient> clients = new ArrayList<>();
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(TIMEOUT).build();

    private TestGateway(Gateway gateway) {
        this.gateway = gateway;
    }

    public static TestGateway start() {
        return start(Map.of());
    }

    /** Starts a gateway with the test defaults overridden by {@code env} (a null value unsets a variable). */
    public static TestGateway start(Map<String, String> env) {
        Map<String, String> all = new HashMap<>();
        all.put("PORT", "0");
        all.put("SWITCHBOARD_HOST", "127.0.0.1");
        all.put("SWITCHBOARD_NODE_ID", "gw-test");
        all.put("SWITCHBOARD_JWT_SECRET", JWT_SECRET);
        all.put("SWITCHBOARD_API_KEY", API_KEY);
        // every test client comes from 127.0.0.1, standing for many users: the edge tests set their own limits
        all.put("SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS", "1000000");
        all.put("SWITCHBOARD_CONNECT_RATE", "1000000");
        all.put("SWITCHBOARD_CONNECT_BURST", "1000000");
        env.forEach((k, v) -> {
            if (v == null) {
                all.remove(k);
            } else {
                all.put(k, v);
            }
        });
        return new TestGateway(Gateway.start(GatewayConfig.fromEnvironment(all)));
    }

    /** An instance in cluster mode on {@code redisUri} named {@code node}, returned once it has reached Redis. */
    public static TestGateway startClustered(String redisUri, String node, Map<String, String> env) {
        Map<String, String> all = new HashMap<>(env);
        all.put("REDIS_URL", redisUri);
        all.put("SWITCHBOARD_NODE_ID", node);
        TestGateway gw = start(all);
        try {
            Await.until(
                    node + " to reach Redis",
                    TIMEOUT,
                    () -> gw.health().path("status").asText().equals("UP"));
        } catch (AssertionError e) {
            gw.close();
            throw e;
        }
        return gw;
    }

    public Gateway gateway() {
        return gateway;
    }

    public int port() {
        return gateway.port();
    }

    public URI wsUri() {
        return URI.create("ws://127.0.0.1:" + port() + "/ws");
    }

    public URI httpUri(String path) {
        return URI.create("http://127.0.0.1:" + port() + path);
    }

    public SwitchboardClientOptions options() {
        return SwitchboardClientOptions.of(wsUri()).withConnectTimeout(TIMEOUT);
    }

    /** A guest connection past its {@code welcome}. */
    public SwitchboardClient connect() {
        return connect(options());
    }

    /** A connection with {@code token}, past its {@code welcome}. */
    public SwitchboardClient connect(String token) {
        return connect(options().withToken(token));
    }

    public SwitchboardClient connect(SwitchboardClientOptions options) {
        return connect(options, o -> o);
    }

    public SwitchboardClient connect(SwitchboardClientOptions options, UnaryOperator<SwitchboardClientOptions> f) {
        SwitchboardClient c = SwitchboardClient.connect(f.apply(options)).block(TIMEOUT);
        track(c);
        return c;
    }

    /** An open WebSocket that has not said {@code hello}. */
    public SwitchboardClient open() {
        return open(options());
    }

    public SwitchboardClient open(SwitchboardClientOptions options) {
        SwitchboardClient c = SwitchboardClient.open(options).block(TIMEOUT);
        track(c);
        return c;
    }

    /** Sends {@code hello} on an opened client and waits for the welcome. */
    public static ServerFrame.Welcome hello(SwitchboardClient c, String token) {
        return c.hello(new ClientFrame.Hello(1, token, null, null, "test")).block(TIMEOUT);
    }

    private synchronized void track(SwitchboardClient c) {
        clients.add(c);
    }

    /** POSTs {@code json} with {@code apiKey} (null: no Authorization header). */
    public HttpResponse<String> post(String path, String json, String apiKey) {
        HttpRequest.Builder b = HttpRequest.newBuilder(httpUri(path))
                .timeout(TIMEOUT)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json));
        if (apiKey != null) {
            b.header("Authorization", "Bearer " + apiKey);
        }
        return send(b.build());
    }

    public HttpResponse<String> post(String path, String json) {
        return post(path, json, API_KEY);
    }

    /** The {@code GET /health} document. */
    public JsonNode health() {
        try {
            return FrameCodec.mapper().readTree(get("/health").body());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public HttpResponse<String> get(String path) {
        return get(path, null);
    }

    /** GETs {@code path} with {@code apiKey} (null: no Authorization header). */
    public HttpResponse<String> get(String path, String apiKey) {
        HttpRequest.Builder b =
                HttpRequest.newBuilder(httpUri(path)).timeout(TIMEOUT).GET();
        if (apiKey != null) {
            b.header("Authorization", "Bearer " + apiKey);
        }
        return send(b.build());
    }

    private HttpResponse<String> send(HttpRequest request) {
        try {
            return http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        List<SwitchboardClient> open;
        synchronized (this) {
            open = new ArrayList<>(clients);
        }
        for (SwitchboardClient c : open) {
            if (!c.isClosed()) {
                try {
                    c.close();
                } catch (RuntimeException ignored) {
                    // the gateway is going away anyway
                }
            }
        }
        gateway.close();
    }

    /** Sends until the request is not refused as unavailable (Redis coming back); the ack. */
    public static ServerFrame.Ack sendWhenAvailable(SwitchboardClient from, String to, String data) {
        List<ServerFrame.Ack> ack = new ArrayList<>();
        Await.until("a send to " + to + " that is not refused", TIMEOUT, () -> {
            try {
                ack.add(from.send(to, data).block(TIMEOUT));
                return true;
            } catch (SwitchboardException e) {
                if (!ErrorCodes.UNAVAILABLE.equals(e.code())) {
                    throw e;
                }
                return false;
            }
        });
        return ack.get(0);
    }
}
