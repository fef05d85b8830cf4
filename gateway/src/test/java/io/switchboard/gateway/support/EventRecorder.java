package io.switchboard.gateway.support;

import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** Everything a client's {@link SwitchboardClient#events()} emits, in order, to be taken one by one. */
public final class EventRecorder {
    private final LinkedBlockingQueue<ServerFrame> frames = new LinkedBlockingQueue<>();

    private EventRecorder() {}

    public static EventRecorder of(SwitchboardClient client) {
        EventRecorder r = new EventRecorder();
        client.events().subscribe(r.frames::add);
        return r;
    }

    /** The next frame, skipping pings. */
    public ServerFrame next() {
        return next(TestGateway.TIMEOUT);
    }

    public ServerFrame next(Duration timeout) {
        try {
            while (true) {
                ServerFrame f = frames.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
                if (f == null) {
                    throw new AssertionError("no frame within " + timeout);
                }
                if (!(f instanceof ServerFrame.Ping)) {
                    return f;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** The next frame, which must be of {@code type}. */
    public <T extends ServerFrame> T next(Class<T> type) {
        ServerFrame f = next();
        if (!type.isInstance(f)) {
            throw new AssertionError("expected " + type.getSimpleName() + " but got " + f);
        }
        return type.cast(f);
    }

    /** The next {@code n} frames of {@code type}, skipping pings. */
    public <T extends ServerFrame> List<T> next(Class<T> type, int n) {
        List<T> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(next(type));
        }
        return out;
    }

    /** Frames received so far and not yet taken, pings included. */
    public List<ServerFrame> drain() {
        List<ServerFrame> out = new ArrayList<>();
        frames.drainTo(out);
        return out;
    }

    /** Asserts that nothing but pings arrives within {@code quiet}. */
    public void assertNothingWithin(Duration quiet) {
        long deadline = System.nanoTime() + quiet.toNanos();
        try {
            while (true) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return;
                }
                ServerFrame f = frames.poll(left, TimeUnit.NANOSECONDS);
                if (f != null && !(f instanceof ServerFrame.Ping)) {
                    throw new AssertionError("expected nothing, got " + f);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
