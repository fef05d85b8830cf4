package io.switchboard.matchmaking;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.function.LongSupplier;
import reactor.core.publisher.Mono;

/**
 * The cluster mode's matchmaker: the queue, the matches, recent partners, blocks and instance leases live in
 * Redis, and every operation is one atomic Lua script ({@code matchmaker.lua}), so two instances can never
 * hand out the same waiting user. All keys share the hash tag {@code {mm}}: on a Redis Cluster they sit in one
 * slot. A user's keys ({@code u:}, {@code r:}, {@code b:}, {@code l:}) are deleted by the sweep once it is gone;
 * an instance's connected users are listed under {@code on:<node>}, so that the users of a dead instance go too.
 * Pairings and endings wait under {@code ann} and {@code annd} until {@link #announced}, since the reply that
 * carries them can be lost after the script ran (a command timeout on a loaded machine).
 */
public final class RedisMatchmaker implements Matchmaker {
    /** The prefix (and hash tag) of every key. */
    public static final String KEY = "mm:{mm}";

    private static final String SCRIPT = load();
    private static final String SHA = sha1(SCRIPT);
    private static final char[] ALPHABET =
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".toCharArray();

    private final LuaRunner redis;
    private final MatchmakerSettings settings;
    private final LongSupplier clock;
    private final SecureRandom random = new SecureRandom();

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

    private Mono<Outcome> call(String op, String... args) {
        List<String> argv = new ArrayList<>(12 + args.length);
        argv.add(op);
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
        argv.addAll(Arrays.asList(args));
        return redis.run(SCRIPT, SHA, new String[] {KEY}, argv.toArray(String[]::new))
                .map(RedisMatchmaker::parse);
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
