package io.switchboard.gateway.store;

import io.switchboard.gateway.health.spi.DependencyCheck;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import reactor.core.publisher.Mono;

/** Where blocks and the match history live: MongoDB ({@link MongoUserStore}) or memory ({@link MemoryUserStore}). */
public interface UserStore extends AutoCloseable {
    /** The largest {@code limit} of {@link #matches(String, int)}. */
    int MAX_LIMIT = 500;

    /** Writes a batch, in order; fails as a whole (each write is idempotent, so the batch may be retried). */
    Mono<Void> write(List<StoreWrite> batch);

    /** Every user that {@code user} blocked or that blocked {@code user}. */
    Mono<Set<String>> blocksOf(String user);

    /** The user's matches, newest first, at most {@code limit}. */
    Mono<List<MatchRecord>> matches(String user, int limit);

    /** The store's health for {@code /health}, when it has a dependency to report. */
    Optional<DependencyCheck> dependency();

    /** False while the store is known to be down (MongoDB): reads are then refused at once, not tried. */
    boolean available();

    @Override
    void close();
}
