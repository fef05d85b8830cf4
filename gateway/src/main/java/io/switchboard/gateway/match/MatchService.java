package io.switchboard.gateway.match;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.switchboard.gateway.auth.UserIds;
import io.switchboard.gateway.channel.ChannelService;
import io.switchboard.gateway.channel.Publication;
import io.switchboard.gateway.events.EventService;
import io.switchboard.gateway.health.spi.DependencyUnavailableException;
import io.switchboard.gateway.store.MatchRecord;
import io.switchboard.gateway.store.StoreWrite;
import io.switchboard.gateway.store.StoreWriter;
import io.switchboard.gateway.store.UserStore;
import io.switchboard.matchmaking.Ended;
import io.switchboard.matchmaking.Matchmaker;
import io.switchboard.matchmaking.MatchmakerBusyException;
import io.switchboard.matchmaking.Outcome;
import io.switchboard.matchmaking.Pairing;
import io.switchboard.protocol.Channels;
import io.switchboard.protocol.FrameCodec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.util.retry.Retry;

/**
 * Random connect for this instance's sessions (docs/protocol.md section 6): forwards requests to the
 * {@link Matchmaker} and turns each {@link Outcome} into events in the users' inboxes ({@code match.found},
 * {@code match.ended}, {@code match.partner}), so they reach users on any instance and are recovered like
 * direct messages. Signals are relayed the same way, in order. Once a second it renews this instance's lease
 * and runs the matchmaker's sweep; after a drop it ends the match when the grace runs out.
 *
 * <p>The events of a pairing or an ending are confirmed to the matchmaker once they are in the inboxes; those an
 * outcome that never arrived should have carried (its reply lost to a Redis timeout after the script ran, or this
 * instance died first) are handed out again by {@link Matchmaker#unannounced}, which the sweeper announces: the
 * users may get such an event twice.
 */
public final class MatchService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(MatchService.class);
    /** How often the lease is renewed and the sweep runs. */
    public static final Duration SWEEP_PERIOD = Duration.ofSeconds(1);

    public static final String RECONNECTING = "reconnecting";
    public static final String BACK = "back";
    /** The longest a join waits for the user's stored blocks (a slow store never slows a match by more). */
    public static final Duration BLOCKS_WAIT = Duration.ofMillis(250);
    /**
     * A drop, a return or an expiry that does not reach the matchmaker, or an event that does not reach an
     * inbox, would leave a match with a ghost: they are retried for about half a minute (Redis briefly slow or
     * away). A retried event can arrive twice; one lost would never arrive.
     */
    private static final Retry LIFECYCLE_RETRY =
            Retry.backoff(8, Duration.ofMillis(200)).maxBackoff(Duration.ofSeconds(5));

    private final Matchmaker matchmaker;
    private final ChannelService channels;
    private final String node;
    private final long graceMs;
    private final Scheduler scheduler;
    private final Disposable sweeper;
    private final AtomicLong queueLength = new AtomicLong();
    private final Counter matches;
    private final Timer timeToMatch;
    private final Map<String, Counter> endedByReason;
    private final Counter signals;
    private final Counter eventsLost;
    private final Counter announcedAgain;
    private final Counter blockLoadFailures;
    private final UserStore store;
    private final StoreWriter writer;
    private final EventService events;
    /** Users whose stored blocks this instance's matchmaker has been told, since their last drop. */
    private final Map<String, Mono<Void>> blocksLoaded = new ConcurrentHashMap<>();

    /**
     * {@code events}: where {@code match.started}, {@code match.ended} and {@code user.blocked} are stored first
     * ({@link EventService#disabled()} without webhook events).
     */
    public MatchService(
            Matchmaker matchmaker,
            ChannelService channels,
            String node,
            long graceMs,
            Scheduler scheduler,
            MeterRegistry registry,
            UserStore store,
            StoreWriter writer,
            EventService events) {
        this.events = events;
        this.matchmaker = matchmaker;
        this.store = store;
        this.writer = writer;
        blockLoadFailures = Counter.builder("switchboard.match.block.load.failures")
                .description("Joins that went ahead without the user's stored blocks (the store did not answer)")
                .register(registry);
        this.channels = channels;
        this.node = node;
        this.graceMs = graceMs;
        this.scheduler = scheduler;
        Gauge.builder("switchboard.match.queue", queueLength, AtomicLong::get)
                .description("Users waiting for a random-connect partner")
                .register(registry);
        matches = Counter.builder("switchboard.match.made")
                .description("Random-connect matches made")
                .register(registry);
        timeToMatch = Timer.builder("switchboard.match.time.to.match")
                .description("How long users waited in the queue before being matched")
                .publishPercentiles(0.5, 0.99)
                .register(registry);
        endedByReason = Map.of(
                Ended.NEXT,
                ended(registry, Ended.NEXT),
                Ended.LEFT,
                ended(registry, Ended.LEFT),
                Ended.DISCONNECTED,
                ended(registry, Ended.DISCONNECTED));
        signals = Counter.builder("switchboard.match.signals")
                .description("match.signal frames relayed")
                .register(registry);
        eventsLost = Counter.builder("switchboard.match.events.lost")
                .description("Random-connect events that could not be stored in an inbox (Redis down)")
                .register(registry);
        announcedAgain = Counter.builder("switchboard.match.announced.again")
                .description("Pairings and endings announced again because no instance confirmed their events in"
                        + " time (a lost Redis reply, a dead instance)")
                .register(registry);
        sweeper = Flux.interval(Duration.ZERO, SWEEP_PERIOD, scheduler)
                .onBackpressureDrop()
                .concatMap(
                        t -> matchmaker
                                .renewLease(node)
                                .then(matchmaker.sweep())
                                .doOnNext(this::apply)
                                .then(matchmaker.unannounced())
                                .doOnNext(this::announceAgain)
                                .then(matchmaker.queueLength())
                                .doOnNext(queueLength::set)
                                .onErrorResume(e -> {
                                    log.debug("Random-connect sweep failed: {}", e.toString());
                                    return Mono.empty();
                                }),
                        1)
                .subscribe();
    }

    private static Counter ended(MeterRegistry registry, String reason) {
        return Counter.builder("switchboard.match.ended")
                .tag("reason", reason)
                .description("Random-connect matches ended, by reason")
                .register(registry);
    }

    /** Users in the random-connect queue, cluster-wide, as last read (every {@link #SWEEP_PERIOD}). */
    public long waiting() {
        return queueLength.get();
    }

    /** {@code match.join}; emits the outcome (CONFLICT when already queued or matched). */
    public Mono<Outcome> join(String user, String session, List<String> interests) {
        return blocksBeforePairing(user)
                .then(busyIsUnavailable(matchmaker.join(user, session, node, interests)))
                .doOnNext(this::apply);
    }

    public Mono<Outcome> next(String user, String session) {
        return blocksBeforePairing(user)
                .then(busyIsUnavailable(matchmaker.next(user, session, node)))
                .doOnNext(this::apply);
    }

    /**
     * The user's stored blocks, loaded when it connected ({@link #returned}), normally long before it joins; a
     * store slow at that very moment holds a join up for {@link #BLOCKS_WAIT} at most.
     */
    private Mono<Void> blocksBeforePairing(String user) {
        return blocksLoaded(user).timeout(BLOCKS_WAIT, Mono.fromRunnable(blockLoadFailures::increment));
    }

    /**
     * Tells the matchmaker the user's stored blocks (both directions) once per connection, before its first
     * pairing: they survive restarts of the gateway and of Redis. When the store is down or does not answer in
     * time, the join goes ahead with the blocks the matchmaker holds, and the next join tries again.
     */
    private Mono<Void> blocksLoaded(String user) {
        if (!store.available()) {
            return Mono.empty();
        }
        return blocksLoaded.computeIfAbsent(
                user,
                u -> store.blocksOf(u)
                        .flatMapMany(Flux::fromIterable)
                        .concatMap(other -> matchmaker.restoreBlock(u, other))
                        .then()
                        .onErrorResume(e -> {
                            blocksLoaded.remove(u);
                            blockLoadFailures.increment();
                            log.debug("Loading the stored blocks of {} failed: {}", u, e.toString());
                            return Mono.empty();
                        })
                        .cache());
    }

    public Mono<Outcome> leave(String user) {
        return busyIsUnavailable(matchmaker.leave(user)).doOnNext(this::apply);
    }

    /**
     * {@code block}: at once in the matchmaker, and durably in the store when neither user is a guest (a guest id
     * is never handed out again, so a block involving a guest needs to last only as long as the matchmaker keeps
     * it: until the blocker is gone). Emits {@link Outcome#TOO_MANY}, and stores nothing, when {@code user}
     * already blocked {@code maxBlocks} others ({@code SWITCHBOARD_MAX_BLOCKS}); fails with an
     * {@link IllegalArgumentException} saying why (see {@link #blockProblem}) when {@code other} is not a user id.
     */
    public Mono<Outcome> block(String user, String other) {
        String problem = blockProblem(other);
        if (problem != null) {
            return Mono.error(new IllegalArgumentException(problem));
        }
        return busyIsUnavailable(matchmaker.block(user, other))
                .flatMap(o -> Outcome.TOO_MANY.equals(o.status())
                        ? Mono.just(o)
                        : events.blocked(user, other).thenReturn(o))
                .doOnNext(o -> {
                    if (Outcome.TOO_MANY.equals(o.status())) {
                        return;
                    }
                    if (!UserIds.isGuest(user) && !UserIds.isGuest(other)) {
                        writer.submit(new StoreWrite.Block(user, other, Instant.now()));
                    }
                    apply(o);
                });
    }

    /**
     * Why {@code other} cannot be blocked, naming the {@code block} frame's field {@code user}; null when it can
     * (a syntactically valid user id: 1 to 123 characters of {@code A-Z a-z 0-9 _ - . : @ |}).
     */
    public static String blockProblem(String other) {
        return other == null ? "field 'user' is missing: expected a user id" : UserIds.problem(other, "field 'user'");
    }

    /** The user's matches, newest first; fails with {@link StoreUnavailable} while the store is down. */
    public Mono<List<MatchRecord>> history(String user, int limit) {
        if (!store.available()) {
            return Mono.error(new StoreUnavailable());
        }
        return store.matches(user, limit).onErrorMap(e -> new StoreUnavailable());
    }

    /** A matchmaker with too many operations waiting for Redis answers like Redis being away: unavailable. */
    private static <T> Mono<T> busyIsUnavailable(Mono<T> operation) {
        return operation.onErrorMap(MatchmakerBusyException.class, MatchmakerBusy::new);
    }

    /** The matchmaker refused an operation at once: too many already wait for Redis on this instance. */
    public static final class MatchmakerBusy extends DependencyUnavailableException {
        MatchmakerBusy(MatchmakerBusyException cause) {
            super(cause.getMessage(), cause);
        }
    }

    /** The user store (MongoDB) is down or did not answer in time. */
    public static final class StoreUnavailable extends DependencyUnavailableException {
        StoreUnavailable() {
            super("the match history store is not available", null);
        }
    }

    /** Relays {@code data} (raw JSON) to the partner in {@code match}; emits false when it is not the current one. */
    public Mono<Boolean> signal(String user, String match, String data) {
        return busyIsUnavailable(matchmaker.partnerOf(user, match)).flatMap(o -> {
            if (o.partner() == null) {
                return Mono.just(false);
            }
            return channels.publish(Channels.inboxOf(o.partner()), Publication.MATCH_SIGNAL, user, match + "\n" + data)
                    .doOnNext(p -> signals.increment())
                    .thenReturn(true);
        });
    }

    /** A session of {@code user} said hello: its stored blocks are loaded; a match kept through a drop goes on. */
    public void returned(String user, String session) {
        blocksLoaded(user).subscribe();
        matchmaker
                .returned(user, session, node)
                .retryWhen(LIFECYCLE_RETRY)
                .subscribe(
                        o -> {
                            if (o.partner() != null) {
                                event(o.partner(), Publication.MATCH_PARTNER, partnerState(o.match(), BACK));
                            }
                        },
                        e -> log.debug("Random-connect return of {} failed: {}", user, e.toString()));
    }

    /** A session of {@code user} closed: leave the queue, or keep the match for the grace. */
    public void dropped(String user, String session) {
        blocksLoaded.remove(user);
        matchmaker
                .dropped(user, session)
                .retryWhen(LIFECYCLE_RETRY)
                .subscribe(
                        o -> {
                            if (o.partner() != null) {
                                event(o.partner(), Publication.MATCH_PARTNER, partnerState(o.match(), RECONNECTING));
                                scheduler.schedule(
                                        () -> matchmaker
                                                .expire(user, session)
                                                .retryWhen(LIFECYCLE_RETRY)
                                                .subscribe(
                                                        this::apply,
                                                        e -> log.debug(
                                                                "Random-connect expiry of {} failed: {}",
                                                                user,
                                                                e.toString())),
                                        graceMs,
                                        TimeUnit.MILLISECONDS);
                            }
                        },
                        e -> log.debug("Random-connect drop of {} failed: {}", user, e.toString()));
    }

    /** Tells everyone concerned what an operation did. */
    private void apply(Outcome o) {
        Instant now = o.ended().isEmpty() && o.pairings().isEmpty() ? null : Instant.now();
        for (Ended e : o.ended()) {
            writer.submit(new StoreWrite.MatchEnded(e.match(), now, e.reason()));
            Counter c = endedByReason.get(e.reason());
            if (c != null) {
                c.increment();
            }
        }
        for (Pairing p : o.pairings()) {
            matches.increment();
            writer.submit(new StoreWrite.MatchStarted(p.match(), p.initiator(), p.other(), p.shared(), now, node));
            // instances' clocks differ by a little: a wait can come out a few ms below zero
            timeToMatch.record(Math.max(0, p.initiatorWaitedMs()), TimeUnit.MILLISECONDS);
            timeToMatch.record(Math.max(0, p.otherWaitedMs()), TimeUnit.MILLISECONDS);
        }
        announce(o);
    }

    /** Pairings and endings whose first announcement was not confirmed: only their events go out again. */
    private void announceAgain(Outcome o) {
        int n = o.pairings().size() + o.ended().size();
        if (n > 0) {
            announcedAgain.increment(n);
            log.debug(
                    "Announcing again {} pairings and {} endings",
                    o.pairings().size(),
                    o.ended().size());
            announce(o);
        }
    }

    /**
     * Stores the events of {@code o}'s endings and pairings in the users' inboxes, then confirms to the matchmaker
     * those that got there.
     */
    private void announce(Outcome o) {
        if (!events.enabled() || o.ended().isEmpty() && o.pairings().isEmpty()) {
            announceToUsers(o);
            return;
        }
        // the webhook events are stored before the users learn of the match
        List<Mono<Void>> told = new ArrayList<>();
        for (Ended e : o.ended()) {
            told.add(events.matchEnded(
                    e.match(), e.partner() == null ? List.of(e.by()) : List.of(e.by(), e.partner()), e.reason()));
        }
        for (Pairing p : o.pairings()) {
            told.add(events.matchStarted(p.match(), p.initiator(), p.other(), p.shared()));
        }
        Mono.when(told).subscribe(v -> {}, e -> announceToUsers(o), () -> announceToUsers(o));
    }

    private void announceToUsers(Outcome o) {
        List<Mono<Object>> sent = new ArrayList<>();
        for (Ended e : o.ended()) {
            if (e.partner() != null) {
                ObjectNode n = FrameCodec.mapper().createObjectNode();
                n.put("match", e.match());
                n.put("reason", e.reason());
                sent.add(publishEvent(e.partner(), Publication.MATCH_ENDED, n.toString())
                        .filter(ok -> ok)
                        .<Object>map(ok -> e));
            }
        }
        for (Pairing p : o.pairings()) {
            // the other's match.found is stored first: the initiator signals as soon as it learns of the match,
            // and that signal must come after match.found in the other's inbox
            sent.add(publishEvent(p.other(), Publication.MATCH_FOUND, found(p, p.initiator(), false))
                    .flatMap(other -> publishEvent(p.initiator(), Publication.MATCH_FOUND, found(p, p.other(), true))
                            .map(initiator -> other && initiator))
                    .filter(ok -> ok)
                    .<Object>map(ok -> p));
        }
        if (sent.isEmpty()) {
            return;
        }
        Flux.merge(sent)
                .collectList()
                .flatMap(done -> {
                    List<Ended> ended = new ArrayList<>();
                    List<Pairing> pairings = new ArrayList<>();
                    for (Object d : done) {
                        if (d instanceof Ended e) {
                            ended.add(e);
                        } else {
                            pairings.add((Pairing) d);
                        }
                    }
                    return done.isEmpty()
                            ? Mono.<Void>empty()
                            : matchmaker.announced(new Outcome(Outcome.NOTHING, ended, pairings, null, null));
                })
                .subscribe(v -> {}, e -> log.debug("Confirming random-connect events failed: {}", e.toString()));
    }

    private static String found(Pairing p, String partner, boolean initiator) {
        ObjectNode n = FrameCodec.mapper().createObjectNode();
        n.put("match", p.match());
        n.put("partner", partner);
        n.put("initiator", initiator);
        ArrayNode interests = n.putArray("interests");
        p.shared().forEach(interests::add);
        return n.toString();
    }

    private static String partnerState(String match, String state) {
        ObjectNode n = FrameCodec.mapper().createObjectNode();
        n.put("match", match);
        n.put("state", state);
        return n.toString();
    }

    private void event(String user, String type, String data) {
        publishEvent(user, type, data).subscribe(v -> {}, e -> {});
    }

    /** Stores an event in the user's inbox; emits whether it got there. */
    private Mono<Boolean> publishEvent(String user, String type, String data) {
        return channels.publish(Channels.inboxOf(user), type, null, data)
                .retryWhen(LIFECYCLE_RETRY)
                .then(Mono.just(true))
                .onErrorResume(e -> {
                    eventsLost.increment();
                    log.debug("Could not deliver {} to user {}: {}", type, user, e.toString());
                    return Mono.just(false);
                });
    }

    @Override
    public void close() {
        sweeper.dispose();
        try {
            matchmaker.close();
        } catch (Exception e) {
            log.debug("Closing the matchmaker failed: {}", e.toString());
        }
    }
}
