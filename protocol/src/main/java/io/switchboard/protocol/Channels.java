package io.switchboard.protocol;

/** Channel names (docs/protocol.md section 5): 1 to 128 characters of {@code A-Z a-z 0-9 _ - . : @}. */
public final class Channels {
    /** Open to every connection for subscribe and publish. */
    public static final String PUBLIC_PREFIX = "public:";
    /** Reserved for inboxes: {@code user:<id>}. */
    public static final String INBOX_PREFIX = "user:";

    private Channels() {}

    /** Whether {@code name} is a syntactically valid channel name. */
    public static boolean isValidName(String name) {
        int n = name.length();
        if (n == 0 || n > Limits.MAX_CHANNEL_LENGTH) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            char c = name.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z')
                    || (c >= 'A' && c <= 'Z')
                    || (c >= '0' && c <= '9')
                    || c == '_'
                    || c == '-'
                    || c == '.'
                    || c == ':'
                    || c == '@';
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /** Why {@code name} is invalid, or null when it is valid; the text names the channel and the rule. */
    public static String problem(String name) {
        if (name.isEmpty()) {
            return "channel name is empty; expected 1 to 128 characters of A-Z a-z 0-9 _ - . : @";
        }
        if (name.length() > Limits.MAX_CHANNEL_LENGTH) {
            return "channel name is " + name.length() + " characters long; at most 128 are allowed";
        }
        if (!isValidName(name)) {
            return "channel name '" + name + "' has a character outside A-Z a-z 0-9 _ - . : @";
        }
        return null;
    }

    public static String inboxOf(String userId) {
        return INBOX_PREFIX + userId;
    }

    public static boolean isInbox(String channel) {
        return channel.startsWith(INBOX_PREFIX);
    }
}
