package io.switchboard.gateway.events;

import reactor.core.publisher.Mono;

/**
 * Where events wait until the backend acknowledged them, and who delivers them: a bounded queue in memory (the
 * embedded mode), or Redis streams shared by the instances (the cluster mode). Either keeps at most
 * {@code SWITCHBOARD_WEBHOOK_BACKLOG} events, dropping the oldest, and delivers the events of one key in order.
 */
public interface EventLog extends AutoCloseable {

    /**
     * Stores {@code event}, to be delivered. Completes once it is stored where it outlives this instance (Redis),
     * or held here when that cannot be done now (to be stored when it can); never fails. The call itself fixes
     * the event's place in the order of its key.
     */
    Mono<Void> append(WebhookEvent event);

    /** What waits to be delivered: how many events, and when the oldest of them happened. */
    Mono<Backlog> backlog();

    /** Starts delivering through {@code delivery}. */
    void start(WebhookDelivery delivery);

    /** Stops delivering; what is left is delivered by the other instances (cluster), or lost (embedded). */
    @Override
    void close();

    /**
     * @param size events not yet acknowledged
     * @param oldestAtMillis when the oldest of them happened; 0 when there is none
     */
    record Backlog(long size, long oldestAtMillis) {
        public static final Backlog EMPTY = new Backlog(0, 0);
    }
}
