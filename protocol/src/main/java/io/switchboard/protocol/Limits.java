package io.switchboard.protocol;

/**
 * The per-connection limits a server announces in {@code welcome.limits}, with the protocol's defaults.
 *
 * @param maxFrame largest inbound text frame in bytes; larger closes with 1009
 * @param rate frames per second a connection may send (token bucket refill)
 * @param burst token bucket capacity
 * @param maxSubscriptions channels one connection may hold at once
 */
public record Limits(int maxFrame, int rate, int burst, int maxSubscriptions) {
    public static final int DEFAULT_MAX_FRAME = 65536;
    public static final int DEFAULT_RATE = 100;
    public static final int DEFAULT_BURST = 200;
    public static final int DEFAULT_MAX_SUBSCRIPTIONS = 1000;
    public static final Limits DEFAULTS =
            new Limits(DEFAULT_MAX_FRAME, DEFAULT_RATE, DEFAULT_BURST, DEFAULT_MAX_SUBSCRIPTIONS);

    /** Largest request id: 2^53-1, the largest integer a JavaScript number holds exactly. */
    public static final long MAX_ID = (1L << 53) - 1;

    /** Most users one {@code presence} reply lists; beyond, it says {@code truncated}. */
    public static final int MAX_PRESENCE_USERS = 1000;

    /** Largest user {@code info} (the token's claim {@code info}), in bytes of JSON. */
    public static final int MAX_INFO_BYTES = 1024;

    /** Longest {@code rpc} method name. */
    public static final int MAX_METHOD_LENGTH = 64;

    /** Longest channel name. */
    public static final int MAX_CHANNEL_LENGTH = 128;
}
