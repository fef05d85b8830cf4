package io.switchboard.gateway.hooks;

/**
 * Why the backend (or the gateway, for an answer it cannot use) refused a request: the {@code error} frame's
 * {@code code}, {@code message} and {@code retryAfter} (null unless the code calls for one).
 */
public record HookRefusal(String code, String message, Long retryAfter) {}
