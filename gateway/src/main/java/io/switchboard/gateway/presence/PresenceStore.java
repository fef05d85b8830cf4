package io.switchboard.gateway.presence;

import io.switchboard.protocol.ServerFrame;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Predicate;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Who is present in which channel, shared by every instance (docs/protocol.md section 10): in memory in the
 * embedded mode, in Redis in the cluster mode. A user is present in a channel while it has at least one
 * <em>holder</em> there: a connection of the user, on some instance, that subscribed with presence. The store
 * tells every instance's {@link #onEvent listener} when a user becomes present ({@code join}) or stops being
 * present ({@code leave}), as long as the channel has at most {@code eventsMax} present users.
 *
 * <p>Each instance is the truth about its own holders; the store is where they meet. An instance renews a lease
 * with every {@link #tick}; the holders of an instance whose lease ran out are removed by the others' ticks, so a
 * dead instance's users leave within the lease and a tick. What an instance could not tell the store (an outage)
 * it tells again from its live connections: {@link #add} for each holder, then {@link #prune}.
 */
public interface PresenceStore extends AutoCloseable {

    /**
     * {@code connection} of {@code user} holds its presence in {@code channel}, with the user's public
     * {@code info} (a JSON object). Emits true when the user became present (a {@code join}), false when it
     * already was; adding a holder twice is one holder.
     */
    Mono<Boolean> add(String channel, String user, String connection, String info);

    /**
     * {@code connection}'s connection dropped and may be resumed: its holder stays, but the user's next holder in
     * {@code channel} (the resumed connection subscribing again, here or on another instance) takes its place,
     * with no {@code leave} and no {@code join}; when the user already has another (not lingering) holder there,
     * it goes at once, with no leave. Nothing when the holder is not there.
     */
    Mono<Void> linger(String channel, String user, String connection);

    /** {@code connection} holds {@code user}'s presence no more; emits true when the user left (a {@code leave}). */
    Mono<Boolean> remove(String channel, String user, String connection);

    /** How many users are present in {@code channel}: one read, whatever the count. */
    Mono<Long> count(String channel);

    /** At most {@code max} of the users present in {@code channel}, ordered by user id, and their count. */
    Mono<Roster> list(String channel, int max);

    /**
     * Removes this instance's holders that {@code held} says it no longer holds, asking it at the moment each is
     * looked at (so that a holder added meanwhile is kept). A {@code leave} where that makes a user leave.
     */
    Mono<Void> prune(Predicate<Holder> held);

    /**
     * Makes the store hold exactly {@code held} for this instance: holders it lacks are added (a {@code join}
     * where that makes a user present) and lingering ones marked so, then holders of this instance beyond them are
     * removed. The caller makes sure no change of the same holders runs meanwhile.
     */
    default Mono<Void> rebuild(Collection<Holder> held) {
        Set<List<String>> keep = new HashSet<>();
        for (Holder h : held) {
            keep.add(List.of(h.channel(), h.user(), h.connection()));
        }
        return Flux.fromIterable(held)
                .concatMap(h -> add(h.channel(), h.user(), h.connection(), h.info())
                        .then(h.lingering() ? linger(h.channel(), h.user(), h.connection()) : Mono.empty()))
                .then(prune(h -> keep.contains(List.of(h.channel(), h.user(), h.connection()))));
    }

    /**
     * Every second: renews this instance's lease and reports its figures ({@code online} users connected here,
     * {@code present} users present here, over all channels); removes the holders of instances whose lease ran
     * out; emits the figures over every live instance. Emits {@link Figures#lost} when the store no longer knew
     * this instance (its data was lost, or its lease had run out and its holders were removed): a
     * rebuild of every holder is due.
     */
    Mono<Figures> tick(long online, long present);

    /** Receives every {@code join} and {@code leave} of every channel, from any instance; on any thread. */
    void onEvent(Consumer<ServerFrame> listener);

    @Override
    default void close() {}

    /**
     * One holder of this instance: a connection of {@code user} present in {@code channel}, with its info;
     * {@code lingering} when the connection dropped and may be resumed ({@link #linger}).
     */
    record Holder(String channel, String user, String connection, String info, boolean lingering) {
        public Holder(String channel, String user, String connection, String info) {
            this(channel, user, connection, info, false);
        }
    }

    /** A channel's users (at most the number asked for) and how many there are in all. */
    record Roster(long count, List<ServerFrame.PresentUser> users) {
        public boolean truncated() {
            return count > users.size();
        }
    }

    /** Users connected and (channel, user) presences, over every live instance; {@code lost}: rebuild all. */
    record Figures(long online, long present, boolean lost) {}
}
