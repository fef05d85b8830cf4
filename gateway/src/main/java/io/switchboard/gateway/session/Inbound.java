package io.switchboard.gateway.session;

/**
 * One inbound text frame as read on the I/O loop when it arrived: its text and whether it was over the rate
 * limit (with the wait to announce), kept until the session's earlier requests are answered.
 */
public record Inbound(String text, boolean limited, long retryAfter) {}
