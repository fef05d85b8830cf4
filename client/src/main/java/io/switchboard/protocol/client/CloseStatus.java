package io.switchboard.protocol.client;

import io.switchboard.protocol.CloseCodes;

/**
 * How a connection ended: the close code and reason the server sent, 1006 when the connection dropped without
 * a close frame, or 4003 when this client gave up on a silent server (docs/protocol.md section 3).
 *
 * @param local true when this client closed the connection itself
 */
public record CloseStatus(int code, String reason, boolean local) {
    public boolean shouldReconnect() {
        return CloseCodes.shouldReconnect(code);
    }
}
