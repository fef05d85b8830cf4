package io.switchboard.protocol;

/** WebSocket close codes of docs/protocol.md section 8, and whether a client should reconnect after each. */
public final class CloseCodes {
    public static final int NORMAL = 1000;
    public static final int GOING_AWAY = 1001;
    /** The peer broke RFC 6455 itself (reserved bits, an invalid close code): not in the section 8 table. */
    public static final int WEBSOCKET_PROTOCOL_ERROR = 1002;

    public static final int BINARY_FRAME = 1003;
    public static final int ABNORMAL = 1006;
    public static final int INVALID_UTF8 = 1007;
    public static final int POLICY_VIOLATION = 1008;
    public static final int FRAME_TOO_BIG = 1009;
    public static final int INTERNAL_ERROR = 1011;
    public static final int SERVICE_RESTART = 1012;
    /** Refused for now (a user connecting too often): reconnect after the error's {@code retryAfter}. */
    public static final int TRY_AGAIN_LATER = 1013;

    public static final int PROTOCOL_ERROR = 4000;
    public static final int UNAUTHORIZED = 4001;
    public static final int SESSION_REPLACED = 4002;
    public static final int HEARTBEAT_TIMEOUT = 4003;
    public static final int SLOW_CONSUMER = 4004;
    public static final int HELLO_TIMEOUT = 4005;

    private CloseCodes() {}

    /** Whether a client reconnects after a close with this code (the table of section 8). */
    public static boolean shouldReconnect(int code) {
        return switch (code) {
            case GOING_AWAY,
                    ABNORMAL,
                    INTERNAL_ERROR,
                    SERVICE_RESTART,
                    TRY_AGAIN_LATER,
                    HEARTBEAT_TIMEOUT,
                    SLOW_CONSUMER,
                    HELLO_TIMEOUT -> true;
            default -> false;
        };
    }

    /** The meaning of a code, as the table of section 8 gives it; "unknown" for other codes. */
    public static String meaning(int code) {
        return switch (code) {
            case NORMAL -> "normal closure";
            case GOING_AWAY -> "going away";
            case WEBSOCKET_PROTOCOL_ERROR -> "WebSocket protocol error";
            case BINARY_FRAME -> "binary frame";
            case ABNORMAL -> "abnormal (no close frame)";
            case INVALID_UTF8 -> "invalid UTF-8";
            case POLICY_VIOLATION -> "policy violation (abuse)";
            case FRAME_TOO_BIG -> "frame too big";
            case INTERNAL_ERROR -> "internal error";
            case SERVICE_RESTART -> "service restart (drain)";
            case TRY_AGAIN_LATER -> "try again later";
            case PROTOCOL_ERROR -> "protocol error";
            case UNAUTHORIZED -> "unauthorized";
            case SESSION_REPLACED -> "session replaced";
            case HEARTBEAT_TIMEOUT -> "heartbeat timeout";
            case SLOW_CONSUMER -> "slow consumer";
            case HELLO_TIMEOUT -> "hello timeout";
            default -> "unknown";
        };
    }

    /** The codes the protocol defines; anything else is reported as "other" in metrics. */
    public static boolean isKnown(int code) {
        return switch (code) {
            case NORMAL,
                    GOING_AWAY,
                    WEBSOCKET_PROTOCOL_ERROR,
                    BINARY_FRAME,
                    ABNORMAL,
                    INVALID_UTF8,
                    POLICY_VIOLATION,
                    FRAME_TOO_BIG,
                    INTERNAL_ERROR,
                    SERVICE_RESTART,
                    TRY_AGAIN_LATER,
                    PROTOCOL_ERROR,
                    UNAUTHORIZED,
                    SESSION_REPLACED,
                    HEARTBEAT_TIMEOUT,
                    SLOW_CONSUMER,
                    HELLO_TIMEOUT -> true;
            default -> false;
        };
    }
}
