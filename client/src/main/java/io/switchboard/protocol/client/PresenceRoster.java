package io.switchboard.protocol.client;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.ServerFrame;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The users present in one {@code joinLeave} channel as the application was told them: every method returns the
 * {@code join} and {@code leave} frames to hand to the application, so that what it was told always equals this
 * roster. Thread-safe.
 *
 * <p>A sync brings the roster up to date with a {@code presence} read (docs/protocol.md section 10): it starts
 * before the {@code subscribe} is sent, since the server may send a {@code join} before the ack; from then on the
 * live events are kept aside until the read's answer arrives. The new roster is the answer with the kept events
 * applied on top, in order: an event from before the read changes nothing the read did not already say, and an
 * event from after it is newer than the read. The application is then told the difference with the old roster:
 * a {@code leave} for each user gone, a {@code join} for each user new or whose {@code info} changed.
 *
 * <p>When the answer is {@code truncated} (more than 1,000 users), a user of the old roster that it does not list
 * may still be present beyond the list: such users stay, and no {@code leave} is told for them; new users listed
 * are told as {@code join}.
 */
final class PresenceRoster {
    /** Live events kept aside during one sync, at most; beyond, the oldest go (they are the likeliest before it). */
    static final int MAX_KEPT = 10_000;

    private final String channel;
    /** User, then its info (raw JSON), in the order they were told. */
    private final Map<String, String> users = new LinkedHashMap<>();
    /** Non-null while a sync is under way. */
    private ArrayDeque<ServerFrame> kept;

    private long generation;

    PresenceRoster(String channel) {
        this.channel = channel;
    }

    /** Starts a sync (or a newer one, replacing the one under way); the token to finish it with. */
    synchronized long startSync() {
        if (kept == null) {
            kept = new ArrayDeque<>();
        }
        return ++generation;
    }

    /** A live {@code join} or {@code leave} of this channel: what to tell now (nothing while a sync is under way). */
    synchronized List<ServerFrame> live(ServerFrame event) {
        if (kept != null) {
            if (kept.size() == MAX_KEPT) {
                kept.removeFirst();
            }
            kept.add(event);
            return List.of();
        }
        List<ServerFrame> out = new ArrayList<>(1);
        apply(users, event, out);
        return out;
    }

    /**
     * Finishes sync {@code token} with the read's answer {@code read}: the difference to tell. Nothing when a newer
     * sync started since.
     */
    synchronized List<ServerFrame> synced(long token, ServerFrame.PresenceAck read) {
        if (token != generation || kept == null) {
            return List.of();
        }
        Map<String, String> next = new LinkedHashMap<>();
        if (read.users() != null) {
            for (ServerFrame.PresentUser u : read.users()) {
                next.put(u.user(), u.info());
            }
        }
        if (Boolean.TRUE.equals(read.truncated())) {
            users.forEach(next::putIfAbsent);
        }
        for (ServerFrame event : kept) {
            apply(next, event, null);
        }
        kept = null;
        List<ServerFrame> out = new ArrayList<>();
        for (String user : users.keySet()) {
            if (!next.containsKey(user)) {
                out.add(new ServerFrame.Leave(channel, user));
            }
        }
        next.forEach((user, info) -> {
            String was = users.get(user);
            if (was == null || !sameJson(was, info)) {
                out.add(new ServerFrame.Join(channel, user, info));
            }
        });
        users.clear();
        users.putAll(next);
        return out;
    }

    /**
     * Ends sync {@code token} without a read (it failed): the events kept aside are applied as if live, and what
     * changed is told. Nothing when a newer sync started since.
     */
    synchronized List<ServerFrame> unsynced(long token) {
        if (token != generation || kept == null) {
            return List.of();
        }
        List<ServerFrame> out = new ArrayList<>();
        for (ServerFrame event : kept) {
            apply(users, event, out);
        }
        kept = null;
        return out;
    }

    /** The users present as last told, user then info (raw JSON), in the order they were told. */
    synchronized Map<String, String> users() {
        return Collections.unmodifiableMap(new LinkedHashMap<>(users));
    }

    /** Applies {@code event} to {@code roster}; adds to {@code told} (when not null) what changed. */
    private static void apply(Map<String, String> roster, ServerFrame event, List<ServerFrame> told) {
        if (event instanceof ServerFrame.Join j) {
            String was = roster.put(j.user(), j.info());
            if (told != null && (was == null || !sameJson(was, j.info()))) {
                told.add(j);
            }
        } else if (event instanceof ServerFrame.Leave l) {
            if (roster.remove(l.user()) != null && told != null) {
                told.add(l);
            }
        }
    }

    /** Whether two JSON texts are the same value, whatever their spacing or key order. */
    private static boolean sameJson(String a, String b) {
        if (a.equals(b)) {
            return true;
        }
        try {
            return Objects.equals(
                    FrameCodec.mapper().readTree(a), FrameCodec.mapper().readTree(b));
        } catch (JsonProcessingException e) {
            return false;
        }
    }
}
