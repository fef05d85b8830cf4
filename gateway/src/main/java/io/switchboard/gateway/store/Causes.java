package io.switchboard.gateway.store;

/** Failures in one short line for the log and {@code /health}: the driver's own messages run to a screenful. */
final class Causes {
    private static final int MAX_MESSAGE = 200;

    private Causes() {}

    /** The innermost cause: its class and its message, cut short. */
    static String rootCause(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        String message = t.getMessage();
        if (message != null && message.length() > MAX_MESSAGE) {
            message = message.substring(0, MAX_MESSAGE) + "...";
        }
        return t.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }
}
