package io.switchboard.gateway.store;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * Writes match-history and block records to the {@link UserStore} behind the caller's back, so that a slow or
 * absent MongoDB never slows a match: {@link #submit} only queues. Records are written in order, in batches;
 * a failed batch goes back to the head of the queue and is retried with exponential backoff. The queue is
 * bounded: when it is full the oldest unsent record is dropped, counted in
 * {@code switchboard.store.writes.dropped}, and said in a log line (one per episode, with the count at its end).
 */
public final class StoreWriter implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StoreWriter.class);
    /** Records per write, at most. */
    public static final int BATCH = 256;

    private static final Duration FIRST_BACKOFF = Duration.ofMillis(100);
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(5);
    /** How long closing waits for buffered records to be written. */
    public static final Duration FLUSH_ON_CLOSE = Duration.ofSeconds(3);

    private final UserStore store;
    private final int capacity;
    private final int batchSize;
    private final ArrayDeque<StoreWrite> queue = new ArrayDeque<>();
    private final Scheduler scheduler = Schedulers.newSingle("switchboard-store-writer", true);
    private final Counter written;
    private final Counter dropped;
    private final Counter failures;
    // Guarded by this.
    private boolean busy;
    private List<StoreWrite> inFlight = List.of();
    private int evictFromInFlight;
    private int failedInARow;
    private long droppedThisEpisode;
    private boolean closed;
    private Disposable retry;

    public StoreWriter(UserStore store, int capacity, MeterRegistry registry) {
        this.store = store;
        this.capacity = capacity;
        // At most half the buffer is ever in flight, so that dropping takes the oldest unsent records.
        this.batchSize = Math.max(1, Math.min(BATCH, capacity / 2));
        written = Counter.builder("switchboard.store.writes")
                .description("Records written to the user store")
                .register(registry);
        dropped = Counter.builder("switchboard.store.writes.dropped")
                .description("Records dropped unsent because the write buffer was full (the store down too long)")
                .register(registry);
        failures = Counter.builder("switchboard.store.write.failures")
                .description("Batches the user store refused or did not answer; they are retried")
                .register(registry);
        Gauge.builder("switchboard.store.writes.pending", this, StoreWriter::pending)
                .description("Records waiting to be written to the user store")
                .register(registry);
    }

    /** Queues a record; never blocks, never fails. */
    public void submit(StoreWrite write) {
        synchronized (this) {
            if (closed) {
                return;
            }
            queue.addLast(write);
            trim();
            if (busy || retry != null) {
                return;
            }
            busy = true;
        }
        scheduler.schedule(this::drain);
    }

    /**
     * Keeps at most {@code capacity} records by giving up the oldest. The batch being written holds the oldest:
     * its records are given up first, but only counted as dropped if its write fails (else they landed).
     */
    private void trim() {
        while (queue.size() + inFlight.size() - evictFromInFlight > capacity) {
            if (evictFromInFlight < inFlight.size()) {
                evictFromInFlight++;
            } else {
                queue.pollFirst();
                countDropped(1);
            }
        }
    }

    private void countDropped(int n) {
        if (n == 0) {
            return;
        }
        dropped.increment(n);
        if (droppedThisEpisode == 0) {
            log.warn(
                    "User store write buffer full ({} records): dropping the oldest unsent records until the"
                            + " store answers again",
                    capacity);
        }
        droppedThisEpisode += n;
    }

    /** Records waiting, including a batch being written. */
    public synchronized int pending() {
        return queue.size() + inFlight.size();
    }

    private void drain() {
        List<StoreWrite> batch;
        synchronized (this) {
            retry = null;
            if (closed || queue.isEmpty()) {
                busy = false;
                return;
            }
            busy = true;
            batch = new ArrayList<>(Math.min(batchSize, queue.size()));
            while (batch.size() < batchSize && !queue.isEmpty()) {
                batch.add(queue.pollFirst());
            }
            inFlight = batch;
        }
        store.write(batch).subscribe(null, e -> failed(batch, e), () -> wrote(batch));
    }

    private void wrote(List<StoreWrite> batch) {
        long droppedBefore;
        int failedBefore;
        synchronized (this) {
            inFlight = List.of();
            evictFromInFlight = 0;
            droppedBefore = droppedThisEpisode;
            failedBefore = failedInARow;
            droppedThisEpisode = 0;
            failedInARow = 0;
        }
        written.increment(batch.size());
        if (failedBefore > 0) {
            log.info(
                    "User store writes go through again after {} failed tries; {} records were dropped meanwhile",
                    failedBefore,
                    droppedBefore);
        }
        scheduler.schedule(this::drain);
    }

    private void failed(List<StoreWrite> batch, Throwable e) {
        failures.increment();
        synchronized (this) {
            // Back to the head of the queue, in order, but for the oldest given up meanwhile.
            int evicted = evictFromInFlight;
            inFlight = List.of();
            evictFromInFlight = 0;
            for (int i = batch.size() - 1; i >= evicted; i--) {
                queue.addFirst(batch.get(i));
            }
            countDropped(evicted);
            trim();
            if (closed) {
                busy = false;
                return;
            }
            if (failedInARow++ == 0) {
                log.warn(
                        "User store writes fail ({}); keeping up to {} records and retrying",
                        Causes.rootCause(e),
                        capacity);
            }
            long backoff = FIRST_BACKOFF.toMillis() << Math.min(failedInARow - 1, 10);
            retry = scheduler.schedule(this::drain, Math.min(MAX_BACKOFF.toMillis(), backoff), TimeUnit.MILLISECONDS);
        }
    }

    /**
     * Stops writing. While the store answers, waits up to {@link #FLUSH_ON_CLOSE} for what is buffered to be
     * written first; what is left then is said in a log line.
     */
    @Override
    public void close() {
        long deadline = System.nanoTime() + FLUSH_ON_CLOSE.toNanos();
        while (pending() > 0 && store.available() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        int left = pending();
        if (left > 0) {
            log.warn("Closing with {} user store records not written", left);
        }
        synchronized (this) {
            closed = true;
            if (retry != null) {
                retry.dispose();
            }
        }
        scheduler.dispose();
    }
}
