package io.switchboard.loadtest.scenario;

import io.switchboard.loadtest.result.BenchmarkException;
import io.switchboard.loadtest.wire.WireClient;
import io.switchboard.loadtest.wire.WireClient.Conn;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntFunction;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * A {@link WireClient.Listener} that keeps what every scenario needs (connections ready, failed, closed, and the
 * time from connect to ready) and opens many connections with a bounded number of handshakes in flight.
 * Scenarios override the {@code on...} hooks.
 */
class Load implements WireClient.Listener, WireClient.HelloSender {
    final Recorder connectMicros = new Recorder(3);
    final AtomicInteger readyCount = new AtomicInteger();
    final AtomicInteger failedBeforeReady = new AtomicInteger();
    final AtomicInteger closedAfterReady = new AtomicInteger();
    final AtomicReference<String> firstFailure = new AtomicReference<>();
    final AtomicReference<String> firstClose = new AtomicReference<>();
    final AtomicInteger errors = new AtomicInteger();
    final AtomicReference<String> firstError = new AtomicReference<>();
    private final Semaphore inFlight = new Semaphore(0);
    private final ConcurrentHashMap<Conn, Boolean> counted = new ConcurrentHashMap<>();
    volatile boolean expectCloses;

    @Override
    public final void ready(Conn c, String text) {
        if (counted.putIfAbsent(c, Boolean.TRUE) == null) {
            connectMicros.recordValue(Math.max(0, c.connectNanos() / 1000));
            readyCount.incrementAndGet();
            inFlight.release();
        }
        onReady(c, text);
    }

    @Override
    public final void closed(Conn c, boolean wasReady, String cause) {
        if (!wasReady) {
            failedBeforeReady.incrementAndGet();
            firstFailure.compareAndSet(null, cause);
            inFlight.release();
        } else if (!expectCloses) {
            closedAfterReady.incrementAndGet();
            firstClose.compareAndSet(null, cause);
        }
        onClosed(c, wasReady, cause);
    }

    @Override
    public void delivered(Conn c, long sentNanos, long offset) {}

    @Override
    public void replied(Conn c, long id, boolean error, String text) {
        if (error) {
            errors.incrementAndGet();
            firstError.compareAndSet(null, text);
        }
    }

    @Override
    public String hello(Conn c) {
        return "{\"type\":\"hello\",\"v\":1,\"client\":\"switchboard-bench\"}";
    }

    void onReady(Conn c, String text) {}

    void onClosed(Conn c, boolean wasReady, String cause) {}

    /**
     * Opens {@code count} connections, connection {@code i} to {@code servers.get(i % size)}, with at most
     * {@code concurrency} handshakes in flight, and waits until each is ready or failed. Fails (after closing
     * what opened) when any failed.
     */
    List<Conn> connectAll(
            WireClient client,
            List<URI> servers,
            int count,
            int firstIndex,
            int concurrency,
            IntFunction<Object> attachment,
            long timeoutSeconds)
            throws BenchmarkException {
        List<Conn> conns = new ArrayList<>(count);
        int failedBefore = failedBeforeReady.get();
        inFlight.release(concurrency);
        try {
            for (int i = 0; i < count; i++) {
                if (!inFlight.tryAcquire(timeoutSeconds, TimeUnit.SECONDS)) {
                    throw new BenchmarkException("no connection became ready within " + timeoutSeconds + " s ("
                            + conns.size() + " opened so far)");
                }
                int index = firstIndex + i;
                conns.add(client.open(
                        index,
                        servers.get(index % servers.size()),
                        attachment == null ? null : attachment.apply(index)));
            }
            if (!inFlight.tryAcquire(concurrency, timeoutSeconds, TimeUnit.SECONDS)) {
                throw new BenchmarkException("connections were still handshaking after " + timeoutSeconds + " s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BenchmarkException("interrupted while connecting");
        }
        int failed = failedBeforeReady.get() - failedBefore;
        if (failed > 0) {
            conns.forEach(Conn::cut);
            throw new BenchmarkException(
                    failed + " of " + count + " connections failed; the first: " + firstFailure.get());
        }
        return conns;
    }

    /** The connect-to-ready times recorded since the last call. */
    Histogram takeConnectMicros() {
        return connectMicros.getIntervalHistogram();
    }
}
