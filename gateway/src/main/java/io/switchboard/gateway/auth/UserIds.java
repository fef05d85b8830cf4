package io.switchboard.gateway.auth;

import io.switchboard.protocol.Channels;
import io.switchboard.protocol.Limits;

/**
 * What a user id may be. Ids travel inside inbox channel names ({@code user:<id>}), Redis keys with hash tags
 * and newline-framed Redis payloads, so they are restricted to {@link #ALLOWED}: no whitespace, no control
 * characters, no braces. {@link #GUEST_PREFIX} belongs to the ids the gateway hands to guests; a token cannot
 * claim one.
 */
public final class UserIds {
    /** The prefix of every guest id ({@code g_} + random); no JWT {@code sub} may start with it. */
    public static final String GUEST_PREFIX = "g_";
    /** Longest user id: its inbox channel {@code user:<id>} must be a valid channel name (128 characters). */
    public static final int MAX_LENGTH = Limits.MAX_CHANNEL_LENGTH - Channels.INBOX_PREFIX.length();
    /** The characters of a user id, as documented. */
    public static final String ALLOWED = "A-Z a-z 0-9 _ - . : @ |";

    private UserIds() {}

    /** Whether {@code id} is 1 to {@link #MAX_LENGTH} characters of {@link #ALLOWED} (guest ids included). */
    public static boolean isValid(String id) {
        return id != null && problem(id, "user") == null;
    }

    /** Whether {@code id} is a guest's id. */
    public static boolean isGuest(String id) {
        return id.startsWith(GUEST_PREFIX);
    }

    /**
     * Why {@code id} is not a user id, naming {@code field}; null when it is one. The message never repeats the
     * id itself (it may hold anything, newlines included), only its length or the offending character's code.
     */
    public static String problem(String id, String field) {
        int n = id.length();
        if (n == 0 || n > MAX_LENGTH) {
            return field + " is " + n + " characters long: a user id is 1 to " + MAX_LENGTH + " characters of "
                    + ALLOWED;
        }
        for (int i = 0; i < n; i++) {
            char c = id.charAt(i);
            if (!allowed(c)) {
                return field + " has the character U+" + String.format("%04X", (int) c) + " at position " + (i + 1)
                        + ": a user id is 1 to " + MAX_LENGTH + " characters of " + ALLOWED;
            }
        }
        return null;
    }

    private static boolean allowed(char c) {
        return (c >= 'a' && c <= 'z')
                || (c >= 'A' && c <= 'Z')
                || (c >= '0' && c <= '9')
                || c == '_'
                || c == '-'
                || c == '.'
                || c == ':'
                || c == '@'
                || c == '|';
    }
}
