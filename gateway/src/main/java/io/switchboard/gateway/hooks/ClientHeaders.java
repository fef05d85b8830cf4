package io.switchboard.gateway.hooks;

/**
 * The headers of a connection's WebSocket upgrade request that the {@code connect} hook receives, each as the
 * client sent it (several of one name joined), or null when absent. The transport captures them; the session
 * holds them only until its {@code hello} is answered.
 */
public record ClientHeaders(String cookie, String origin, String userAgent, String forwardedFor) {
    public static final ClientHeaders NONE = new ClientHeaders(null, null, null, null);
}
