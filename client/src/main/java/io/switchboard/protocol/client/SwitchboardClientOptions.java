package io.switchboard.protocol.client;

import java.net.URI;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/**
 * How a {@link SwitchboardClient} connects. Immutable; the {@code with*} methods return changed copies.
 *
 * @param uri the gateway's WebSocket endpoint, for instance {@code ws://localhost:8080/ws}
 * @param token a JWT, or null to connect as a guest
 * @param clientName sent as {@code hello.client}
 * @param autoPong whether to answer the server's {@code ping} (turn off only to test heartbeat timeouts)
 * @param heartbeatWatchdog whether to close a connection that received nothing for
 *                          {@code ping.interval + ping.timeout} (docs/protocol.md section 3)
 * @param connectTimeout time allowed for the TCP and WebSocket handshakes and the {@code welcome}
 * @param maxFramePayloadLength largest frame accepted from the server
 * @param headers extra headers of the WebSocket upgrade request, such as a {@code Cookie} the application's backend
 *                authenticates by (docs/backend.md); none by default
 */
public record SwitchboardClientOptions(
        URI uri,
        String token,
        String clientName,
        boolean autoPong,
        boolean heartbeatWatchdog,
        Duration connectTimeout,
        int maxFramePayloadLength,
        Map<String, String> headers) {
    public static final String DEFAULT_CLIENT_NAME = "switchboard-java/0.1";
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);
    public static final int DEFAULT_MAX_FRAME_PAYLOAD_LENGTH = 1 << 20;

    public SwitchboardClientOptions {
        Objects.requireNonNull(uri, "uri");
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        headers = headers == null ? Map.of() : Map.copyOf(headers);
    }

    /** Without extra headers. */
    public SwitchboardClientOptions(
            URI uri,
            String token,
            String clientName,
            boolean autoPong,
            boolean heartbeatWatchdog,
            Duration connectTimeout,
            int maxFramePayloadLength) {
        this(uri, token, clientName, autoPong, heartbeatWatchdog, connectTimeout, maxFramePayloadLength, Map.of());
    }

    public static SwitchboardClientOptions of(URI uri) {
        return new SwitchboardClientOptions(
                uri,
                null,
                DEFAULT_CLIENT_NAME,
                true,
                true,
                DEFAULT_CONNECT_TIMEOUT,
                DEFAULT_MAX_FRAME_PAYLOAD_LENGTH,
                Map.of());
    }

    public SwitchboardClientOptions withUri(URI uri) {
        return new SwitchboardClientOptions(
                uri, token, clientName, autoPong, heartbeatWatchdog, connectTimeout, maxFramePayloadLength, headers);
    }

    public SwitchboardClientOptions withToken(String token) {
        return new SwitchboardClientOptions(
                uri, token, clientName, autoPong, heartbeatWatchdog, connectTimeout, maxFramePayloadLength, headers);
    }

    public SwitchboardClientOptions withAutoPong(boolean autoPong) {
        return new SwitchboardClientOptions(
                uri, token, clientName, autoPong, heartbeatWatchdog, connectTimeout, maxFramePayloadLength, headers);
    }

    public SwitchboardClientOptions withHeartbeatWatchdog(boolean watchdog) {
        return new SwitchboardClientOptions(
                uri, token, clientName, autoPong, watchdog, connectTimeout, maxFramePayloadLength, headers);
    }

    public SwitchboardClientOptions withConnectTimeout(Duration timeout) {
        return new SwitchboardClientOptions(
                uri, token, clientName, autoPong, heartbeatWatchdog, timeout, maxFramePayloadLength, headers);
    }

    /** With {@code headers} sent on the WebSocket upgrade request (a {@code Cookie}, for instance). */
    public SwitchboardClientOptions withHeaders(Map<String, String> headers) {
        return new SwitchboardClientOptions(
                uri, token, clientName, autoPong, heartbeatWatchdog, connectTimeout, maxFramePayloadLength, headers);
    }
}
