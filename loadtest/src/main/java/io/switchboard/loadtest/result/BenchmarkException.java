package io.switchboard.loadtest.result;

/** The benchmark cannot go on; the message is one line (or a line and a log excerpt) a person can act on. */
public final class BenchmarkException extends Exception {
    public BenchmarkException(String message) {
        super(message, null, false, false);
    }
}
