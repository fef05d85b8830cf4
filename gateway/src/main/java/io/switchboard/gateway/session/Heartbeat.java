package io.switchboard.gateway.session;

import io.switchboard.protocol.CloseCodes;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import reactor.core.Disposable;
import reactor.core.scheduler.Scheduler;

/**
 * A connection's clock (docs/protocol.md section 5): the {@code hello} deadline (4005), then a ping every
 * {@code ping.interval} and 4003 when nothing was received for {@code ping.interval + ping.timeout}. One timer,
 * started here and cancelled in {@link #stop()}, on an injected {@link Scheduler} and clock, so that tests drive
 * it on virtual time.
 */
final class Heartbeat {
    private final Session session;
    private final Outbound out;
    private final Scheduler scheduler;
    private final LongSupplier nanoTime;
    private final long intervalMs;
    private final long timeoutMs;
    private long lastSeenNanos;
    private long nextPingNanos;
    private Disposable timer;

    Heartbeat(
            Session session,
            Outbound out,
            Scheduler scheduler,
            LongSupplier nanoTime,
            long intervalMs,
            long timeoutMs) {
        this.session = session;
        this.out = out;
        this.scheduler = scheduler;
        this.nanoTime = nanoTime;
        this.intervalMs = intervalMs;
        this.timeoutMs = timeoutMs;
        this.lastSeenNanos = nanoTime.getAsLong();
    }

    /** Closes the connection with 4005 unless {@code hello} was accepted within {@code helloTimeoutMs}. */
    void awaitHello(long helloTimeoutMs) {
        timer = scheduler.schedule(
                () -> {
                    if (session.awaitingHello()) {
                        session.close(CloseCodes.HELLO_TIMEOUT, "no hello within " + helloTimeoutMs + " ms");
                    }
                },
                helloTimeoutMs,
                TimeUnit.MILLISECONDS);
    }

    /** Something arrived from the client: it is alive. */
    void seen() {
        lastSeenNanos = nanoTime.getAsLong();
    }

    /** Starts pinging; the first ping is due one interval from now. */
    void start() {
        stop();
        nextPingNanos = nanoTime.getAsLong() + TimeUnit.MILLISECONDS.toNanos(intervalMs);
        beat();
    }

    /** Sends a ping when one is due and closes a connection silent for {@code ping.interval + ping.timeout}. */
    private void beat() {
        if (!session.isOpen()) {
            return;
        }
        long now = nanoTime.getAsLong();
        long deadline = lastSeenNanos + TimeUnit.MILLISECONDS.toNanos(intervalMs + timeoutMs);
        if (now - deadline >= 0) {
            session.close(CloseCodes.HEARTBEAT_TIMEOUT, "nothing received for " + (intervalMs + timeoutMs) + " ms");
            return;
        }
        if (now - nextPingNanos >= 0) {
            out.ping();
            nextPingNanos = now + TimeUnit.MILLISECONDS.toNanos(intervalMs);
        }
        long wait = Math.max(1, Math.min(nextPingNanos, deadline) - now);
        timer = scheduler.schedule(this::beat, wait, TimeUnit.NANOSECONDS);
    }

    /** Cancels the hello deadline or the heartbeat, whichever runs. */
    void stop() {
        if (timer != null) {
            timer.dispose();
            timer = null;
        }
    }
}
