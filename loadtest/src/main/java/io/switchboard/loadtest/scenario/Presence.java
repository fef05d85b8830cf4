package io.switchboard.loadtest.scenario;

import com.fasterxml.jackson.databind.JsonNode;
import io.switchboard.loadtest.cluster.LocalCluster;
import io.switchboard.loadtest.result.BenchmarkException;
import io.switchboard.loadtest.result.Results;
import io.switchboard.loadtest.wire.WireClient;
import io.switchboard.loadtest.wire.WireClient.Conn;
import io.switchboard.loadtest.wire.WireClient.Dialect;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongConsumer;
import org.HdrHistogram.Recorder;

/**
 * Presence (protocol section 10) on two gateways sharing Redis, in two parts.
 *
 * <p><b>Churn</b>: {@code users} guests, half on each gateway, each looping: {@code subscribe} with presence to
 * one shared channel, stay a random while (mean {@value #HOLD_MS} ms), {@code unsubscribe} (every
 * {@value #CLOSE_EVERY}th time: close normally and reconnect as a new guest), stay away a random while (mean
 * {@value #OFF_MS} ms), for {@code seconds}. One observer per gateway holds {@code joinLeave} on the channel and
 * asks {@code presence.count} every {@value #SAMPLE_MS} ms. Measured: presence changes per second (acked
 * subscribes, unsubscribes and closes); the time from a user's subscribe ack (and from its subscribe) to its
 * {@code join} at the observer of the <em>other</em> gateway, and from its unsubscribe to its {@code leave} there;
 * every join and leave must reach both observers (the channel stays under the events cap); every count answered
 * is judged against what the load generator knows ({@link PresenceTruth}): the share exact within the protocol's
 * 2 s, the largest error. Once the users stop, both gateways must answer the exact count within 2 s.
 *
 * <p><b>Storm</b>: {@code stormUsers} guests, half on each gateway, subscribe with presence <em>and</em>
 * {@code joinLeave} to one big channel (so that without the events cap every join would reach every user: about
 * stormUsers² frames); then every connection is reset at once and each reconnects to the other gateway as the
 * protocol's clients do (full-jitter backoff from 500 ms, {@code hello} with {@code resume}, subscribe again). A
 * user that resumes within the grace never leaves, so the count must stay put; once all are back both gateways
 * must answer the exact count within 2 s. Then all close normally and the count must come to 0. Counted in each
 * phase: the join and leave frames the observers and the users received, checked against the bound the cap
 * ({@code SWITCHBOARD_PRESENCE_EVENTS_MAX}) sets.
 */
final class Presence {
    static final String CHURN = "public:presence-churn";
    static final String BIG = "public:presence-big";
    /** Counts are exact within this of a change (protocol section 10). */
    static final Duration PROMISE = Duration.ofSeconds(2);
    /** How long a count may stay wrong after the users stopped before the check gives up waiting. */
    static final Duration SETTLE_DEADLINE = Duration.ofSeconds(10);

    static final int HOLD_MS = 200;
    static final int OFF_MS = 200;
    static final int CLOSE_EVERY = 8;
    static final int SAMPLE_MS = 50;
    /** Cycles of a user remembered to match the joins and leaves the observers see with their subscribes. */
    static final int RING = 64;

    static final long BASE_DELAY_MS = 500;
    static final long MAX_DELAY_MS = 20_000;
    static final int MAX_ATTEMPTS = 10;

    /**
     * @param users churn users
     * @param seconds churn time, measured after {@link #warmup()}
     * @param stormUsers users of the big channel
     * @param eventsMax the gateways' {@code SWITCHBOARD_PRESENCE_EVENTS_MAX}: at least {@code users}, so that every
     *     join and leave of the churn is told, and below {@code stormUsers}, so that the storm meets the cap
     * @param closeWait how long the last phase waits for the count to come to 0 after everyone closed
     */
    record Options(int users, Duration seconds, int stormUsers, int eventsMax, Duration closeWait) {
        Duration warmup() {
            return Duration.ofMillis(Math.min(3000, seconds.toMillis() / 4));
        }
    }

    /** One identity (guest) of a churn user: its cycles, and what the observers saw of them. */
    static final class Ident {
        final String user;
        final int instance;
        int cycles;
        final int[] cycleOf = new int[RING];
        final long[] subscribeSent = new long[RING];
        final long[] subscribeAcked = new long[RING];
        final long[] leaveSent = new long[RING];
        /** Per observer: joins and leaves of this identity it saw. */
        final int[] joinsSeen = new int[2];

        final int[] leavesSeen = new int[2];
        int subscribesAcked;
        int leavesDone;

        Ident(String user, int instance) {
            this.user = user;
            this.instance = instance;
        }
    }

    /** A churn user across its connections; acts on its current connection's event loop. */
    static final class ChurnUser {
        final int index;
        final int instance;
        final URI server;
        volatile Conn conn;
        volatile Ident ident;
        volatile boolean closing;
        volatile boolean reconnecting;
        volatile boolean present;

        ChurnUser(int index, int instance, URI server) {
            this.index = index;
            this.instance = instance;
            this.server = server;
        }
    }

    /** A user of the big channel across its connections. */
    static final class StormUser {
        final int index;
        volatile int instance;
        volatile String resume;
        volatile String inboxEpoch = "";
        volatile long inboxOffset;
        volatile boolean dropped;
        volatile boolean resumed;
        volatile boolean back;
        final AtomicInteger attempts = new AtomicInteger();
        volatile Conn current;
        volatile boolean closing;

        StormUser(int index, int instance) {
            this.index = index;
            this.instance = instance;
        }
    }

    /** One per gateway: holds joinLeave on both channels and asks counts. */
    static final class Observer {
        final int instance;
        final LongAdder churnJoins = new LongAdder();
        final LongAdder churnLeaves = new LongAdder();
        final LongAdder bigJoins = new LongAdder();
        final LongAdder bigLeaves = new LongAdder();

        Observer(int instance) {
            this.instance = instance;
        }

        long bigEvents() {
            return bigJoins.sum() + bigLeaves.sum();
        }
    }

    private record Pending(long sentAt, LongConsumer onCount) {}

    private final RunContext ctx;
    private final Options o;
    private final Map<String, Ident> idents = new ConcurrentHashMap<>();
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final AtomicLong requestIds = new AtomicLong(1000);
    private final AtomicInteger inFlight = new AtomicInteger();
    private final LongAdder changes = new LongAdder();
    private final LongAdder unexpectedCloses = new LongAdder();
    private final AtomicReference<String> firstUnexpectedClose = new AtomicReference<>();
    private final LongAdder unmatchedEvents = new LongAdder();
    private final LongAdder joinsBeforeAck = new LongAdder();
    private final Recorder ackToJoinOther = new Recorder(3);
    private final Recorder subscribeToJoinOther = new Recorder(3);
    private final Recorder leaveToLeaveOther = new Recorder(3);
    private final Recorder subscribeToAck = new Recorder(3);
    private final LongAdder framesToStormUsers = new LongAdder();
    private final LongAdder countsUnavailable = new LongAdder();
    private final LongAdder subscribesUnavailable = new LongAdder();
    private final LongAdder stormBack = new LongAdder();
    private final AtomicInteger stormGaveUp = new AtomicInteger();
    private final AtomicInteger stormNotResumed = new AtomicInteger();
    private final AtomicLong lastStormBackAt = new AtomicLong();
    private final LongAdder stormFillAcks = new LongAdder();
    private final LongAdder observerAcks = new LongAdder();
    private final Observer[] observers = {new Observer(0), new Observer(1)};
    private volatile PresenceTruth truth;
    private volatile boolean stopping;
    /** The churn is over: its users close. */
    private volatile boolean ended;

    private volatile boolean measuring;
    private volatile long stormDroppedAt;
    private final AtomicReference<WireClient> wire = new AtomicReference<>();
    private List<URI> servers;

    Presence(RunContext ctx, Options o) {
        this.ctx = ctx;
        this.o = o;
    }

    Map<String, Object> run() throws BenchmarkException {
        LocalCluster.Spec spec = new LocalCluster.Spec(
                LocalCluster.Target.SWITCHBOARD,
                2,
                true,
                ctx.heap(),
                ctx.serverEnv(Map.of("SWITCHBOARD_PRESENCE_EVENTS_MAX", Integer.toString(o.eventsMax()))));
        ctx.say("presence on " + spec.describe() + ": " + o.users() + " users churning for "
                + o.seconds().toSeconds() + " s, then a storm of " + o.stormUsers()
                + " users in one channel; events cap " + o.eventsMax());
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("setup", spec.describe());
        r.put("eventsMax", o.eventsMax());
        Load load = load();
        try (LocalCluster cluster = LocalCluster.start(ctx.repo(), ctx.logDir(), spec);
                WireClient client =
                        new WireClient(Dialect.SWITCHBOARD, ctx.clientThreads(), ctx.nextSourceBlock(), load)) {
            wire.set(client);
            servers = cluster.serverUris();
            r.put("client", ctx.clientName(client));
            List<Conn> obs = load.connectAll(client, servers, 2, 0, 2, i -> observers[i], 60);
            for (Conn c : obs) {
                c.send("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"" + CHURN + "\",\"joinLeave\":true}");
                c.send("{\"type\":\"subscribe\",\"id\":2,\"channel\":\"" + BIG + "\",\"joinLeave\":true}");
            }
            FanOut.awaitCount(observerAcks, 4, "observer subscribe acks", load);
            List<ScheduledFuture<?>> sampling = new ArrayList<>();
            r.put("churn", churn(cluster, client, load, obs, sampling));
            sampling.forEach(f -> f.cancel(false));
            r.put("storm", storm(cluster, client, load, obs));
            long wrong = 0;
            for (String part : List.of("churn", "storm")) {
                wrong += ((Number) ((Map<?, ?>) r.get(part)).get("wrongFinalCounts")).longValue();
            }
            r.put("wrongFinalCounts", wrong);
            r.put("eventsMissed", ((Map<?, ?>) r.get("churn")).get("eventsMissed"));
            r.put("eventsOverBound", ((Map<?, ?>) r.get("storm")).get("eventsOverBound"));
            r.put("gaveUp", stormGaveUp.get());
            r.put("notResumed", stormNotResumed.get());
            r.put("countsUnavailable", countsUnavailable.sum());
            r.put("subscribesUnavailable", subscribesUnavailable.sum());
            r.put("requestErrors", load.errors.get());
            r.put("firstRequestError", load.firstError.get());
            r.put("closedDuringRun", unexpectedCloses.sum());
            r.put("firstClose", firstUnexpectedClose.get());
            r.put("deadProcess", cluster.deadProcess());
            load.expectCloses = true;
            obs.forEach(Conn::closeGracefully);
        }
        return r;
    }

    // ------------------------------------------------------------------------------------------------- churn

    private Map<String, Object> churn(
            LocalCluster cluster, WireClient client, Load load, List<Conn> obs, List<ScheduledFuture<?>> sampling)
            throws BenchmarkException {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("users", o.users());
        r.put("channel", CHURN);
        r.put("seconds", o.seconds().toSeconds());
        r.put("warmupMs", o.warmup().toMillis());
        r.put("meanHoldMs", HOLD_MS);
        r.put("meanAwayMs", OFF_MS);
        r.put("closeEvery", CLOSE_EVERY);
        r.put("countEveryMs", SAMPLE_MS);
        PresenceTruth t = new PresenceTruth(System.nanoTime());
        truth = t;
        PresenceTruth.Accuracy[] accuracy = {
            new PresenceTruth.Accuracy(t, PROMISE.toNanos()), new PresenceTruth.Accuracy(t, PROMISE.toNanos())
        };
        for (int i = 0; i < obs.size(); i++) {
            Conn c = obs.get(i);
            PresenceTruth.Accuracy a = accuracy[i];
            sampling.add(c.channel()
                    .eventLoop()
                    .scheduleAtFixedRate(
                            () -> {
                                if (measuring) {
                                    long sent = System.nanoTime();
                                    askCount(c, CHURN, n -> a.record(sent, System.nanoTime(), n));
                                }
                                t.forget(System.nanoTime() - TimeUnit.SECONDS.toNanos(30));
                            },
                            SAMPLE_MS,
                            SAMPLE_MS,
                            TimeUnit.MILLISECONDS));
        }
        List<Conn> users = load.connectAll(
                client,
                servers,
                o.users(),
                2,
                RunContext.CONNECT_CONCURRENCY,
                i -> new ChurnUser(i, i % 2, servers.get(i % 2)),
                120);
        long start = System.nanoTime();
        RunContext.pause(o.warmup());
        long changes1 = changes.sum();
        Map<String, Duration> cpu1 = ctx.cpu(cluster);
        long[] machine1 = Results.machineTicks();
        ackToJoinOther.reset();
        subscribeToJoinOther.reset();
        leaveToLeaveOther.reset();
        subscribeToAck.reset();
        long windowStart = System.nanoTime();
        measuring = true;
        RunContext.pause(o.seconds());
        measuring = false;
        long windowEnd = System.nanoTime();
        long changes2 = changes.sum();
        Map<String, Duration> cpu2 = ctx.cpu(cluster);
        long[] machine2 = Results.machineTicks();
        double seconds = (windowEnd - windowStart) / 1e9;
        stopping = true;
        long stopDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (inFlight.get() > 0) {
            if (System.nanoTime() - stopDeadline > 0) {
                throw new BenchmarkException(inFlight.get() + " churn requests still unanswered 60 s after the churn"
                        + " stopped; errors: " + load.errors.get() + " (first: " + load.firstError.get() + ")");
            }
            RunContext.pause(Duration.ofMillis(5));
        }
        long quietAt = t.lastChange();
        if (t.lower() != t.upper()) {
            throw new BenchmarkException("presence truth unsettled after the churn: " + t.lower() + " to " + t.upper()
                    + " (a bug of the scenario)");
        }
        int present = t.lower();
        PresenceTruth.Settle settle = settle(obs, CHURN, quietAt, present);
        r.put("changes", changes2 - changes1);
        r.put("changesPerSecond", Results.perSecond(changes2 - changes1, seconds));
        r.put("allChanges", changes.sum());
        r.put("reconnects", idents.size() - o.users());
        r.put("joinSeenOnOtherGateway", joinFigures());
        // every join and leave must have reached both observers: the channel stays under the events cap
        RunContext.pause(Duration.ofMillis(500));
        long expectedJoins = 0;
        long expectedLeaves = 0;
        for (Ident id : idents.values()) {
            synchronized (id) {
                expectedJoins += id.subscribesAcked;
                expectedLeaves += id.leavesDone;
            }
        }
        long missed = 0;
        Map<String, Object> events = new LinkedHashMap<>();
        for (Observer ob : observers) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("joins", ob.churnJoins.sum());
            e.put("leaves", ob.churnLeaves.sum());
            events.put("observer" + (ob.instance + 1), e);
            missed += Math.max(0, expectedJoins - ob.churnJoins.sum())
                    + Math.max(0, expectedLeaves - ob.churnLeaves.sum());
        }
        events.put("expectedJoins", expectedJoins);
        events.put("expectedLeaves", expectedLeaves);
        events.put("unmatched", unmatchedEvents.sum());
        r.put("events", events);
        r.put("eventsMissed", missed);
        Map<String, Object> counts = new LinkedHashMap<>();
        for (int i = 0; i < accuracy.length; i++) {
            counts.put("instance" + (i + 1), accuracy[i].result());
        }
        r.put("countsDuringChurn", counts);
        r.put("presentAtEnd", present);
        r.put("finalCount", settle.result());
        Set<String> presentUsers = new HashSet<>();
        for (Conn c : users) {
            ChurnUser u = (ChurnUser) c.attachment;
            if (u.present) {
                presentUsers.add(u.ident.user);
            }
        }
        Map<String, Object> roster = roster(obs, CHURN, presentUsers);
        r.put("finalRoster", roster);
        long online = obs.size()
                + users.stream()
                        .filter(c -> ((ChurnUser) c.attachment).conn.isOpen())
                        .count();
        r.put("matchStats", matchStats(obs, online));
        r.put("cpuCoresUsed", Results.cores(cpu1, cpu2, machine1, machine2, seconds));
        ctx.say(String.format(
                "  churn: %,.0f presence changes/s; join on the other gateway p50 %s ms, p99 %s ms after the"
                        + " subscribe ack; counts exact within 2 s: %s / %s; final count %d exact after %s ms;"
                        + " events missed %d",
                (changes2 - changes1) / seconds,
                ((Map<?, ?>) ((Map<?, ?>) r.get("joinSeenOnOtherGateway")).get("afterAckMs")).get("p50"),
                ((Map<?, ?>) ((Map<?, ?>) r.get("joinSeenOnOtherGateway")).get("afterAckMs")).get("p99"),
                accuracy[0].result().get("exactShare"),
                accuracy[1].result().get("exactShare"),
                present,
                settle.result().get("allExactAfterMs"),
                missed));
        load.expectCloses = true;
        ended = true;
        long closedAt = System.nanoTime();
        for (Conn c : users) {
            ChurnUser u = (ChurnUser) c.attachment;
            u.closing = true;
            Conn now = u.conn;
            if (now != null) {
                now.closeGracefully();
            }
        }
        // the churn's users are gone before the storm starts: the next part counts its own
        long goneBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        PresenceTruth.Settle gone = settle(obs, CHURN, closedAt, 0);
        r.put("countAfterClose", gone.result());
        long wrongRosters = (Long) roster.get("wrong");
        r.put("wrongFinalCounts", (settle.wrong() ? 1 : 0) + (gone.wrong() ? 1 : 0) + wrongRosters);
        while (System.nanoTime() - goneBy < 0
                && users.stream().anyMatch(c -> ((ChurnUser) c.attachment).conn.isOpen())) {
            RunContext.pause(Duration.ofMillis(20));
        }
        load.expectCloses = false;
        r.put("elapsedMs", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
        return r;
    }

    private Map<String, Object> joinFigures() {
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("afterAckMs", Results.percentiles(ackToJoinOther.getIntervalHistogram()));
        j.put("seenBeforeAck", joinsBeforeAck.sum());
        j.put("afterSubscribeMs", Results.percentiles(subscribeToJoinOther.getIntervalHistogram()));
        // for comparison: the subscribe's own answer, on the user's gateway
        j.put("subscribeAckMs", Results.percentiles(subscribeToAck.getIntervalHistogram()));
        j.put("leaveAfterUnsubscribeMs", Results.percentiles(leaveToLeaveOther.getIntervalHistogram()));
        return j;
    }

    private void subscribeChurn(ChurnUser u) {
        inFlight.incrementAndGet();
        if (stopping) {
            inFlight.decrementAndGet();
            return;
        }
        Ident id = u.ident;
        long now = System.nanoTime();
        int k;
        synchronized (id) {
            k = ++id.cycles;
            int slot = k % RING;
            id.cycleOf[slot] = k;
            id.subscribeSent[slot] = now;
            id.subscribeAcked[slot] = 0;
            id.leaveSent[slot] = 0;
        }
        truth.subscribing(now);
        u.conn.send(
                "{\"type\":\"subscribe\",\"id\":" + (2L * k - 1) + ",\"channel\":\"" + CHURN + "\",\"presence\":true}");
    }

    private void leaveChurn(ChurnUser u) {
        inFlight.incrementAndGet();
        if (stopping) {
            inFlight.decrementAndGet();
            return;
        }
        Ident id = u.ident;
        long now = System.nanoTime();
        int k;
        synchronized (id) {
            k = id.cycles;
            id.leaveSent[k % RING] = now;
        }
        truth.leaving(now);
        u.present = false;
        if (k % CLOSE_EVERY == 0) {
            u.closing = true;
            u.conn.closeGracefully();
        } else {
            u.conn.send("{\"type\":\"unsubscribe\",\"id\":" + (2L * k) + ",\"channel\":\"" + CHURN + "\"}");
        }
    }

    private void churnReplied(Conn c, ChurnUser u, long reqId, boolean error, String text) {
        long now = System.nanoTime();
        Ident id = u.ident;
        if (reqId % 2 == 1) {
            if (error) {
                truth.subscribeFailed(now);
            } else {
                synchronized (id) {
                    int k = (int) ((reqId + 1) / 2);
                    if (id.cycleOf[k % RING] == k) {
                        id.subscribeAcked[k % RING] = now;
                        if (measuring) {
                            subscribeToAck.recordValue(Math.max(0, (now - id.subscribeSent[k % RING]) / 1000));
                        }
                    }
                    id.subscribesAcked++;
                }
                truth.subscribed(now);
                u.present = true;
                changes.increment();
            }
            inFlight.decrementAndGet();
            after(c, error ? OFF_MS : HOLD_MS, () -> {
                if (u.present) {
                    leaveChurn(u);
                } else {
                    subscribeChurn(u);
                }
            });
        } else {
            truth.left(now);
            if (!error) {
                synchronized (id) {
                    id.leavesDone++;
                }
                changes.increment();
            }
            inFlight.decrementAndGet();
            after(c, OFF_MS, () -> subscribeChurn(u));
        }
    }

    private void churnClosed(ChurnUser u, String cause) {
        if (!u.closing && !u.reconnecting && !ended) {
            unexpectedCloses.increment();
            firstUnexpectedClose.compareAndSet(null, "churn user " + u.index + ": " + cause);
            return;
        }
        if (ended) {
            return; // closed at the end of the churn
        }
        if (u.reconnecting) {
            // the reconnection failed before welcome
            u.reconnecting = false;
            unexpectedCloses.increment();
            firstUnexpectedClose.compareAndSet(null, "churn user " + u.index + " reconnecting: " + cause);
            return;
        }
        long now = System.nanoTime();
        truth.left(now);
        synchronized (u.ident) {
            u.ident.leavesDone++;
        }
        changes.increment();
        inFlight.decrementAndGet();
        // reconnect as a new guest, which subscribes unless the churn stopped meanwhile
        wire.get()
                .schedule(
                        () -> {
                            if (stopping) {
                                return;
                            }
                            u.closing = false;
                            u.reconnecting = true;
                            u.conn = wire.get().open(u.index, u.server, u);
                        },
                        randomDelay(OFF_MS));
    }

    private void after(Conn c, int meanMs, Runnable task) {
        c.channel().eventLoop().schedule(task, randomDelay(meanMs), TimeUnit.MILLISECONDS);
    }

    private static long randomDelay(int meanMs) {
        return ThreadLocalRandom.current().nextLong(2L * meanMs + 1);
    }

    // ------------------------------------------------------------------------------------------------- storm

    private Map<String, Object> storm(LocalCluster cluster, WireClient client, Load load, List<Conn> obs)
            throws BenchmarkException {
        int n = o.stormUsers();
        int cap = o.eventsMax();
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("users", n);
        r.put("channel", BIG);
        r.put("eventsMax", cap);
        r.put(
                "reconnect",
                "to the other gateway, full jitter from " + BASE_DELAY_MS + " ms, at most " + MAX_ATTEMPTS
                        + " attempts, hello with resume, subscribe with presence and joinLeave");
        long eventsOver = 0;
        long wrong = 0;
        // fill: every user subscribes with presence and joinLeave
        long fillStart = System.nanoTime();
        long frames0 = framesToStormUsers.sum();
        long[] ev0 = bigEvents();
        List<Conn> users = load.connectAll(
                client, servers, n, 2 + o.users(), RunContext.CONNECT_CONCURRENCY, i -> new StormUser(i, i % 2), 120);
        FanOut.awaitCount(stormFillAcks, n, "subscribe acks of the storm's users", load);
        PresenceTruth.Settle filled = settle(obs, BIG, System.nanoTime(), n);
        long[] ev1 = bigEvents();
        long frames1 = framesToStormUsers.sum();
        Map<String, Object> fill = phase(ev0, ev1, frames1 - frames0, Math.min(n, cap), n);
        fill.put("ms", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - fillStart));
        fill.put("count", filled.result());
        // without the cap: join k reaches the k users present, and the observers
        fill.put("framesWithoutCap", (long) n * (n + 1) / 2 + (long) n * observers.length);
        eventsOver += (Long) fill.get("overBound");
        wrong += filled.wrong() ? 1 : 0;
        r.put("fill", fill);
        ctx.say(String.format(
                "  storm: %d users in %s; fill: observers got %s events (at most %d), users %d frames",
                n, BIG, fill.get("observerEvents"), Math.min(n, cap), frames1 - frames0));
        // drop: every connection reset at once; each resumes on the other gateway
        PresenceTruth constant = new PresenceTruth(System.nanoTime());
        constant.change(System.nanoTime(), n, n);
        PresenceTruth.Accuracy[] during = {
            new PresenceTruth.Accuracy(constant, 0), new PresenceTruth.Accuracy(constant, 0)
        };
        AtomicInteger samplingOn = new AtomicInteger(1);
        List<ScheduledFuture<?>> sampling = new ArrayList<>();
        for (int i = 0; i < obs.size(); i++) {
            Conn c = obs.get(i);
            PresenceTruth.Accuracy a = during[i];
            sampling.add(c.channel()
                    .eventLoop()
                    .scheduleAtFixedRate(
                            () -> {
                                if (samplingOn.get() == 1) {
                                    long sent = System.nanoTime();
                                    askCount(c, BIG, k -> a.record(sent, System.nanoTime(), k));
                                }
                            },
                            0,
                            100,
                            TimeUnit.MILLISECONDS));
        }
        Map<String, Duration> cpu1 = ctx.cpu(cluster);
        long[] machine1 = Results.machineTicks();
        long[] ev2 = bigEvents();
        long frames2 = framesToStormUsers.sum();
        stormDroppedAt = System.nanoTime();
        List<StormUser> all = users.stream().map(c -> (StormUser) c.attachment).toList();
        all.forEach(u -> u.dropped = true);
        users.forEach(Conn::cut);
        long deadline = stormDroppedAt + TimeUnit.SECONDS.toNanos(120);
        while (stormBack.sum() + stormGaveUp.get() < n && System.nanoTime() - deadline < 0) {
            RunContext.pause(Duration.ofMillis(20));
        }
        long backAt = lastStormBackAt.get();
        PresenceTruth.Settle after = settle(obs, BIG, backAt, n);
        samplingOn.set(0);
        sampling.forEach(f -> f.cancel(false));
        long settledAt = System.nanoTime();
        Map<String, Duration> cpu2 = ctx.cpu(cluster);
        long[] machine2 = Results.machineTicks();
        long[] ev3 = bigEvents();
        long frames3 = framesToStormUsers.sum();
        // each user not resumed is a new guest (a join) and its old self leaves after the grace (a leave)
        int fresh = stormNotResumed.get() + stormGaveUp.get();
        Map<String, Object> drop = phase(ev2, ev3, frames3 - frames2, 2L * Math.min(fresh, cap), n);
        drop.put("expectedObserverEvents", n > cap ? 0 : 2L * fresh);
        drop.put("back", stormBack.sum());
        drop.put("resumed", stormBack.sum() - stormNotResumed.get());
        drop.put("notResumed", stormNotResumed.get());
        drop.put("gaveUp", stormGaveUp.get());
        drop.put(
                "allBackAfterMs", stormBack.sum() == n ? TimeUnit.NANOSECONDS.toMillis(backAt - stormDroppedAt) : null);
        Map<String, Object> counts = new LinkedHashMap<>();
        for (int i = 0; i < during.length; i++) {
            counts.put("instance" + (i + 1), during[i].result());
        }
        drop.put("countsWhileReconnecting", counts);
        drop.put("count", after.result());
        drop.put("cpuCoresUsed", Results.cores(cpu1, cpu2, machine1, machine2, (settledAt - stormDroppedAt) / 1e9));
        eventsOver += (Long) drop.get("overBound");
        wrong += after.wrong() ? 1 : 0;
        r.put("drop", drop);
        ctx.say(String.format(
                "  storm: %d of %d back (%d not resumed) %s ms after the drop; observers got %s events;"
                        + " count exact after %s ms",
                stormBack.sum(),
                n,
                stormNotResumed.get(),
                drop.get("allBackAfterMs"),
                drop.get("observerEvents"),
                after.result().get("allExactAfterMs")));
        // close: every user closes normally and leaves
        long[] ev4 = bigEvents();
        long frames4 = framesToStormUsers.sum();
        load.expectCloses = true;
        long closedAt = System.nanoTime();
        for (StormUser u : all) {
            u.closing = true;
            Conn c = u.current;
            if (c != null) {
                c.closeGracefully();
            }
        }
        PresenceTruth.Settle gone = settle(obs, BIG, closedAt, 0, o.closeWait());
        RunContext.pause(Duration.ofMillis(200));
        long[] ev5 = bigEvents();
        Map<String, Object> close = phase(ev4, ev5, framesToStormUsers.sum() - frames4, Math.min(n, cap), n);
        close.put("count", gone.result());
        r.put("close", close);
        eventsOver += (Long) close.get("overBound");
        r.put("eventsOverBound", eventsOver);
        // a user who resumed and then closed normally leaves at once (protocol section 10)
        r.put("wrongFinalCounts", wrong + (gone.wrong() ? 1 : 0));
        ctx.say(String.format(
                "  storm: all closed; count 0 after %s ms (waited at most %d ms); observers got %s events",
                gone.result().get("allExactAfterMs"), o.closeWait().toMillis(), close.get("observerEvents")));
        load.expectCloses = false;
        return r;
    }

    private long[] bigEvents() {
        long[] e = new long[observers.length];
        for (int i = 0; i < e.length; i++) {
            e[i] = observers[i].bigEvents();
        }
        return e;
    }

    /**
     * One phase of the storm: the join and leave frames each observer received (at most {@code bound} each) and the
     * users received (at most {@code bound} times the connections that hold joinLeave).
     */
    private Map<String, Object> phase(long[] before, long[] after, long framesToUsers, long bound, int n) {
        Map<String, Object> p = new LinkedHashMap<>();
        List<Long> got = new ArrayList<>();
        long over = 0;
        for (int i = 0; i < before.length; i++) {
            long e = after[i] - before[i];
            got.add(e);
            over += Math.max(0, e - bound);
        }
        long usersBound = bound * n;
        over += Math.max(0, framesToUsers - usersBound);
        p.put("observerEvents", got);
        p.put("observerBound", bound);
        p.put("framesToUsers", framesToUsers);
        p.put("usersBound", usersBound);
        p.put("overBound", over);
        return p;
    }

    // ------------------------------------------------------------------------------------------------- counts

    private void askCount(Conn c, String channel, LongConsumer onCount) {
        long id = requestIds.incrementAndGet();
        pending.put(id, new Pending(System.nanoTime(), onCount));
        c.send("{\"type\":\"presence.count\",\"id\":" + id + ",\"channel\":\"" + channel + "\"}");
    }

    private PresenceTruth.Settle settle(List<Conn> obs, String channel, long quietAt, long expected)
            throws BenchmarkException {
        return settle(obs, channel, quietAt, expected, SETTLE_DEADLINE);
    }

    /**
     * Asks both gateways the count of {@code channel} every 50 ms until both answered {@code expected} and a
     * request sent {@link #PROMISE} after {@code quietAt} was answered, or for {@code deadline}.
     */
    private PresenceTruth.Settle settle(List<Conn> obs, String channel, long quietAt, long expected, Duration deadline)
            throws BenchmarkException {
        PresenceTruth.Settle s = new PresenceTruth.Settle(obs.size(), quietAt, PROMISE.toNanos(), expected);
        long end = System.nanoTime() + deadline.toNanos();
        while (System.nanoTime() - end < 0) {
            LongAdder answered = new LongAdder();
            for (int i = 0; i < obs.size(); i++) {
                int instance = i;
                long sent = System.nanoTime();
                askCount(obs.get(i), channel, k -> {
                    s.answer(instance, sent, System.nanoTime(), k);
                    answered.increment();
                });
            }
            long wait = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (answered.sum() < obs.size() && System.nanoTime() - wait < 0) {
                RunContext.pause(Duration.ofMillis(2));
            }
            if (s.settled()) {
                return s;
            }
            RunContext.pause(Duration.ofMillis(50));
        }
        return s;
    }

    /**
     * The users {@code presence} lists on each gateway against those present ({@code present}): a user listed who
     * is not present is a ghost, one present and not listed (when the list is whole) is missing.
     */
    private Map<String, Object> roster(List<Conn> obs, String channel, Set<String> present) throws BenchmarkException {
        Map<String, Object> r = new LinkedHashMap<>();
        LongAdder answered = new LongAdder();
        List<String> answers = new ArrayList<>();
        for (Conn c : obs) {
            long id = requestIds.incrementAndGet();
            rosters.put(id, text -> {
                synchronized (answers) {
                    answers.add(text);
                }
                answered.increment();
            });
            pending.put(id, new Pending(System.nanoTime(), k -> {}));
            c.send("{\"type\":\"presence\",\"id\":" + id + ",\"channel\":\"" + channel + "\"}");
        }
        FanOut.awaitCount(answered, obs.size(), "presence answers", new Load());
        long wrong = 0;
        int i = 1;
        synchronized (answers) {
            for (String a : answers) {
                JsonNode j = Storm.parse(a);
                Map<String, Object> one = new LinkedHashMap<>();
                Set<String> listed = new HashSet<>();
                j.path("users").forEach(u -> listed.add(u.path("user").asText()));
                boolean truncated = j.path("truncated").asBoolean();
                long ghosts = listed.stream().filter(u -> !present.contains(u)).count();
                long missing = truncated
                        ? 0
                        : present.stream().filter(u -> !listed.contains(u)).count();
                one.put("count", j.path("count").asLong());
                one.put("listed", listed.size());
                one.put("truncated", truncated);
                one.put("ghosts", ghosts);
                one.put("missing", missing);
                if (ghosts > 0 || missing > 0 || j.path("count").asLong() != present.size()) {
                    wrong++;
                }
                r.put("answer" + i++, one);
            }
        }
        r.put("expected", present.size());
        r.put("wrong", wrong);
        return r;
    }

    /**
     * {@code match.stats} on each gateway until both say {@code online} users (every connection is a guest of its
     * own), for at most 5 s: the figures are at most 2 s old, read by the presence tick every second (so an answer
     * also shows the tick runs).
     */
    private Map<String, Object> matchStats(List<Conn> obs, long online) throws BenchmarkException {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("expectedOnline", online);
        long start = System.nanoTime();
        long end = start + TimeUnit.SECONDS.toNanos(5);
        long[] last = new long[obs.size()];
        while (true) {
            LongAdder answered = new LongAdder();
            for (int i = 0; i < obs.size(); i++) {
                int instance = i;
                last[i] = -1;
                long id = requestIds.incrementAndGet();
                rosters.put(id, text -> {
                    last[instance] = Storm.parse(text).path("online").asLong(-1);
                    answered.increment();
                });
                pending.put(id, new Pending(System.nanoTime(), k -> {}));
                obs.get(i).send("{\"type\":\"match.stats\",\"id\":" + id + "}");
            }
            long wait = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (answered.sum() < obs.size() && System.nanoTime() - wait < 0) {
                RunContext.pause(Duration.ofMillis(5));
            }
            boolean all = true;
            for (long l : last) {
                all &= l == online;
            }
            if (all || System.nanoTime() - end > 0) {
                List<Long> got = new ArrayList<>();
                for (long l : last) {
                    got.add(l);
                }
                r.put("online", got);
                r.put("exact", all);
                r.put("afterMs", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
                return r;
            }
            RunContext.pause(Duration.ofMillis(100));
        }
    }

    private final Map<Long, java.util.function.Consumer<String>> rosters = new ConcurrentHashMap<>();

    // ------------------------------------------------------------------------------------------------- listener

    private Load load() {
        return new Load() {
            @Override
            public String hello(Conn c) {
                if (c.attachment instanceof StormUser u && u.resume != null) {
                    return "{\"type\":\"hello\",\"v\":1,\"client\":\"switchboard-bench\",\"resume\":\"" + u.resume
                            + "\",\"inboxSince\":{\"offset\":" + u.inboxOffset + ",\"epoch\":\"" + u.inboxEpoch
                            + "\"}}";
                }
                return super.hello(c);
            }

            @Override
            void onReady(Conn c, String text) {
                if (c.attachment instanceof ChurnUser u) {
                    JsonNode w = Storm.parse(text);
                    Ident id = new Ident(w.path("user").asText(), u.instance);
                    idents.put(id.user, id);
                    u.ident = id;
                    u.conn = c;
                    u.reconnecting = false;
                    subscribeChurn(u);
                } else if (c.attachment instanceof StormUser u) {
                    JsonNode w = Storm.parse(text);
                    boolean again = u.resume != null;
                    u.resume = w.path("resume").asText();
                    u.inboxOffset = w.path("inbox").path("offset").asLong();
                    u.inboxEpoch = w.path("inbox").path("epoch").asText();
                    u.current = c;
                    if (again && !w.path("resumed").asBoolean()) {
                        stormNotResumed.incrementAndGet();
                    }
                    u.resumed = again && w.path("resumed").asBoolean();
                    c.send("{\"type\":\"subscribe\",\"id\":" + (again ? 2 : 1) + ",\"channel\":\"" + BIG
                            + "\",\"presence\":true,\"joinLeave\":true}");
                }
            }

            @Override
            public void replied(Conn c, long id, boolean error, String text) {
                Object a = c.attachment;
                if (id == -1) {
                    event(a, text);
                    return;
                }
                if (error && text.contains("\"code\":\"unavailable\"")) {
                    // back-pressure (a dependency slow or away): a legitimate answer, counted apart
                    (a instanceof Observer ? countsUnavailable : subscribesUnavailable).increment();
                    if (a instanceof Observer) {
                        pending.remove(id);
                        rosters.remove(id);
                        return;
                    }
                } else {
                    super.replied(c, id, error, text);
                }
                if (a instanceof Observer) {
                    Pending p = pending.remove(id);
                    if (p == null) {
                        if (!error) {
                            observerAcks.increment();
                        }
                        return;
                    }
                    java.util.function.Consumer<String> roster = rosters.remove(id);
                    if (roster != null) {
                        roster.accept(text);
                    } else if (!error) {
                        p.onCount().accept(Storm.parse(text).path("count").asLong());
                    }
                } else if (a instanceof ChurnUser u) {
                    churnReplied(c, u, id, error, text);
                } else if (a instanceof StormUser && error) {
                    if (text.contains("\"code\":\"unavailable\"")) {
                        long retry = Storm.parse(text).path("retryAfter").asLong(1000);
                        String again = "{\"type\":\"subscribe\",\"id\":" + id + ",\"channel\":\"" + BIG
                                + "\",\"presence\":true,\"joinLeave\":true}";
                        wire.get().schedule(() -> c.send(again), retry);
                    }
                } else if (a instanceof StormUser u) {
                    if (id == 1) {
                        stormFillAcks.increment();
                    } else {
                        u.back = true;
                        lastStormBackAt.accumulateAndGet(System.nanoTime(), Math::max);
                        stormBack.increment();
                    }
                }
            }

            @Override
            void onClosed(Conn c, boolean wasReady, String cause) {
                if (c.attachment instanceof ChurnUser u) {
                    churnClosed(u, cause);
                } else if (c.attachment instanceof StormUser u) {
                    if (u.closing) {
                        return;
                    }
                    if (!u.dropped || u.back) {
                        unexpectedCloses.increment();
                        firstUnexpectedClose.compareAndSet(null, "storm user " + u.index + ": " + cause);
                        return;
                    }
                    int attempt = u.attempts.incrementAndGet();
                    if (attempt > MAX_ATTEMPTS) {
                        stormGaveUp.incrementAndGet();
                        return;
                    }
                    if (attempt == 1) {
                        u.instance = 1 - u.instance;
                    }
                    long bound = Math.min(MAX_DELAY_MS, BASE_DELAY_MS << Math.min(20, attempt - 1));
                    long delay = ThreadLocalRandom.current().nextLong(bound + 1);
                    URI to = servers.get(u.instance);
                    wire.get().schedule(() -> u.current = wire.get().open(u.index, to, u), delay);
                } else if (c.attachment instanceof Observer ob) {
                    unexpectedCloses.increment();
                    firstUnexpectedClose.compareAndSet(null, "observer " + (ob.instance + 1) + ": " + cause);
                }
            }
        };
    }

    /** A frame without an id: a join or a leave. */
    private void event(Object a, String text) {
        boolean join = text.startsWith("{\"type\":\"join\"");
        boolean leave = text.startsWith("{\"type\":\"leave\"");
        if (!join && !leave) {
            return;
        }
        if (a instanceof StormUser) {
            framesToStormUsers.increment();
            return;
        }
        if (!(a instanceof Observer ob)) {
            unmatchedEvents.increment(); // a churn user holds no joinLeave
            return;
        }
        long now = System.nanoTime();
        JsonNode e = Storm.parse(text);
        String channel = e.path("channel").asText();
        if (channel.equals(BIG)) {
            (join ? ob.bigJoins : ob.bigLeaves).increment();
            return;
        }
        (join ? ob.churnJoins : ob.churnLeaves).increment();
        Ident id = idents.get(e.path("user").asText());
        if (id == null) {
            unmatchedEvents.increment();
            return;
        }
        synchronized (id) {
            int k = join ? ++id.joinsSeen[ob.instance] : ++id.leavesSeen[ob.instance];
            int slot = k % RING;
            if (id.cycleOf[slot] != k) {
                unmatchedEvents.increment();
                return;
            }
            if (!measuring || id.instance == ob.instance) {
                return;
            }
            if (join) {
                long acked = id.subscribeAcked[slot];
                if (acked == 0) {
                    joinsBeforeAck.increment();
                }
                ackToJoinOther.recordValue(acked == 0 ? 0 : Math.max(0, (now - acked) / 1000));
                subscribeToJoinOther.recordValue(Math.max(0, (now - id.subscribeSent[slot]) / 1000));
            } else if (id.leaveSent[slot] != 0) {
                leaveToLeaveOther.recordValue(Math.max(0, (now - id.leaveSent[slot]) / 1000));
            }
        }
    }
}
