package io.switchboard.gateway.transport;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;

/**
 * Log lines about clients refused at the edge, at most one per kind a minute, so that a flood of bad requests
 * makes a line a minute and never a line per request. The first occurrence of a kind is logged at once; the next
 * ones within the minute are counted, and the count is in the first line logged after it. Kinds are fixed strings
 * of the code, never client data, so the table stays small.
 */
final class EpisodeLog {
    static final long WINDOW_NANOS = TimeUnit.MINUTES.toNanos(1);

    private final Logger log;
    private final LongSupplier nanoTime;
    private final ConcurrentHashMap<String, Window> kinds = new ConcurrentHashMap<>();

    EpisodeLog(Logger log, LongSupplier nanoTime) {
        this.log = log;
        this.nanoTime = nanoTime;
    }

    /** Logs {@code line} at WARN, unless a line of {@code kind} was logged less than a minute ago. */
    void warn(String kind, String line) {
        String text = admit(kind, line);
        if (text != null) {
            log.warn(text);
        }
    }

    /** Logs {@code line} at INFO, unless a line of {@code kind} was logged less than a minute ago. */
    void info(String kind, String line) {
        String text = admit(kind, line);
        if (text != null) {
            log.info(text);
        }
    }

    /** The line to log now, with the count of those left out since the last one; null to leave it out. */
    private String admit(String kind, String line) {
        Window w = kinds.computeIfAbsent(kind, k -> new Window());
        long skipped;
        synchronized (w) {
            long now = nanoTime.getAsLong();
            if (w.logged && now - w.loggedAt < WINDOW_NANOS) {
                w.skipped++;
                return null;
            }
            skipped = w.skipped;
            w.skipped = 0;
            w.logged = true;
            w.loggedAt = now;
        }
        return skipped == 0
                ? line + " (at most one such line a minute)"
                : line + " (and " + skipped + " more like it since the last such line)";
    }

    private static final class Window {
        boolean logged;
        long loggedAt;
        long skipped;
    }
}
