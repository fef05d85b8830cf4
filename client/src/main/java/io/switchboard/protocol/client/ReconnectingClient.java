package io.switchboard.protocol.client;

import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeoutException;
import java.util.function.LongFunction;
import java.util.function.Supplier;
import java.util.random.RandomGenerator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Schedulers;

/**
 * The reference client of docs/protocol.md section 8: one logical connection that outlives the WebSocket under it.
 * When a connection ends with a code the table allows, it reconnects with full-jitter backoff
 * ({@link ReconnectPolicy}), says {@code hello} with the last {@code resume} token and inbox position, subscribes
 * every channel again with {@code since}, and reports each step as a {@link ConnectionEvent}. The messages the
 * application sees ({@link #frames()}) come in order and at most once across connections: a channel message or
 * inbox event at or before the position already seen is dropped.
 *
 * <p>Requests made while no connection is up wait for the next one; requests in flight when a connection
 * drops fail with {@code disconnected} (they may or may not have taken effect); after {@link #close()} or when
 * the client gave up, they fail with {@code closed}.
 *
 * <p><b>Presence</b> (docs/protocol.md section 10): a channel subscribed with {@link SubscribeOptions#joinLeave()}
 * has a roster ({@link #roster(String)}), and its {@code join} and {@code leave} frames on {@link #frames()} are
 * exactly the changes of that roster: a join for a user not listed (or whose {@code info} changed), a leave for a
 * user listed, never a duplicate. When the channel is subscribed, and again after every reconnect (resumed or
 * not), the client reads {@code presence} and tells the difference with the roster it knew as joins and leaves
 * (so on the first subscribe, everyone present arrives as a join, this user included), before it reports
 * {@link ConnectionEvent.Recovered}: the application never keeps a roster that went stale while it was
 * disconnected. When the read is {@code truncated} (more than 1,000 users), users it does not list stay in the
 * roster and no leave is told for them; note that the gateway sends no join or leave at all for a channel with more
 * than {@code SWITCHBOARD_PRESENCE_EVENTS_MAX} users (default 1,000), so for such channels count with
 * {@link #presenceCount(String)} instead. If the read fails, the changes heard meanwhile are applied and a warning
 * is logged.
 *
 * <p>{@link #events()} and {@link #frames()} may each be subscribed once; what comes before is kept until then.
 */
public final class ReconnectingClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ReconnectingClient.class);

    /** Where the client is. */
    public enum State {
        IDLE,
        CONNECTING,
        CONNECTED,
        RECONNECTING,
        CLOSED,
        GAVE_UP
    }

    private final SwitchboardClientOptions options;
    private final ReconnectPolicy policy;
    private final RandomGenerator random;
    private final Supplier<Mono<String>> tokens;
    private final Sinks.Many<ConnectionEvent> events = Sinks.many().unicast().onBackpressureBuffer();
    private final Sinks.Many<ServerFrame> frames = Sinks.many().unicast().onBackpressureBuffer();
    private final Sinks.One<ServerFrame.Welcome> firstWelcome = Sinks.one();
    /** The remembered channels and how to subscribe them again (without {@code since}: see positions). */
    private final Map<String, SubscribeOptions> channels = new ConcurrentHashMap<>();

    private final Map<String, StreamPosition> positions = new ConcurrentHashMap<>();
    /** The roster of each remembered joinLeave channel. */
    private final Map<String, PresenceRoster> rosters = new ConcurrentHashMap<>();

    private final Object lock = new Object();

    // Guarded by lock.
    private State state = State.IDLE;
    /** Written under lock; read without it on the frame path. */
    private volatile SwitchboardClient current;

    private boolean currentWelcomed;
    private Sinks.One<SwitchboardClient> ready = Sinks.one();
    private boolean readyEmitted;
    private int failures;
    private long upSinceNanos;
    private Disposable pendingAttempt;
    private ServerFrame.Welcome lastWelcome;
    private volatile StreamPosition inboxPosition;

    private ReconnectingClient(
            SwitchboardClientOptions options,
            ReconnectPolicy policy,
            RandomGenerator random,
            Supplier<Mono<String>> tokens) {
        this.options = options;
        this.policy = policy;
        this.random = random;
        this.tokens = tokens;
    }

    /** A client that says {@code hello} with {@code options.token()} (or as a guest when it is null). */
    public static ReconnectingClient create(SwitchboardClientOptions options, ReconnectPolicy policy) {
        return new ReconnectingClient(
                options, policy, RandomGenerator.getDefault(), () -> Mono.justOrEmpty(options.token()));
    }

    /**
     * A client that asks {@code tokens} for a JWT before every connection, so that a long-lived client can
     * present a fresh one (an expired token is refused with 4001, which ends the client). An empty Mono
     * connects as a guest; an error counts as a failed attempt.
     */
    public static ReconnectingClient create(
            SwitchboardClientOptions options, ReconnectPolicy policy, Supplier<Mono<String>> tokens) {
        return new ReconnectingClient(options, policy, RandomGenerator.getDefault(), tokens);
    }

    /** Starts connecting (once); emits the first {@code welcome}, or fails if the client gives up or is closed. */
    public Mono<ServerFrame.Welcome> connect() {
        boolean start;
        synchronized (lock) {
            start = state == State.IDLE;
            if (start) {
                state = State.CONNECTING;
            }
        }
        if (start) {
            attempt(0);
        }
        return firstWelcome.asMono();
    }

    /** Every change of the connection, in order; completes after {@link ConnectionEvent.GaveUp} or Closed. */
    public Flux<ConnectionEvent> events() {
        return events.asFlux();
    }

    /**
     * Everything the server sends that is not a reply, a {@code welcome} or a {@code ping}: channel messages,
     * inbox events, errors without an id, {@code match.partner}, the {@code join} and {@code leave} of
     * joinLeave channels (the changes of their rosters, see the class comment), and on every connection the
     * {@code subscribed} frames of the channels the application's backend subscribed it to (docs/backend.md),
     * ahead of that connection's welcome. In order, without duplicates across reconnects.
     */
    public Flux<ServerFrame> frames() {
        return frames.asFlux();
    }

    public State state() {
        synchronized (lock) {
            return state;
        }
    }

    /** The last {@code welcome}, or null before the first. */
    public ServerFrame.Welcome welcome() {
        synchronized (lock) {
            return lastWelcome;
        }
    }

    /** The last message position seen on {@code channel}, or null. */
    public StreamPosition position(String channel) {
        return positions.get(channel);
    }

    /** The last inbox position seen, or null. */
    public StreamPosition inboxPosition() {
        return inboxPosition;
    }

    /**
     * The users present in {@code channel}, a channel subscribed with {@code joinLeave}, as the application was
     * told them by {@link #frames()}: user id, then its {@code info} (raw JSON), in the order they joined. Null for
     * any other channel.
     */
    public Map<String, String> roster(String channel) {
        PresenceRoster roster = rosters.get(channel);
        return roster == null ? null : roster.users();
    }

    /** The connection under this client now, or null between connections: for tests that need to reach it. */
    public SwitchboardClient connection() {
        synchronized (lock) {
            return current;
        }
    }

    /**
     * Subscribes {@code channel} now, or as soon as a connection is up, and again on every reconnect with
     * {@code since}; emits the ack of this subscription.
     */
    public Mono<ServerFrame.Ack> subscribe(String channel) {
        return subscribe(channel, SubscribeOptions.DEFAULT);
    }

    /**
     * Subscribes {@code channel} as {@code options} say, now or as soon as a connection is up, and again with the
     * same {@code presence} and {@code joinLeave} on every reconnect. With {@code joinLeave}, the ack is emitted once
     * the channel's roster was read (see the class comment); a roster that could not be read is logged, not an
     * error.
     */
    public Mono<ServerFrame.Ack> subscribe(String channel, SubscribeOptions options) {
        return Mono.defer(() -> {
            if (options.since() != null) {
                positions.putIfAbsent(channel, options.since());
            }
            channels.put(channel, options.withSince(null));
            if (options.joinLeave()) {
                rosters.computeIfAbsent(channel, PresenceRoster::new);
            } else {
                rosters.remove(channel);
            }
            return ready().flatMap(c -> subscribeOn(c, channel)).doOnError(SwitchboardException.class, e -> {
                if (!connectionLost(e)) {
                    // Refused (forbidden, too_many, ...): not a channel to subscribe again.
                    forget(channel);
                }
            });
        });
    }

    /**
     * Subscribes {@code channel} starting after {@code since}, a position the application kept from before (a
     * previous run): the messages after it are replayed when the history still holds them, and the ack says
     * {@code recovered}. Used only while this client knows no position of its own for the channel.
     */
    public Mono<ServerFrame.Ack> subscribe(String channel, StreamPosition since) {
        return subscribe(channel, SubscribeOptions.DEFAULT.withSince(since));
    }

    /** Forgets {@code channel} (and its roster); unsubscribes it on the server when a connection is up. */
    public Mono<Void> unsubscribe(String channel) {
        return Mono.defer(() -> {
            forget(channel);
            SwitchboardClient c = liveConnection();
            return c == null
                    ? Mono.empty()
                    : c.unsubscribe(channel).onErrorMap(this::disconnected).then();
        });
    }

    public Mono<ServerFrame.Ack> publish(String channel, String dataJson) {
        return request(id -> new ClientFrame.Publish(id, channel, dataJson));
    }

    public Mono<ServerFrame.Ack> send(String userId, String dataJson) {
        return request(id -> new ClientFrame.Send(id, userId, dataJson));
    }

    /**
     * Who is present in {@code channel} now (docs/protocol.md section 10): at most 1,000 users, {@code truncated}
     * beyond. Needs the right to subscribe to the channel, not a subscription.
     */
    public Mono<ServerFrame.PresenceAck> presence(String channel) {
        return ready().flatMap(c -> c.presence(channel).onErrorMap(this::disconnected));
    }

    /** How many users are present in {@code channel}. */
    public Mono<Long> presenceCount(String channel) {
        return ready().flatMap(c -> c.presenceCount(channel).onErrorMap(this::disconnected));
    }

    /**
     * Users online cluster-wide and users waiting in the random-connect queue; fails with {@code unavailable} when
     * the gateway's figures are more than 2 s old.
     */
    public Mono<ServerFrame.StatsAck> matchStats() {
        return ready().flatMap(c -> c.matchStats().onErrorMap(this::disconnected));
    }

    /**
     * Calls {@code method} of the application's backend with {@code dataJson} once a connection is up (see
     * {@link SwitchboardClient#rpc}); emits the backend's {@code result} as JSON text. Not retried: a call the
     * connection dropped under fails with {@code disconnected}, and the application decides whether to call again.
     */
    public Mono<String> rpc(String method, String dataJson) {
        return ready().flatMap(c -> c.rpc(method, dataJson).onErrorMap(this::disconnected));
    }

    /** Sends the frame made for the next request id once a connection is up; emits its ack. */
    public Mono<ServerFrame.Ack> request(LongFunction<ClientFrame> frameForId) {
        return ready().flatMap(c -> c.request(frameForId).onErrorMap(this::disconnected));
    }

    private Mono<SwitchboardClient> ready() {
        return Mono.defer(() -> {
            synchronized (lock) {
                return ready.asMono();
            }
        });
    }

    private SwitchboardClient liveConnection() {
        synchronized (lock) {
            return state == State.CONNECTED ? current : null;
        }
    }

    private Throwable disconnected(Throwable e) {
        if (e instanceof SwitchboardException se && "closed".equals(se.code())) {
            synchronized (lock) {
                if (state != State.CLOSED && state != State.GAVE_UP) {
                    return new SwitchboardException(
                            "disconnected",
                            "the connection dropped before the reply; "
                                    + "the request may or may not have taken effect",
                            null);
                }
            }
        }
        return e;
    }

    // ---------------------------------------------------------------- connecting

    private void attempt(int attempt) {
        synchronized (lock) {
            if (isTerminal()) {
                return;
            }
            pendingAttempt = null;
        }
        emit(new ConnectionEvent.Connecting(attempt));
        Mono.defer(tokens)
                .map(Optional::of)
                .defaultIfEmpty(Optional.empty())
                .onErrorMap(e -> new SwitchboardException("unauthorized", "no token: " + describe(e), null))
                .flatMap(token -> SwitchboardClient.open(options).map(c -> {
                    opened(c, hello(token.orElse(null)));
                    return c;
                }))
                .subscribe(
                        null,
                        e -> ended(
                                null, new CloseStatus(CloseCodes.ABNORMAL, "could not connect: " + describe(e), true)));
    }

    private ClientFrame.Hello hello(String token) {
        synchronized (lock) {
            return new ClientFrame.Hello(
                    1,
                    token,
                    lastWelcome == null ? null : lastWelcome.resume(),
                    lastWelcome == null ? null : inboxPosition,
                    options.clientName());
        }
    }

    private void opened(SwitchboardClient c, ClientFrame.Hello hello) {
        synchronized (lock) {
            if (isTerminal()) {
                c.abort();
                return;
            }
            current = c;
            currentWelcomed = false;
        }
        c.events().subscribe(f -> onFrame(c, f));
        c.closed().subscribe(s -> ended(c, s));
        c.hello(hello)
                .flatMap(w -> {
                    Boolean reconnect = welcomed(c, w);
                    return reconnect == null ? Mono.empty() : resubscribe(c, w, reconnect);
                })
                .subscribe(null, e -> {
                    if (e instanceof TimeoutException) {
                        c.abort();
                    }
                    // Otherwise the server refused the hello or the connection ended: its close tells why.
                });
    }

    /** Takes the welcome of connection {@code c}; whether it is a reconnect, or null when {@code c} is stale. */
    private Boolean welcomed(SwitchboardClient c, ServerFrame.Welcome w) {
        boolean reconnect;
        synchronized (lock) {
            if (c != current || isTerminal()) {
                return null;
            }
            reconnect = lastWelcome != null;
            lastWelcome = w;
            currentWelcomed = true;
            upSinceNanos = System.nanoTime();
            // A recovered welcome is followed by the inbox events after our position: keep it to place them.
            if ((!w.recovered() || inboxPosition == null) && w.inbox() != null) {
                inboxPosition = w.inbox();
            }
        }
        emit(new ConnectionEvent.Connected(w, reconnect));
        firstWelcome.tryEmitValue(w);
        return reconnect;
    }

    /** Subscribes every channel again, with {@code since} where a position is known; then the client is ready. */
    private Mono<Void> resubscribe(SwitchboardClient c, ServerFrame.Welcome w, boolean reconnect) {
        List<String> lost = new ArrayList<>();
        return Flux.fromIterable(List.copyOf(channels.keySet()))
                .flatMap(channel -> {
                    StreamPosition since = positions.get(channel);
                    return subscribeOn(c, channel)
                            .doOnNext(ack -> {
                                if (since != null && !Boolean.TRUE.equals(ack.recovered())) {
                                    synchronized (lost) {
                                        lost.add(channel);
                                    }
                                }
                            })
                            .onErrorResume(e -> !(e instanceof SwitchboardException se) || connectionLost(se)
                                    ? Mono.error(e)
                                    : refused(channel, se, lost));
                })
                .then(Mono.fromRunnable(() -> becameReady(c, w, reconnect, lost)));
    }

    private static boolean connectionLost(SwitchboardException e) {
        return "closed".equals(e.code()) || "disconnected".equals(e.code());
    }

    private Mono<ServerFrame.Ack> refused(String channel, SwitchboardException e, List<String> lost) {
        log.warn(
                "Gateway refused to subscribe {} again after a reconnect ({}); the channel is dropped",
                channel,
                e.getMessage());
        forget(channel);
        synchronized (lost) {
            lost.add(channel);
        }
        return Mono.empty();
    }

    private void becameReady(SwitchboardClient c, ServerFrame.Welcome w, boolean reconnect, List<String> lost) {
        Sinks.One<SwitchboardClient> toEmit;
        synchronized (lock) {
            if (c != current || isTerminal()) {
                return;
            }
            state = State.CONNECTED;
            readyEmitted = true;
            toEmit = ready;
        }
        if (reconnect) {
            List<String> notRecovered;
            synchronized (lost) {
                notRecovered = List.copyOf(lost);
            }
            boolean inboxRecovered = w.recovered();
            emit(new ConnectionEvent.Recovered(
                    w.resumed() && inboxRecovered && notRecovered.isEmpty(),
                    w.resumed(),
                    inboxRecovered,
                    notRecovered));
        }
        toEmit.tryEmitValue(c);
    }

    private void forget(String channel) {
        channels.remove(channel);
        positions.remove(channel);
        rosters.remove(channel);
    }

    /** Subscribes {@code channel} on {@code c} as remembered; with joinLeave, syncs its roster before the ack. */
    private Mono<ServerFrame.Ack> subscribeOn(SwitchboardClient c, String channel) {
        StreamPosition since = positions.get(channel);
        SubscribeOptions options = channels.getOrDefault(channel, SubscribeOptions.DEFAULT);
        PresenceRoster roster = options.joinLeave() ? rosters.get(channel) : null;
        // before the subscribe goes out: its own join may come before its ack
        long sync = roster == null ? 0 : roster.startSync();
        Mono<ServerFrame.Ack> subscribed = c.subscribe(channel, since, options.presence(), options.joinLeave())
                .doOnNext(ack -> {
                    boolean keep = since != null && Boolean.TRUE.equals(ack.recovered());
                    if (!keep && ack.offset() != null && ack.epoch() != null && channels.containsKey(channel)) {
                        positions.put(channel, new StreamPosition(ack.offset(), ack.epoch()));
                    }
                });
        if (roster != null) {
            subscribed = subscribed
                    .flatMap(ack -> syncRoster(c, channel, roster, sync).thenReturn(ack))
                    .doOnError(e -> tell(roster.unsynced(sync)));
        }
        return subscribed.onErrorMap(this::disconnected);
    }

    /** Reads who is present in {@code channel} and tells the difference with what {@code roster} knew. */
    private Mono<Void> syncRoster(SwitchboardClient c, String channel, PresenceRoster roster, long sync) {
        return c.presence(channel)
                .doOnNext(read -> tell(roster.synced(sync, read)))
                .onErrorResume(e -> {
                    if (!(e instanceof SwitchboardException se) || !connectionLost(se)) {
                        log.warn(
                                "Could not read who is present in {} ({}); its roster may miss changes made while"
                                        + " this client was away",
                                channel,
                                describe(e));
                    }
                    tell(roster.unsynced(sync));
                    return Mono.empty();
                })
                .then();
    }

    /** Hands join and leave frames of a roster to the application. */
    private void tell(List<ServerFrame> told) {
        if (told.isEmpty()) {
            return;
        }
        synchronized (frames) {
            for (ServerFrame f : told) {
                frames.tryEmitNext(f);
            }
        }
    }

    // ---------------------------------------------------------------- frames

    private void onFrame(SwitchboardClient c, ServerFrame f) {
        if (f instanceof ServerFrame.Ping || c != current) {
            return;
        }
        if (f instanceof ServerFrame.Message m) {
            if (!advance(m.channel(), m.offset(), m.epoch())) {
                return;
            }
        } else if (f instanceof ServerFrame.Join || f instanceof ServerFrame.Leave) {
            String channel = f instanceof ServerFrame.Join j ? j.channel() : ((ServerFrame.Leave) f).channel();
            PresenceRoster roster = rosters.get(channel);
            if (roster != null) {
                tell(roster.live(f));
                return;
            }
            if (!channels.containsKey(channel)) {
                return; // a channel forgotten since
            }
        } else {
            StreamPosition at = inboxPositionOf(f);
            if (at != null) {
                StreamPosition seen = inboxPosition;
                if (seen != null && seen.epoch().equals(at.epoch()) && at.offset() <= seen.offset()) {
                    return;
                }
                inboxPosition = at;
            }
        }
        synchronized (frames) {
            frames.tryEmitNext(f);
        }
    }

    /** Records a channel message's position; false when it was seen already. */
    private boolean advance(String channel, long offset, String epoch) {
        StreamPosition seen = positions.get(channel);
        if (seen != null && seen.epoch().equals(epoch) && offset <= seen.offset()) {
            return false;
        }
        if (channels.containsKey(channel)) {
            positions.put(channel, new StreamPosition(offset, epoch));
        }
        return true;
    }

    private static StreamPosition inboxPositionOf(ServerFrame f) {
        if (f instanceof ServerFrame.Direct d) {
            return new StreamPosition(d.offset(), d.epoch());
        } else if (f instanceof ServerFrame.MatchFound m) {
            return new StreamPosition(m.offset(), m.epoch());
        } else if (f instanceof ServerFrame.MatchSignal m) {
            return new StreamPosition(m.offset(), m.epoch());
        } else if (f instanceof ServerFrame.MatchEnded m) {
            return new StreamPosition(m.offset(), m.epoch());
        }
        return null;
    }

    // ---------------------------------------------------------------- ending

    /** A connection ({@code c}), or an attempt that never got one ({@code c == null}), ended with {@code status}. */
    private void ended(SwitchboardClient c, CloseStatus status) {
        boolean wasUp;
        synchronized (lock) {
            if (c != current || isTerminal()) {
                return;
            }
            current = null;
            wasUp = c != null && currentWelcomed;
            if (wasUp && System.nanoTime() - upSinceNanos >= policy.resetAfter().toNanos()) {
                failures = 0;
            }
            if (readyEmitted) {
                ready = Sinks.one();
                readyEmitted = false;
            }
        }
        if (wasUp) {
            emit(new ConnectionEvent.Disconnected(status));
        }
        if (!status.shouldReconnect()) {
            giveUp(
                    "closed with " + status.code() + " (" + CloseCodes.meaning(status.code()) + "): not reconnecting",
                    status);
            return;
        }
        int attempt;
        Duration delay;
        synchronized (lock) {
            if (isTerminal()) {
                return;
            }
            attempt = ++failures;
            if (attempt <= policy.maxAttempts()) {
                state = State.RECONNECTING;
            }
        }
        if (attempt > policy.maxAttempts()) {
            giveUp(
                    "gave up after " + policy.maxAttempts() + " attempts; the last ended with " + status.code() + " "
                            + status.reason(),
                    status);
            return;
        }
        delay = policy.delay(attempt, random);
        emit(new ConnectionEvent.Reconnecting(attempt, delay, status));
        Disposable scheduled = Mono.delay(delay, Schedulers.parallel()).subscribe(t -> attempt(attempt));
        synchronized (lock) {
            if (isTerminal()) {
                scheduled.dispose();
            } else if (!scheduled.isDisposed()) {
                pendingAttempt = scheduled;
            }
        }
    }

    private void giveUp(String reason, CloseStatus last) {
        Sinks.One<SwitchboardClient> waiting;
        synchronized (lock) {
            if (isTerminal()) {
                return;
            }
            state = State.GAVE_UP;
            waiting = ready;
        }
        log.info("Switchboard client for {} {}", options.uri(), reason);
        terminate(waiting, new SwitchboardException("closed", reason, null), new ConnectionEvent.GaveUp(reason, last));
    }

    private void terminate(Sinks.One<SwitchboardClient> waiting, SwitchboardException why, ConnectionEvent last) {
        waiting.tryEmitError(why);
        firstWelcome.tryEmitError(why);
        emit(last);
        synchronized (events) {
            events.tryEmitComplete();
        }
        synchronized (frames) {
            frames.tryEmitComplete();
        }
    }

    private boolean isTerminal() {
        return state == State.CLOSED || state == State.GAVE_UP;
    }

    private void emit(ConnectionEvent event) {
        log.debug("Switchboard client for {}: {}", options.uri(), event);
        synchronized (events) {
            events.tryEmitNext(event);
        }
    }

    private static String describe(Throwable e) {
        String message = e.getMessage();
        return message == null ? e.getClass().getSimpleName() : message;
    }

    /** Closes with {@code code} and stops reconnecting; completes once the close frame was written. */
    public Mono<Void> close(int code, String reason) {
        return Mono.defer(() -> {
            SwitchboardClient c;
            Sinks.One<SwitchboardClient> waiting;
            synchronized (lock) {
                if (isTerminal()) {
                    return Mono.empty();
                }
                state = State.CLOSED;
                c = current;
                current = null;
                waiting = ready;
                if (pendingAttempt != null) {
                    pendingAttempt.dispose();
                    pendingAttempt = null;
                }
            }
            CloseStatus status = new CloseStatus(code, reason, true);
            terminate(
                    waiting,
                    new SwitchboardException("closed", "the client was closed", null),
                    new ConnectionEvent.Closed(status));
            return c == null ? Mono.empty() : c.close(code, reason);
        });
    }

    /** Closes normally (1000) and waits up to 5 seconds for it. */
    @Override
    public void close() {
        try {
            close(CloseCodes.NORMAL, "bye").block(Duration.ofSeconds(5));
        } catch (RuntimeException e) {
            log.debug("Close of the client for {} did not finish: {}", options.uri(), e.toString());
        }
    }
}
