package io.switchboard.protocol.client;

/** An {@code error} reply from the server, or the connection closing before a reply came. */
public final class SwitchboardException extends RuntimeException {
    private final String code;
    private final Long retryAfter;

    public SwitchboardException(String code, String message, Long retryAfter) {
        super(code + (message == null ? "" : ": " + message));
        this.code = code;
        this.retryAfter = retryAfter;
    }

    /** The protocol error code ({@code forbidden}, {@code rate_limited}, ...), or {@code closed}. */
    public String code() {
        return code;
    }

    /** Milliseconds to wait before retrying, for {@code rate_limited} and {@code unavailable}; else null. */
    public Long retryAfter() {
        return retryAfter;
    }
}
