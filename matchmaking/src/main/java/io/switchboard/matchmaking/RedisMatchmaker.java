package io.switchboard.matchmaking;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import reactor.core.publisher.Mono;
import reactor.core.publisher.MonoSink;

/**
 * The cluster mode's matchmaker: the queue, the matches, recent partners, blocks and instance leases live in
 * Redis, and every operation is one atomic Lua script ({@code matchmaker.lua}), so two instances can never
 * hand out the same waiting user. All keys share the hash tag {@code {mm}}: on a Redis Cluster they sit in one
 * slot. A user's keys ({@code u:}, {@code r:}, {@code b:}, {@code l:}) are deleted by the sweep once it is gone;
 * an instance's connected users are listed under {@code on:<node>}, so that the users of a dead instance go too.
 * Pairings and endings wait under {@code ann} and {@code annd} until {@link #announced}, since the reply that
 * carries them can be lost after the script ran (a command timeout on a loaded machine).
 *
 * <p>Operations are batched: one script call is in flight at a time per instance, and the operations that arrive
 * meanwhile (at most {@link #MAX_WAITING}) go together in the next call, at most {@link #MAX_BATCH} of them, in
 * the order they came. The script runs them one after the other exactly as separate calls would run, so a batch of
 * joins pairs its users with each other and with those already waiting, the longest-waiting first; under load
 * many users are paired per round trip, and with no load an operation goes out at once, alone. A call that fails
 * (Redis down, a timeout, a failover) fails every operation in it, as each would have failed alone: the script
 * either ran whole or not at all, and what it paired but could not report is announced again
 * ({@link #unannounced}).
 */
public final class RedisMatchmaker implements Matchmaker {
    /** The prefix (and hash tag) of every key. */
    public static final String KEY = "mm:{mm}";

    private static final String SCRIPT = load();
    private static final String SHA = sha1(SCRIPT);
    private static final char[] ALPHABET =
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".toCharArray();

    /**
     * The most operations one script call carries: it bounds how long one call holds Redis (each operation is
     * bounded by {@link MatchmakerSettings#scanLimit}) and the size of its command and reply.
     */
    public static final int MAX_BATCH = 64;
    /**
     * The most operations waiting on this instance for the call in flight to end; one more fails at once with
     * {@link MatchmakerBusyException} instead of piling up behind a slow or absent Redis.
     */
    public static final int MAX_WAITING = 4_096;

    private final LuaRunner redis;
    private final MatchmakerSettings settings;
    private final LongSupplier clock;
    private final SecureRandom random = new SecureRandom();
    /** Guards {@link #waiting} and {@link #inFlight}. */
    private final Object lock = new Object();

    private final ArrayDeque<Op> waiting = new ArrayDeque<>();
    private boolean inFlight;
    /** Serializes {@link #drain}: whoever raises it from zero sends, the others leave the work to it. */
    private final AtomicInteger draining = new AtomicInteger();

    /** @param clock wall-clock milliseconds; instances' clocks should agree within a fraction of a second */
    public RedisMatchmaker(LuaRunner redis, MatchmakerSettings settings, LongSupplier clock) {
        this.redis = redis;
        this.settings = settings;
        this.clock = clock;
    }

    private static String load() {
        try (InputStream in = RedisMatchmaker.class.getResourceAsStream("matchmaker.lua")) {
            if (in == null) {
                throw new IllegalStateException("matchmaker.lua is missing from the classpath");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String sha1(String text) {
        try {
            return HexFormat.of()
                    .formatHex(MessageDigest.getInstance("SHA-1").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One operation waiting for its script call. */
    private static final class Op {
        final String name;
        final String[] args;
        final MonoSink<Outcome> sink;
        volatile boolean cancelled;

        Op(String name, String[] args, MonoSink<Outcome> sink) {
            this.name = name;
            this.args = args;
            this.sink = sink;
        }
    }

    private Mono<Outcome> call(String op, String... args) {
        return Mono.create(sink -> {
            Op o = new Op(op, args, sink);
            sink.onCancel(() -> o.cancelled = true);
            boolean full;
            synchronized (lock) {
                full = waiting.size() >= MAX_WAITING;
                if (!full) {
                    waiting.add(o);
                }
            }
            if (full) {
                sink.error(new MatchmakerBusyException("random connect: " + MAX_WAITING
                        + " operations already wait for Redis on this instance (RedisMatchmaker.MAX_WAITING)"));
            } else {
                drain();
            }
        });
    }

    /** Sends the next batch unless a call is in flight; loops rather than recursing when a call ends at once. */
    private void drain() {
        if (draining.getAndIncrement() != 0) {
            return;
        }
        do {
            List<Op> batch = take();
            if (batch != null) {
                send(batch);
            }
        } while (draining.decrementAndGet() != 0);
    }

    private List<Op> take() {
        synchronized (lock) {
            if (inFlight) {
                return null;
            }
            List<Op> batch = new ArrayList<>(Math.min(waiting.size(), MAX_BATCH));
            while (batch.size() < MAX_BATCH && !waiting.isEmpty()) {
                Op o = waiting.poll();
                if (!o.cancelled) {
                    batch.add(o);
                }
            }
            if (batch.isEmpty()) {
                return null;
            }
            inFlight = true;
            return batch;
        }
    }

    private void send(List<Op> batch) {
        List<String> argv = new ArrayList<>(12 + 4 * batch.size());
        argv.add("batch");
        argv.add(Long.toString(clock.getAsLong()));
        argv.add(Long.toString(settings.interestWaitMs()));
        argv.add(Integer.toString(settings.avoidRecent()));
        argv.add(Long.toString(settings.resumeGraceMs()));
        argv.add(Long.toString(settings.nodeLeaseMs()));
        argv.add(Integer.toString(settings.scanLimit()));
        argv.add("m_" + randomId() + "_");
        argv.add(Integer.toString(settings.maxBlocks()));
        argv.add(Long.toString(settings.announceTimeoutMs()));
        argv.add(Integer.toString(MatchmakerSettings.ANNOUNCE_ATTEMPTS));
        argv.add(Integer.toString(MatchmakerSettings.ANNOUNCE_BATCH));
        for (Op o : batch) {
            argv.add(o.name);
            argv.add(Integer.toString(o.args.length));
            argv.addAll(Arrays.asList(o.args));
        }
        Mono<List<Object>> reply;
        try {
            reply = redis.run(SCRIPT, SHA, new String[] {KEY}, argv.toArray(String[]::new));
        } catch (RuntimeException e) {
            reply = Mono.error(e);
        }
        reply.switchIfEmpty(Mono.error(() -> new IllegalStateException("matchmaker.lua gave no reply")))
                .subscribe(r -> answered(batch, r, null), e -> answered(batch, null, e));
    }

    /** The call of {@code batch} ended: the next one may go, and each operation gets its reply or the failure. */
    private void answered(List<Op> batch, List<Object> replies, Throwable failure) {
        synchronized (lock) {
            inFlight = false;
        }
        for (int i = 0; i < batch.size(); i++) {
            MonoSink<Outcome> sink = batch.get(i).sink;
            if (failure != null) {
                sink.error(failure);
                continue;
            }
            try {
                @SuppressWarnings("unchecked")
                List<Object> r = (List<Object>) replies.get(i);
                if ("!".equals(r.get(0))) {
                    sink.error(new IllegalStateException(
                            "matchmaker.lua failed in operation " + batch.get(i).name + ": " + r.get(1)));
                } else {
                    sink.success(parse(r));
                }
            } catch (RuntimeException e) {
                sink.error(e);
            }
        }
        drain();
    }

    static Outcome parse(List<Object> r) {
        int i = 0;
        String status = (String) r.get(i++);
        String partner = blankToNull((String) r.get(i++));
        String match = blankToNull((String) r.get(i++));
        long endedCount = (Long) r.get(i++);
        List<Ended> ended = new ArrayList<>();
        for (long e = 0; e < endedCount; e++) {
            ended.add(new Ended(
                    (String) r.get(i++), (String) r.get(i++), blankToNull((String) r.get(i++)), (String) r.get(i++)));
        }
        long pairingCount = (Long) r.get(i++);
        List<Pairing> pairings = new ArrayList<>();
        for (long p = 0; p < pairingCount; p++) {
            String id = (String) r.get(i++);
            String initiator = (String) r.get(i++);
            String other = (String) r.get(i++);
            String shared = (String) r.get(i++);
            long waitedI = (Long) r.get(i++);
            long waitedO = (Long) r.get(i++);
            pairings.add(new Pairing(
                    id,
                    initiator,
                    other,
                    shared.isEmpty() ? List.of() : Arrays.asList(shared.split("\n")),
                    waitedI,
                    waitedO));
        }
        return new Outcome(status, ended, pairings, partner, match);
    }

    private static String blankToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    @Override
    public Mono<Outcome> join(String user, String session, String node, List<String> interests) {
        return call("join", user, session, node, String.join("\n", interests));
    }

    @Override
    public Mono<Outcome> next(String user, String session, String node) {
        return call("next", user, session, node);
    }

    @Override
    public Mono<Outcome> leave(String user) {
        return call("leave", user);
    }

    @Override
    public Mono<Outcome> partnerOf(String user, String match) {
        return call("partner", user, match);
    }

    @Override
    public Mono<Outcome> block(String user, String other) {
        return call("block", user, other);
    }

    @Override
    public Mono<Outcome> restoreBlock(String user, String other) {
        return call("restore", user, other);
    }

    @Override
    public Mono<Outcome> dropped(String user, String session) {
        return call("dropped", user, session);
    }

    @Override
    public Mono<Outcome> returned(String user, String session, String node) {
        return call("returned", user, session, node);
    }

    @Override
    public Mono<Outcome> expire(String user, String session) {
        return call("expire", user, session);
    }

    @Override
    public Mono<Outcome> sweep() {
        return call("sweep");
    }

    @Override
    public Mono<Void> announced(Outcome outcome) {
        List<String> ids = new ArrayList<>();
        outcome.pairings().forEach(p -> ids.add("f:" + p.match()));
        outcome.ended().forEach(e -> ids.add("e:" + e.match()));
        return ids.isEmpty()
                ? Mono.empty()
                : call("announced", ids.toArray(String[]::new)).then();
    }

    @Override
    public Mono<Outcome> unannounced() {
        return call("unannounced");
    }

    @Override
    public Mono<Void> renewLease(String node) {
        return call("renew", node).then();
    }

    @Override
    public Mono<Long> queueLength() {
        return call("length").map(o -> Long.parseLong(o.status()));
    }

    @Override
    public void close() {}

    private String randomId() {
        char[] c = new char[8];
        for (int i = 0; i < c.length; i++) {
            c[i] = ALPHABET[random.nextInt(ALPHABET.length)];
        }
        return new String(c);
    }
}
