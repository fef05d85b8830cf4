package io.switchboard.gateway.presence;

import io.switchboard.protocol.ServerFrame;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Predicate;
import reactor.core.publisher.Mono;

/**
 * The embedded mode's presence: one instance, so the store is this instance's holders, kept in memory. Every
 * change is made under one lock and its event is told before the lock is released, so events come in the order
 * of the changes.
 */
public final class MemoryPresence implements PresenceStore {
    private final int eventsMax;
    private final List<Consumer<ServerFrame>> listeners = new CopyOnWriteArrayList<>();
    /** Channel, then user, then its holders and info. */
    private final Map<String, TreeMap<String, Present>> channels = new HashMap<>();

    private static final class Present {
        final Set<String> connections = new HashSet<>(2);
        /** Holders of dropped connections, taken over by the user's next holder. */
        final Set<String> lingering = new HashSet<>(2);

        final String info;

        Present(String info) {
            this.info = info;
        }
    }

    /** @param eventsMax join and leave are told only while a channel has at most this many present users */
    public MemoryPresence(int eventsMax) {
        this.eventsMax = eventsMax;
    }

    @Override
    public Mono<Boolean> add(String channel, String user, String connection, String info) {
        return Mono.fromSupplier(() -> {
            synchronized (channels) {
                return addLocked(channel, user, connection, info);
            }
        });
    }

    private boolean addLocked(String channel, String user, String connection, String info) {
        TreeMap<String, Present> users = channels.computeIfAbsent(channel, c -> new TreeMap<>());
        Present p = users.get(user);
        if (p != null) {
            if (!p.connections.contains(connection)) {
                p.connections.removeAll(p.lingering);
                p.lingering.clear();
            }
            p.connections.add(connection);
            return false;
        }
        p = new Present(info);
        p.connections.add(connection);
        users.put(user, p);
        if (users.size() <= eventsMax) {
            tell(new ServerFrame.Join(channel, user, info));
        }
        return true;
    }

    @Override
    public Mono<Void> linger(String channel, String user, String connection) {
        return Mono.fromRunnable(() -> {
            synchronized (channels) {
                lingerLocked(channel, user, connection);
            }
        });
    }

    private void lingerLocked(String channel, String user, String connection) {
        TreeMap<String, Present> users = channels.get(channel);
        Present p = users == null ? null : users.get(user);
        if (p == null || !p.connections.contains(connection)) {
            return;
        }
        long others = p.connections.stream()
                .filter(c -> !c.equals(connection) && !p.lingering.contains(c))
                .count();
        if (others > 0) {
            // the user's resumed connection is already here: this one goes at once, with no leave
            p.connections.remove(connection);
        } else {
            p.lingering.add(connection);
        }
    }

    @Override
    public Mono<Boolean> remove(String channel, String user, String connection) {
        return Mono.fromSupplier(() -> {
            synchronized (channels) {
                return removeLocked(channel, user, connection);
            }
        });
    }

    private boolean removeLocked(String channel, String user, String connection) {
        TreeMap<String, Present> users = channels.get(channel);
        Present p = users == null ? null : users.get(user);
        if (p == null || !p.connections.remove(connection)) {
            return false;
        }
        p.lingering.remove(connection);
        if (!p.connections.isEmpty()) {
            return false;
        }
        int before = users.size();
        users.remove(user);
        if (users.isEmpty()) {
            channels.remove(channel);
        }
        if (before <= eventsMax) {
            tell(new ServerFrame.Leave(channel, user));
        }
        return true;
    }

    private void tell(ServerFrame event) {
        for (Consumer<ServerFrame> l : listeners) {
            l.accept(event);
        }
    }

    @Override
    public Mono<Long> count(String channel) {
        return Mono.fromSupplier(() -> {
            synchronized (channels) {
                TreeMap<String, Present> users = channels.get(channel);
                return users == null ? 0L : users.size();
            }
        });
    }

    @Override
    public Mono<Roster> list(String channel, int max) {
        return Mono.fromSupplier(() -> {
            synchronized (channels) {
                TreeMap<String, Present> users = channels.get(channel);
                if (users == null) {
                    return new Roster(0, List.of());
                }
                List<ServerFrame.PresentUser> out = new ArrayList<>(Math.min(max, users.size()));
                for (Map.Entry<String, Present> e : users.entrySet()) {
                    if (out.size() == max) {
                        break;
                    }
                    out.add(new ServerFrame.PresentUser(e.getKey(), e.getValue().info));
                }
                return new Roster(users.size(), out);
            }
        });
    }

    @Override
    public Mono<Void> prune(Predicate<Holder> held) {
        return Mono.fromRunnable(() -> {
            synchronized (channels) {
                List<Holder> gone = new ArrayList<>();
                channels.forEach((channel, users) -> users.forEach((user, p) -> {
                    for (String c : p.connections) {
                        Holder h = new Holder(channel, user, c, p.info);
                        if (!held.test(h)) {
                            gone.add(h);
                        }
                    }
                }));
                for (Holder h : gone) {
                    removeLocked(h.channel(), h.user(), h.connection());
                }
            }
        });
    }

    @Override
    public Mono<Figures> tick(long online, long present) {
        return Mono.just(new Figures(online, present, false));
    }

    @Override
    public void onEvent(Consumer<ServerFrame> listener) {
        listeners.add(listener);
    }
}
