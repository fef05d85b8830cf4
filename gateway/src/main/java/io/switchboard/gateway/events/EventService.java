package io.switchboard.gateway.events;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.switchboard.protocol.Channels;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;

/**
 * Turns what happens into webhook events (docs/protocol.md section 11) and stores them in the {@link EventLog}
 * before the action they report completes: the session calls {@link #opened} before its {@code welcome}, the
 * random-connect service {@link #matchStarted} before {@code match.found}.
 *
 * <p>A session is what the backend hears of: a {@code user.connected} when a connection opens that resumes none,
 * one {@code user.disconnected} when it ends, with the id of the connection that announced it however often it
 * was resumed meanwhile ({@link SessionLineage}). A connection that dropped in a way it may be resumed from ends its
 * session only when the resume grace ran out without a resume ({@code timeout}); one closed for good ends it at
 * once ({@code closed}, {@code replaced}, {@code kicked}). An instance that dies leaves its sessions to the others
 * ({@code node_lost}, see the cluster's lineage).
 *
 * <p>Ids are fixed by what they report (the session, the match) wherever possible, so that an event written twice
 * (a retry, an announcement made again) is the same event to the backend.
 */
public final class EventService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EventService.class);
    private static final EventService DISABLED = new EventService();

    private final boolean enabled;
    private final EventLog events;
    private final SessionLineage lineage;
    private final WebhookDelivery delivery;
    private final String node;
    private final long graceMs;
    private final Scheduler scheduler;
    private final Clock clock;
    private final Supplier<String> randomIds;
    /** This instance's open connections that announce a session: connection id → user and origin. */
    private final Map<String, Tracked> tracked = new ConcurrentHashMap<>();
    /** Per user, the completion of the newest of its opens and ends under way here ({@link #inTurn}). */
    private final Map<String, Mono<Void>> turns = new ConcurrentHashMap<>();

    private record Tracked(String user, String origin) {}

    private EventService() {
        enabled = false;
        events = null;
        lineage = null;
        delivery = null;
        node = null;
        graceMs = 0;
        scheduler = null;
        clock = null;
        randomIds = null;
    }

    public EventService(
            EventLog events,
            SessionLineage lineage,
            WebhookDelivery delivery,
            String node,
            long graceMs,
            Scheduler scheduler,
            Clock clock,
            Supplier<String> randomIds) {
        this.enabled = true;
        this.events = events;
        this.lineage = lineage;
        this.delivery = delivery;
        this.node = node;
        this.graceMs = graceMs;
        this.scheduler = scheduler;
        this.clock = clock;
        this.randomIds = randomIds;
        delivery.backlogFrom(events::backlog);
        events.start(delivery);
    }

    /** No webhook configured: every call does nothing at once. */
    public static EventService disabled() {
        return DISABLED;
    }

    public boolean enabled() {
        return enabled;
    }

    /** Where events wait, when events are on. */
    public EventLog log() {
        return events;
    }

    /** The {@code /health} entry, when events are on. */
    public WebhookDelivery delivery() {
        return delivery;
    }

    // ------------------------------------------------------------------ connections

    /**
     * Connection {@code session} of {@code user} opened, resuming {@code resumes} (null: none). A new session
     * stores its {@code user.connected}; completes once stored (or held, see {@link EventLog#append}).
     */
    public Mono<Void> opened(String user, String session, String resumes) {
        if (!enabled) {
            return Mono.empty();
        }
        Mono<String> origin = resumes == null
                ? Mono.empty()
                : lineage.resumed(user, resumes, session).onErrorResume(e -> {
                    log.debug(
                            "Connection {} resumes {}: its lineage is not known now: {}",
                            session,
                            resumes,
                            e.toString());
                    return Mono.empty();
                });
        return origin.map(o -> {
                    tracked.put(session, new Tracked(user, o));
                    return true;
                })
                .switchIfEmpty(Mono.defer(() -> {
                    tracked.put(session, new Tracked(user, session));
                    return inTurn(user, () -> {
                                Mono<Void> appended = events.append(connected(user, session));
                                return lineage.opened(user, session)
                                        .onErrorResume(e -> Mono.empty())
                                        .and(appended);
                            })
                            .thenReturn(true);
                }))
                .then();
    }

    /**
     * Runs {@code work} once the user's earlier {@link #inTurn} work on this instance completed: a session that
     * ends and the user's next one that opens here are stored in that order, although deciding the end takes a
     * round trip to Redis.
     */
    private Mono<Void> inTurn(String user, Supplier<Mono<Void>> work) {
        Sinks.Empty<Void> done = Sinks.empty();
        Mono<Void> mine = done.asMono();
        Mono<Void> previous = turns.put(user, mine);
        return (previous == null ? Mono.<Void>empty() : previous)
                .then(Mono.defer(work))
                .doFinally(signal -> {
                    turns.remove(user, mine);
                    done.tryEmitEmpty();
                });
    }

    /**
     * Connection {@code session} closed: with a {@code reason} it ends its session now; with null (it may be
     * resumed) when the resume grace runs out unless it was resumed by then.
     */
    public void ended(String session, String reason) {
        if (!enabled) {
            return;
        }
        Tracked t = tracked.get(session);
        if (t == null) {
            return;
        }
        if (reason == null) {
            tracked.remove(session);
            scheduler.schedule(() -> end(t, session, WebhookEvent.TIMEOUT).subscribe(), graceMs, TimeUnit.MILLISECONDS);
        } else {
            Mono<Void> ending = end(t, session, reason); // the user's turn is taken: then it is no longer tracked
            tracked.remove(session);
            ending.subscribe();
        }
    }

    /**
     * Whether the end of connection {@code session} of {@code user}, closed for good, is stored (and nothing else
     * of the user is under way here): for tests, which wait for it before the user's next connection.
     */
    public boolean settled(String user, String session) {
        return !tracked.containsKey(session) && !turns.containsKey(user);
    }

    private Mono<Void> end(Tracked t, String session, String reason) {
        return inTurn(
                        t.user(),
                        () -> lineage.ended(t.user(), session)
                                .onErrorResume(e -> Mono.just(true))
                                .flatMap(ends -> ends
                                        ? events.append(disconnected(t.user(), t.origin(), node, reason))
                                        : Mono.empty()))
                .then(Mono.defer(() -> lineage.forget(t.user(), session)))
                .onErrorResume(e -> {
                    log.debug("Forgetting connection {} failed: {}", session, e.toString());
                    return Mono.empty();
                });
    }

    /** A session of a dead instance ({@code node}) ended with it: stored, for a surviving instance to send. */
    public Mono<Void> nodeLost(String user, String origin, String deadNode) {
        return events.append(disconnected(user, origin, deadNode, WebhookEvent.NODE_LOST));
    }

    // ------------------------------------------------------------------ random connect

    public Mono<Void> matchStarted(String match, String initiator, String other, List<String> interests) {
        if (!enabled) {
            return Mono.empty();
        }
        long at = clock.millis();
        ObjectNode n = WebhookEvent.envelope("ev_" + match + "_s", WebhookEvent.MATCH_STARTED, at, node);
        n.put("match", match);
        WebhookEvent.strings(n, "users", List.of(initiator, other));
        n.put("initiator", initiator);
        WebhookEvent.strings(n, "interests", interests);
        return events.append(WebhookEvent.of(n, at, match));
    }

    public Mono<Void> matchEnded(String match, List<String> users, String reason) {
        if (!enabled) {
            return Mono.empty();
        }
        long at = clock.millis();
        ObjectNode n = WebhookEvent.envelope("ev_" + match + "_e", WebhookEvent.MATCH_ENDED, at, node);
        n.put("match", match);
        WebhookEvent.strings(n, "users", users);
        n.put("reason", reason);
        return events.append(WebhookEvent.of(n, at, match));
    }

    public Mono<Void> blocked(String user, String blocked) {
        if (!enabled) {
            return Mono.empty();
        }
        long at = clock.millis();
        ObjectNode n = WebhookEvent.envelope(randomIds.get(), WebhookEvent.USER_BLOCKED, at, node);
        n.put("user", user);
        n.put("blocked", blocked);
        return events.append(WebhookEvent.of(n, at, user));
    }

    // ------------------------------------------------------------------ channels

    /**
     * Whether {@code channel} has {@code channel.occupied} and {@code channel.vacated} events: every channel but the
     * inboxes ({@code user:}), which are a connection's own and not channels the backend hears of.
     */
    public static boolean tellsOccupancy(String channel) {
        return !Channels.isInbox(channel);
    }

    /**
     * {@code channel} got its first subscriber cluster-wide ({@code occupied}) or lost its last one: the event
     * {@code id} (fixed by the change it reports where a copy may be made twice), made on {@code where}'s behalf,
     * ordered with the channel's other events. Completes once stored (or held, see {@link EventLog#append}).
     */
    public Mono<Void> channel(String channel, boolean occupied, String id, String where) {
        if (!enabled) {
            return Mono.empty();
        }
        long at = clock.millis();
        ObjectNode n = WebhookEvent.envelope(
                id == null ? randomIds.get() : id,
                occupied ? WebhookEvent.CHANNEL_OCCUPIED : WebhookEvent.CHANNEL_VACATED,
                at,
                where == null ? node : where);
        n.put("channel", channel);
        return events.append(WebhookEvent.of(n, at, channel));
    }

    /** This instance's name in events ({@code SWITCHBOARD_NODE_ID}). */
    public String node() {
        return node;
    }

    // ------------------------------------------------------------------ events

    private WebhookEvent connected(String user, String session) {
        long at = clock.millis();
        ObjectNode n = WebhookEvent.envelope("ev_" + session + "_c", WebhookEvent.USER_CONNECTED, at, node);
        n.put("user", user);
        n.put("session", session);
        return WebhookEvent.of(n, at, user);
    }

    private WebhookEvent disconnected(String user, String origin, String where, String reason) {
        long at = clock.millis();
        ObjectNode n = WebhookEvent.envelope("ev_" + origin + "_d", WebhookEvent.USER_DISCONNECTED, at, where);
        n.put("user", user);
        n.put("session", origin);
        n.put("reason", reason);
        return WebhookEvent.of(n, at, user);
    }

    /** Sessions this instance answers for now (for tests and metrics). */
    public int sessions() {
        return tracked.size();
    }

    @Override
    public void close() {
        if (!enabled) {
            return;
        }
        events.close();
        try {
            lineage.close();
        } catch (Exception e) {
            log.debug("Closing the session lineage failed: {}", e.toString());
        }
        delivery.close();
    }
}
