package io.switchboard.gateway.transport;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.Base64;

/**
 * What is wrong with a request to {@code /ws} as a WebSocket opening handshake (RFC 6455 section 4.2.1), each with
 * the one-line reason a 400 answer gives. Checked before the upgrade, so that a bad handshake never reaches the
 * WebSocket codec (which would close the connection without an answer).
 */
enum BadUpgrade {
    NOT_WEBSOCKET("expected the header 'Upgrade: websocket': /ws is a WebSocket endpoint (RFC 6455)"),
    NO_CONNECTION_UPGRADE("expected the header 'Connection: Upgrade' (RFC 6455 section 4.1)"),
    NO_KEY("expected a Sec-WebSocket-Key header (RFC 6455 section 4.1)"),
    BAD_KEY("Sec-WebSocket-Key is not 16 bytes in base64 (RFC 6455 section 4.1)"),
    BAD_VERSION("expected Sec-WebSocket-Version: 13, the only version this server speaks (RFC 6455 section 4.4)");

    /** The version this server speaks, in the {@code Sec-WebSocket-Version} header of a {@link #BAD_VERSION} answer. */
    static final String VERSION = "13";

    final String reason;

    BadUpgrade(String reason) {
        this.reason = reason;
    }

    /** The first thing wrong with these request headers as a WebSocket handshake, or null when nothing is. */
    static BadUpgrade of(HttpHeaders headers) {
        if (!headers.containsValue(HttpHeaderNames.UPGRADE, HttpHeaderValues.WEBSOCKET, true)) {
            return NOT_WEBSOCKET;
        }
        if (!headers.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE, true)) {
            return NO_CONNECTION_UPGRADE;
        }
        String key = headers.get(HttpHeaderNames.SEC_WEBSOCKET_KEY);
        if (key == null) {
            return NO_KEY;
        }
        if (!isNonce(key.trim())) {
            return BAD_KEY;
        }
        if (!VERSION.equals(
                headers.get(HttpHeaderNames.SEC_WEBSOCKET_VERSION, "").trim())) {
            return BAD_VERSION;
        }
        return null;
    }

    private static boolean isNonce(String key) {
        try {
            return key.length() == 24 && Base64.getDecoder().decode(key).length == 16;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
