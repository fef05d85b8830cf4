package io.switchboard.gateway.cluster;

import io.switchboard.gateway.presence.PresenceStore;
import io.switchboard.protocol.ServerFrame;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The cluster mode's presence, in Redis. Each channel's presence sits in its slot (hash tag {@code {channel}}):
 * {@code :pu} maps each present user to its info (its length is the count), {@code :ph} maps each holder
 * ({@code user connection}) to the instance that holds it, {@code :pc} counts each user's holders, {@code :pl}
 * lists each user's lingering holders (of dropped connections, which its next holder replaces). A script
 * changes them together and publishes the {@code join} or {@code leave} on {@link #EVENTS} (classic pub/sub, so
 * it reaches every instance, in a Redis Cluster too).
 *
 * <p>Each instance writes its holders as an <em>incarnation</em> ({@code node#n}), with an index of them
 * ({@code sb:pi:{incarnation}}) and a lease in {@code sb:{presence}:nodes}, renewed by every {@link #tick} from
 * Redis's own clock. A tick also removes, holder by holder, the index of any incarnation whose lease ran out, so a
 * dead instance's users leave within the lease and a tick. An instance whose lease the store no longer has (Redis
 * lost its data, or the instance was away longer than the lease and was removed) starts a new incarnation and
 * writes all its holders again; a holder written again takes the new incarnation, so that the removal of the old
 * one, if still running, leaves it alone.
 */
public final class RedisPresence implements PresenceStore {
    private static final Logger log = LoggerFactory.getLogger(RedisPresence.class);
    /** The pub/sub channel of every join and leave: {@code j channel user info} or {@code l channel user}. */
    static final String EVENTS = RedisKeys.PREFIX + "presence";

    static final String NODES = RedisKeys.PREFIX + "{presence}:nodes";
    static final String FIGURES = RedisKeys.PREFIX + "{presence}:figures";
    /** Holders removed from a dead incarnation's index per round. */
    static final int REAP_BATCH = 500;
    /** Holders looked at (and removed) at once while pruning. */
    static final int REBUILD_CONCURRENCY = 64;

    /**
     * Adds a holder, taking the place of the user's lingering ones (KEYS[4]); a user not present before publishes
     * the join when the channel has at most ARGV[5] users. A holder added again takes incarnation ARGV[3].
     */
    private static final RedisScript ADD = new RedisScript("""
            local h = ARGV[1] .. ' ' .. ARGV[2]
            local present = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
            local lingering = redis.call('HGET', KEYS[4], ARGV[1])
            if lingering and not redis.call('HGET', KEYS[2], h) then
              for c in string.gmatch(lingering, '%S+') do
                if redis.call('HDEL', KEYS[2], ARGV[1] .. ' ' .. c) == 1 then
                  redis.call('HINCRBY', KEYS[3], ARGV[1], -1)
                end
              end
              redis.call('HDEL', KEYS[4], ARGV[1])
            end
            if redis.call('HSET', KEYS[2], h, ARGV[3]) == 1 then
              redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
            end
            if present then return {0} end
            redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
            if redis.call('HLEN', KEYS[1]) <= tonumber(ARGV[5]) then
              redis.call('PUBLISH', ARGV[6], 'j ' .. ARGV[7] .. ' ' .. ARGV[1] .. ' ' .. ARGV[4])
            end
            return {1}
            """);
    /**
     * Marks a holder lingering: the user's next holder in the channel takes its place. When the user already has
     * another holder there (its resumed connection subscribed before this drop was told), the lingering one goes
     * at once, with no leave: either order of the two ends the same.
     */
    private static final RedisScript LINGER = new RedisScript("""
            local h = ARGV[1] .. ' ' .. ARGV[2]
            if not redis.call('HGET', KEYS[2], h) then return {0} end
            local lingering = redis.call('HGET', KEYS[4], ARGV[1])
            local count = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
            local others = count - 1
            if lingering then
              for c in string.gmatch(lingering, '%S+') do
                if c == ARGV[2] then return {0} end
                others = others - 1
              end
            end
            if others > 0 then
              redis.call('HDEL', KEYS[2], h)
              redis.call('HINCRBY', KEYS[3], ARGV[1], -1)
              return {2}
            end
            if lingering then
              redis.call('HSET', KEYS[4], ARGV[1], lingering .. ' ' .. ARGV[2])
            else
              redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
            end
            return {1}
            """);
    /**
     * Removes a holder (only the incarnation ARGV[3]'s, when given); a user's last publishes the leave when the
     * channel had at most ARGV[4] users.
     */
    private static final RedisScript REMOVE = new RedisScript("""
            local h = ARGV[1] .. ' ' .. ARGV[2]
            local owner = redis.call('HGET', KEYS[2], h)
            if not owner or (ARGV[3] ~= '' and owner ~= ARGV[3]) then return {0} end
            redis.call('HDEL', KEYS[2], h)
            local lingering = redis.call('HGET', KEYS[4], ARGV[1])
            if lingering then
              local rest = {}
              for c in string.gmatch(lingering, '%S+') do
                if c ~= ARGV[2] then rest[#rest + 1] = c end
              end
              if #rest == 0 then redis.call('HDEL', KEYS[4], ARGV[1])
              else redis.call('HSET', KEYS[4], ARGV[1], table.concat(rest, ' ')) end
            end
            if redis.call('HINCRBY', KEYS[3], ARGV[1], -1) > 0 then return {0} end
            redis.call('HDEL', KEYS[3], ARGV[1])
            redis.call('HDEL', KEYS[4], ARGV[1])
            local n = redis.call('HLEN', KEYS[1])
            redis.call('HDEL', KEYS[1], ARGV[1])
            if n <= tonumber(ARGV[4]) then
              redis.call('PUBLISH', ARGV[5], 'l ' .. ARGV[6] .. ' ' .. ARGV[1])
            end
            return {1}
            """);
    /** The count and at most ARGV[1] users with their info (all of them when they fit). */
    private static final RedisScript LIST = new RedisScript("""
            local n = redis.call('HLEN', KEYS[1])
            if n <= tonumber(ARGV[1]) then return {n, redis.call('HGETALL', KEYS[1])} end
            return {n, redis.call('HRANDFIELD', KEYS[1], tonumber(ARGV[1]), 'WITHVALUES')}
            """);
    /**
     * Renews the lease of incarnation ARGV[1] for ARGV[2] ms on Redis's clock and records its figures (ARGV[3],
     * ARGV[4]); with ARGV[5] = 1 only when the lease is still there, else {-1}. Returns the figures summed over
     * the live incarnations, then up to 10 incarnations whose lease ran out.
     */
    private static final RedisScript TICK = new RedisScript("""
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            if ARGV[5] == '1' then
              local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
              if not s or tonumber(s) < now then return {-1} end
            end
            redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
            redis.call('HSET', KEYS[2], ARGV[1], ARGV[3] .. ' ' .. ARGV[4])
            local online, present = 0, 0
            for _, n in ipairs(redis.call('ZRANGE', KEYS[1], now, '+inf', 'BYSCORE')) do
              local v = redis.call('HGET', KEYS[2], n)
              if v then
                local sp = string.find(v, ' ')
                online = online + tonumber(string.sub(v, 1, sp - 1))
                present = present + tonumber(string.sub(v, sp + 1))
              end
            end
            local out = {online, present}
            for _, n in ipairs(redis.call('ZRANGE', KEYS[1], '-inf', '(' .. now, 'BYSCORE', 'LIMIT', 0, 10)) do
              out[#out + 1] = n
            end
            return out
            """);
    /**
     * Gives incarnation ARGV[1] a lease of ARGV[2] ms unless it has one: written before its first holder, so that
     * no holder is ever written under an incarnation that others could not see die.
     */
    private static final RedisScript LEASE_FIRST = new RedisScript("""
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            redis.call('ZADD', KEYS[1], 'NX', now + tonumber(ARGV[2]), ARGV[1])
            return {1}
            """);
    /** Forgets a dead incarnation once its index is empty, unless it renewed its lease meanwhile. */
    private static final RedisScript FORGET = new RedisScript("""
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
            if s and tonumber(s) < now then
              redis.call('ZREM', KEYS[1], ARGV[1])
              redis.call('HDEL', KEYS[2], ARGV[1])
            end
            return {1}
            """);

    private final RedisConnections redis;
    private final String node;
    private final long leaseMs;
    private final int eventsMax;
    private final List<Consumer<ServerFrame>> listeners = new CopyOnWriteArrayList<>();
    private volatile int generation = 1;
    /**
     * Whether the current incarnation's lease was written (by its first holder or a tick): from then on a tick
     * that finds it gone knows the store lost it.
     */
    private volatile boolean leaseWritten;

    public RedisPresence(RedisConnections redis, String node, long leaseMs, int eventsMax) {
        this.redis = redis;
        this.node = node;
        this.leaseMs = leaseMs;
        this.eventsMax = eventsMax;
        redis.onMessage(this::onMessage);
        redis.onUp(() -> subscribeEvents().subscribe(null, e -> {}));
    }

    private Mono<Void> subscribeEvents() {
        return Mono.fromCompletionStage(() -> redis.subscribeControl(EVENTS));
    }

    /** This instance's current incarnation: the name its holders are written under. */
    String incarnation() {
        return node + "#" + generation;
    }

    static String[] channelKeys(String channel) {
        String tag = RedisKeys.PREFIX + "{" + channel + "}";
        return new String[] {tag + ":pu", tag + ":ph", tag + ":pc", tag + ":pl"};
    }

    static String indexKey(String incarnation) {
        return RedisKeys.PREFIX + "pi:{" + incarnation + "}";
    }

    private static String entry(String channel, String user, String connection) {
        return channel + ' ' + user + ' ' + connection;
    }

    /** The current incarnation has a lease: written once, before its first holder. */
    private Mono<Void> leaseWritten(String inc) {
        if (leaseWritten) {
            return Mono.empty();
        }
        return LEASE_FIRST
                .<List<Object>>run(redis, new String[] {NODES}, inc, Long.toString(leaseMs))
                .doOnSuccess(r -> {
                    if (inc.equals(incarnation())) {
                        leaseWritten = true;
                    }
                })
                .then();
    }

    @Override
    public Mono<Boolean> add(String channel, String user, String connection, String info) {
        String inc = incarnation();
        String index = indexKey(inc);
        return leaseWritten(inc)
                .then(redis.<Long>execute(index, c -> c.sadd(index, entry(channel, user, connection))))
                .then(ADD.<List<Object>>run(
                        redis,
                        channelKeys(channel),
                        user,
                        connection,
                        inc,
                        info,
                        Integer.toString(eventsMax),
                        EVENTS,
                        channel))
                .map(r -> ((Long) r.get(0)) == 1L);
    }

    @Override
    public Mono<Void> linger(String channel, String user, String connection) {
        return LINGER.<List<Object>>run(redis, channelKeys(channel), user, connection)
                .then();
    }

    @Override
    public Mono<Boolean> remove(String channel, String user, String connection) {
        return remove(channel, user, connection, "").flatMap(left -> {
            String index = indexKey(incarnation());
            return redis.<Long>execute(index, c -> c.srem(index, entry(channel, user, connection)))
                    .thenReturn(left);
        });
    }

    private Mono<Boolean> remove(String channel, String user, String connection, String onlyOf) {
        return REMOVE.<List<Object>>run(
                        redis,
                        channelKeys(channel),
                        user,
                        connection,
                        onlyOf,
                        Integer.toString(eventsMax),
                        EVENTS,
                        channel)
                .map(r -> ((Long) r.get(0)) == 1L);
    }

    @Override
    public Mono<Long> count(String channel) {
        String key = channelKeys(channel)[0];
        return redis.execute(key, c -> c.hlen(key));
    }

    @Override
    public Mono<Roster> list(String channel, int max) {
        return LIST.<List<Object>>run(redis, new String[] {channelKeys(channel)[0]}, Integer.toString(max))
                .map(r -> {
                    long count = (Long) r.get(0);
                    List<?> flat = (List<?>) r.get(1);
                    List<ServerFrame.PresentUser> users = new ArrayList<>(flat.size() / 2);
                    for (int i = 0; i + 1 < flat.size(); i += 2) {
                        users.add(new ServerFrame.PresentUser((String) flat.get(i), (String) flat.get(i + 1)));
                    }
                    users.sort(Comparator.comparing(ServerFrame.PresentUser::user));
                    return new Roster(count, users);
                });
    }

    @Override
    public Mono<Void> prune(Predicate<Holder> held) {
        String inc = incarnation();
        String index = indexKey(inc);
        return redis.<Set<String>>execute(index, c -> c.smembers(index))
                .flatMapMany(Flux::fromIterable)
                .flatMap(
                        e -> {
                            String[] f = e.split(" ", 3);
                            if (f.length == 3 && held.test(new Holder(f[0], f[1], f[2], null))) {
                                return Mono.empty();
                            }
                            Mono<Boolean> removed = f.length < 3 ? Mono.just(false) : remove(f[0], f[1], f[2], inc);
                            return removed.then(redis.<Long>execute(index, c -> c.srem(index, e)))
                                    .then();
                        },
                        REBUILD_CONCURRENCY)
                .then();
    }

    @Override
    public Mono<Figures> tick(long online, long present) {
        boolean mustExist = leaseWritten;
        return TICK.<List<Object>>run(
                        redis,
                        new String[] {NODES, FIGURES},
                        incarnation(),
                        Long.toString(leaseMs),
                        Long.toString(online),
                        Long.toString(present),
                        mustExist ? "1" : "0")
                .flatMap(r -> {
                    if (((Long) r.get(0)) < 0) {
                        // the store no longer knows this incarnation: a new one writes every holder again
                        generation++;
                        leaseWritten = false;
                        log.info(
                                "Presence: Redis no longer knew this instance's holders; writing them again as {}",
                                incarnation());
                        return tick(online, present).map(f -> new Figures(f.online(), f.present(), true));
                    }
                    leaseWritten = true;
                    List<String> dead = new ArrayList<>();
                    for (int i = 2; i < r.size(); i++) {
                        String inc = (String) r.get(i);
                        if (!inc.equals(incarnation())) {
                            dead.add(inc);
                        }
                    }
                    Figures f = new Figures((Long) r.get(0), (Long) r.get(1), false);
                    return Flux.fromIterable(dead)
                            .concatMap(this::reap)
                            .then(subscribeEvents())
                            .thenReturn(f);
                });
    }

    /** Removes every holder of dead incarnation {@code inc}, then the incarnation itself. */
    private Mono<Void> reap(String inc) {
        String index = indexKey(inc);
        return redis.<List<String>>execute(index, c -> c.srandmember(index, REAP_BATCH))
                .flatMap(batch -> {
                    if (batch.isEmpty()) {
                        log.info("Presence: instance {} is gone; its holders are removed", inc);
                        return FORGET.<List<Object>>run(redis, new String[] {NODES, FIGURES}, inc)
                                .then();
                    }
                    return Flux.fromIterable(batch)
                            .flatMap(
                                    e -> {
                                        String[] f = e.split(" ", 3);
                                        Mono<Boolean> removed =
                                                f.length < 3 ? Mono.just(false) : remove(f[0], f[1], f[2], inc);
                                        return removed.then(redis.<Long>execute(index, c -> c.srem(index, e)));
                                    },
                                    REBUILD_CONCURRENCY)
                            .then(Mono.defer(() -> reap(inc)));
                });
    }

    private void onMessage(String channel, String message) {
        if (!EVENTS.equals(channel)) {
            return;
        }
        ServerFrame event = parse(message);
        if (event == null) {
            log.debug("Presence: an unreadable event was ignored");
            return;
        }
        for (Consumer<ServerFrame> l : listeners) {
            l.accept(event);
        }
    }

    /** {@code j channel user info} or {@code l channel user}; null when it is neither. */
    static ServerFrame parse(String message) {
        String[] f = message.split(" ", 4);
        if (f.length >= 4 && f[0].equals("j")) {
            return new ServerFrame.Join(f[1], f[2], f[3]);
        }
        if (f.length == 3 && f[0].equals("l")) {
            return new ServerFrame.Leave(f[1], f[2]);
        }
        return null;
    }

    @Override
    public void onEvent(Consumer<ServerFrame> listener) {
        listeners.add(listener);
    }
}
