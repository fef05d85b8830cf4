package io.switchboard.protocol;

import java.util.Set;

/** The {@code code} values of an {@code error} frame (docs/protocol.md section 4). */
public final class ErrorCodes {
    public static final String BAD_REQUEST = "bad_request";
    public static final String UNKNOWN_TYPE = "unknown_type";
    public static final String UNAUTHORIZED = "unauthorized";
    public static final String FORBIDDEN = "forbidden";
    public static final String NOT_FOUND = "not_found";
    public static final String CONFLICT = "conflict";
    public static final String RATE_LIMITED = "rate_limited";
    public static final String TOO_MANY = "too_many";
    public static final String UNAVAILABLE = "unavailable";
    public static final String SESSION_REPLACED = "session_replaced";
    public static final String INTERNAL = "internal";

    /** Every code above; a bounded tag set for metrics. */
    public static final Set<String> ALL = Set.of(
            BAD_REQUEST,
            UNKNOWN_TYPE,
            UNAUTHORIZED,
            FORBIDDEN,
            NOT_FOUND,
            CONFLICT,
            RATE_LIMITED,
            TOO_MANY,
            UNAVAILABLE,
            SESSION_REPLACED,
            INTERNAL);

    private ErrorCodes() {}
}
