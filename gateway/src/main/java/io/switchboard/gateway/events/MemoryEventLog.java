package io.switchboard.gateway.events;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * The embedded mode's events: one bounded queue in memory, delivered in order, one batch at a time. Beyond the
 * bound the oldest event is dropped (even one whose batch is being sent). What it holds is lost with the process,
 * and only then.
 */
public final class MemoryEventLog implements EventLog {
    private static final Logger log = LoggerFactory.getLogger(MemoryEventLog.class);

    private final int bound;
    // guarded by this
    private final ArrayDeque<Entry> queue = new ArrayDeque<>();
    private long nextSeq;
    private boolean delivering;
    private WebhookDelivery delivery;
    private volatile boolean closed;

    private record Entry(long seq, WebhookEvent event) {}

    public MemoryEventLog(int bound) {
        this.bound = bound;
    }

    @Override
    public Mono<Void> append(WebhookEvent event) {
        int drops = 0;
        WebhookDelivery d;
        synchronized (this) {
            queue.addLast(new Entry(nextSeq++, event));
            while (queue.size() > bound) {
                queue.pollFirst();
                drops++;
            }
            d = delivery;
        }
        if (d != null) {
            d.dropped(drops);
        }
        deliverNext();
        return Mono.empty();
    }

    @Override
    public synchronized Mono<Backlog> backlog() {
        Entry first = queue.peekFirst();
        return Mono.just(
                first == null
                        ? Backlog.EMPTY
                        : new Backlog(queue.size(), first.event().atMillis()));
    }

    @Override
    public void start(WebhookDelivery delivery) {
        synchronized (this) {
            this.delivery = delivery;
        }
        deliverNext();
    }

    private void deliverNext() {
        List<WebhookEvent> batch = new ArrayList<>();
        long first;
        long last;
        WebhookDelivery d;
        synchronized (this) {
            if (delivering || delivery == null || closed || queue.isEmpty()) {
                return;
            }
            delivering = true;
            d = delivery;
            first = queue.peekFirst().seq();
            long seq = -1;
            for (Iterator<Entry> i = queue.iterator(); i.hasNext() && batch.size() < WebhookDelivery.BATCH; ) {
                Entry e = i.next();
                batch.add(e.event());
                seq = e.seq();
            }
            last = seq;
        }
        // a batch whose oldest event was dropped meanwhile is not sent again: the next batch starts at what is left
        // (a batch given up is not removed: what is left of it goes in the next one, not dropped uncounted)
        d.deliver(batch, () -> !closed && headIs(first)).subscribe(ok -> delivered(ok ? last : -1), e -> {
            log.debug("Delivering events failed: {}", e.toString());
            delivered(-1);
        });
    }

    private synchronized boolean headIs(long seq) {
        Entry head = queue.peekFirst();
        return head != null && head.seq() == seq;
    }

    private void delivered(long last) {
        synchronized (this) {
            while (!queue.isEmpty() && queue.peekFirst().seq() <= last) {
                queue.pollFirst();
            }
            delivering = false;
        }
        deliverNext();
    }

    @Override
    public void close() {
        closed = true;
        int left;
        synchronized (this) {
            left = queue.size();
        }
        if (left > 0) {
            log.warn("Stopping with {} webhook events undelivered: the embedded mode keeps them only in memory", left);
        }
    }
}
