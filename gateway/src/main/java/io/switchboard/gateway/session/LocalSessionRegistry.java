package io.switchboard.gateway.session;

import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import reactor.core.publisher.Mono;

/** The embedded mode's registry: a lock-free map from user id to the live session on this instance. */
public final class LocalSessionRegistry implements SessionRegistry {
    private final Map<String, Session> byUser = new ConcurrentHashMap<>();

    @Override
    public void register(Session session) {
        Session previous = byUser.put(session.userId(), session);
        if (previous != null && previous != session) {
            previous.replaced();
        }
    }

    @Override
    public void unregister(Session session) {
        byUser.remove(session.userId(), session);
    }

    @Override
    public Session local(String userId) {
        return byUser.get(userId);
    }

    @Override
    public Mono<Boolean> isConnected(String userId) {
        return Mono.just(byUser.containsKey(userId));
    }

    @Override
    public Mono<Boolean> disconnect(String userId) {
        Session s = byUser.get(userId);
        if (s != null) {
            s.disconnect();
        }
        return Mono.just(s != null);
    }

    @Override
    public int size() {
        return byUser.size();
    }

    @Override
    public Collection<Session> sessions() {
        return byUser.values();
    }
}
