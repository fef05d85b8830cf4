package io.switchboard.gateway.store;

import io.switchboard.gateway.health.spi.DependencyCheck;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import reactor.core.publisher.Mono;

/**
 * Blocks and match history of the embedded mode, in this process: gone with it. The history keeps the last
 * {@link UserStore#MAX_LIMIT} matches of each user and at most {@code maxMatches} in all.
 */
public final class MemoryUserStore implements UserStore {
    private final int maxMatches;
    private final Map<String, Set<String>> blocks = new HashMap<>();
    private final LinkedHashMap<String, MatchRecord> matches;
    private final Map<String, Deque<String>> matchesOf = new HashMap<>();

    public MemoryUserStore(int maxMatches) {
        this.maxMatches = maxMatches;
        this.matches = new LinkedHashMap<>() {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, MatchRecord> eldest) {
                return size() > MemoryUserStore.this.maxMatches;
            }
        };
    }

    @Override
    public synchronized Mono<Void> write(List<StoreWrite> batch) {
        for (StoreWrite w : batch) {
            if (w instanceof StoreWrite.Block b) {
                blocks.computeIfAbsent(b.user(), u -> new HashSet<>()).add(b.other());
                blocks.computeIfAbsent(b.other(), u -> new HashSet<>()).add(b.user());
            } else if (w instanceof StoreWrite.MatchStarted s) {
                MatchRecord old = matches.get(s.match());
                matches.put(
                        s.match(),
                        new MatchRecord(
                                s.match(),
                                List.of(s.initiator(), s.other()),
                                s.interests(),
                                s.started(),
                                old == null ? null : old.ended(),
                                old == null ? null : old.reason(),
                                s.node()));
                if (old == null || old.users().isEmpty()) {
                    index(s.initiator(), s.match());
                    index(s.other(), s.match());
                }
            } else if (w instanceof StoreWrite.MatchEnded e) {
                MatchRecord old = matches.get(e.match());
                matches.put(
                        e.match(),
                        old == null
                                ? new MatchRecord(e.match(), List.of(), List.of(), null, e.ended(), e.reason(), null)
                                : new MatchRecord(
                                        old.match(),
                                        old.users(),
                                        old.interests(),
                                        old.started(),
                                        e.ended(),
                                        e.reason(),
                                        old.node()));
            }
        }
        return Mono.empty();
    }

    private void index(String user, String match) {
        Deque<String> list = matchesOf.computeIfAbsent(user, u -> new ArrayDeque<>());
        list.addFirst(match);
        while (list.size() > MAX_LIMIT) {
            list.removeLast();
        }
    }

    @Override
    public synchronized Mono<Set<String>> blocksOf(String user) {
        return Mono.just(Set.copyOf(blocks.getOrDefault(user, Set.of())));
    }

    @Override
    public synchronized Mono<List<MatchRecord>> matches(String user, int limit) {
        List<MatchRecord> out = new ArrayList<>();
        for (String id : matchesOf.getOrDefault(user, new ArrayDeque<>())) {
            MatchRecord r = matches.get(id);
            if (r != null && r.started() != null) {
                out.add(r);
            }
        }
        out.sort((a, b) -> b.started().compareTo(a.started()));
        return Mono.just(List.copyOf(out.subList(0, Math.min(limit, out.size()))));
    }

    @Override
    public Optional<DependencyCheck> dependency() {
        return Optional.empty();
    }

    @Override
    public boolean available() {
        return true;
    }

    @Override
    public void close() {}
}
