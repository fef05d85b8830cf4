package io.switchboard.matchmaking;

/**
 * A match that ended, and who must be told.
 *
 * @param match the match id
 * @param by the user whose action or absence ended it
 * @param partner the other user, who gets {@code match.ended} with {@link #reason}
 * @param reason {@code next}, {@code left} or {@code disconnected}
 */
public record Ended(String match, String by, String partner, String reason) {
    public static final String NEXT = "next";
    public static final String LEFT = "left";
    public static final String DISCONNECTED = "disconnected";
}
