package io.switchboard.gateway.config;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Everything the gateway is told at start-up. Read from environment variables by {@link #fromEnvironment(Map)},
 * which checks every setting and reports all problems at once. The {@code DEFAULT_*} constants are the values
 * used when a variable is not set.
 *
 * @param host address to bind ({@code SWITCHBOARD_HOST})
 * @param port TCP port; 0 picks a free one ({@code PORT})
 * @param nodeId this instance's name in {@code welcome.node} and logs ({@code SWITCHBOARD_NODE_ID})
 * @param jwtSecret HS256 secret for client tokens, at least 32 bytes; null refuses every token
 *                  ({@code SWITCHBOARD_JWT_SECRET})
 * @param apiKey bearer key for {@code /api/*}; null disables the API ({@code SWITCHBOARD_API_KEY})
 * @param guests whether connections without a token are accepted ({@code SWITCHBOARD_GUESTS})
 * @param helloTimeoutMs time allowed for the first frame ({@code SWITCHBOARD_HELLO_TIMEOUT_MS})
 * @param pingIntervalMs time between server pings ({@code SWITCHBOARD_PING_INTERVAL_MS})
 * @param pingTimeoutMs extra time a client has to show life ({@code SWITCHBOARD_PING_TIMEOUT_MS})
 * @param maxFrame largest inbound frame in bytes ({@code SWITCHBOARD_MAX_FRAME})
 * @param rate frames per second per connection ({@code SWITCHBOARD_RATE})
 * @param burst token bucket size ({@code SWITCHBOARD_BURST})
 * @param maxSubscriptions channels per connection ({@code SWITCHBOARD_MAX_SUBSCRIPTIONS})
 * @param historySize messages kept per channel ({@code SWITCHBOARD_HISTORY_SIZE})
 * @param historyTtlMs how long kept messages stay recoverable ({@code SWITCHBOARD_HISTORY_TTL_MS})
 * @param historyBudgetBytes the embedded mode's bound on history held in memory, over every channel and inbox;
 *                           beyond it the least recently used histories are dropped
 *                           ({@code SWITCHBOARD_HISTORY_BUDGET_BYTES}; default {@link #defaultHistoryBudget})
 * @param outboundBytes pending outbound bytes per connection before it is closed with 4004
 *                      ({@code SWITCHBOARD_OUTBOUND_BYTES})
 * @param resumeGraceMs how long a dropped user keeps its identity and random-connect match
 *                      ({@code SWITCHBOARD_RESUME_GRACE_MS})
 * @param interestWaitMs after this long in the random-connect queue, a partner without a shared interest is
 *                       acceptable ({@code SWITCHBOARD_INTEREST_WAIT_MS})
 * @param avoidRecent how many of the last partners left by next or leave are not matched again
 *                    ({@code SWITCHBOARD_AVOID_RECENT})
 * @param maxBlocks how many users one user may block; beyond it {@code block} answers {@code too_many}
 *                  ({@code SWITCHBOARD_MAX_BLOCKS})
 * @param resumeSecret HS256 secret of resume tokens, shared by all instances ({@code SWITCHBOARD_RESUME_SECRET});
 *                     null: derived from the JWT secret; without one, shared through Redis in the cluster mode
 *                     and random per process in the embedded mode
 * @param drainMs how long a drain spreads the closing of connections ({@code SWITCHBOARD_DRAIN_MS})
 * @param redis the cluster mode's Redis settings ({@code REDIS_URL} and friends), or null for the embedded mode
 * @param mongo where blocks and the match history are kept ({@code MONGODB_URI} and friends), or null to keep
 *              them in memory
 * @param iceServers the STUN and TURN servers the demo page gives its WebRTC calls
 *                   ({@code SWITCHBOARD_ICE_SERVERS}); none by default, so that a call contacts no third party
 * @param edge the limits before a WebSocket upgrade: timeouts, connection caps, connect rates, trusted proxies
 *             and allowed origins; null: {@link EdgeConfig#defaults()}
 * @param transport the I/O loops' kernel interface ({@code SWITCHBOARD_TRANSPORT}); null: {@link IoTransport#AUTO}
 * @param presenceEventsMax {@code join} and {@code leave} are sent for a channel only while it has at most this
 *                          many present users ({@code SWITCHBOARD_PRESENCE_EVENTS_MAX})
 * @param hooks the application's backend: proxy hooks and webhook events ({@code SWITCHBOARD_HOOK_*},
 *              {@code SWITCHBOARD_WEBHOOK_*}); null: {@link HookConfig#none()}
 */
public record GatewayConfig(
        String host,
        int port,
        String nodeId,
        String jwtSecret,
        String apiKey,
        boolean guests,
        long helloTimeoutMs,
        long pingIntervalMs,
        long pingTimeoutMs,
        int maxFrame,
        int rate,
        int burst,
        int maxSubscriptions,
        int historySize,
        long historyTtlMs,
        long historyBudgetBytes,
        int outboundBytes,
        long resumeGraceMs,
        long interestWaitMs,
        int avoidRecent,
        int maxBlocks,
        String resumeSecret,
        long drainMs,
        RedisConfig redis,
        MongoConfig mongo,
        List<IceServer> iceServers,
        EdgeConfig edge,
        IoTransport transport,
        int presenceEventsMax,
        HookConfig hooks) {

    public static final String DEFAULT_HOST = "0.0.0.0";
    public static final int DEFAULT_PORT = 8080;
    public static final boolean DEFAULT_GUESTS = true;
    public static final long DEFAULT_HELLO_TIMEOUT_MS = 10_000;
    public static final long DEFAULT_PING_INTERVAL_MS = 25_000;
    public static final long DEFAULT_PING_TIMEOUT_MS = 10_000;
    public static final int DEFAULT_MAX_FRAME = 65_536;
    public static final int DEFAULT_RATE = 100;
    public static final int DEFAULT_BURST = 200;
    public static final int DEFAULT_MAX_SUBSCRIPTIONS = 1000;
    public static final int DEFAULT_HISTORY_SIZE = 100;
    public static final long DEFAULT_HISTORY_TTL_MS = 120_000;
    /** The history budget when the heap allows it: 64 MiB (see {@link #defaultHistoryBudget}). */
    public static final long DEFAULT_HISTORY_BUDGET_BYTES = 64L << 20;

    public static final int DEFAULT_OUTBOUND_BYTES = 1 << 20;
    public static final long DEFAULT_RESUME_GRACE_MS = 30_000;
    public static final long DEFAULT_INTEREST_WAIT_MS = 5_000;
    public static final int DEFAULT_AVOID_RECENT = 3;
    public static final int DEFAULT_MAX_BLOCKS = 1_000;
    public static final long DEFAULT_DRAIN_MS = 10_000;
    public static final int DEFAULT_PRESENCE_EVENTS_MAX = 1_000;
    /** HS256 needs a key of at least 256 bits. */
    public static final int MIN_JWT_SECRET_BYTES = 32;

    public GatewayConfig {
        List<String> problems = validate(
                host,
                port,
                nodeId,
                jwtSecret,
                apiKey,
                helloTimeoutMs,
                pingIntervalMs,
                pingTimeoutMs,
                maxFrame,
                rate,
                burst,
                maxSubscriptions,
                historySize,
                historyTtlMs,
                historyBudgetBytes,
                outboundBytes);
        if (redis != null) {
            problems = new ArrayList<>(problems);
            problems.addAll(redis.problems(pingTimeoutMs));
        }
        if (mongo != null) {
            problems = new ArrayList<>(problems);
            problems.addAll(mongo.problems(helloTimeoutMs));
        }
        if (iceServers == null) {
            iceServers = List.of();
        }
        iceServers = List.copyOf(iceServers);
        edge = edge == null ? EdgeConfig.defaults() : edge;
        problems = new ArrayList<>(problems);
        problems.addAll(edge.problems());
        transport = transport == null ? IoTransport.DEFAULT : transport;
        problems.addAll(transportProblems(transport));
        hooks = hooks == null ? HookConfig.none() : hooks;
        problems.addAll(hooks.problems());
        if (presenceEventsMax < 0) {
            problems.add("SWITCHBOARD_PRESENCE_EVENTS_MAX=" + presenceEventsMax + ": expected 0 to 1000000");
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
    }

    /** The defaults of every setting; for tests and embedding. */
    public static GatewayConfig defaults() {
        return fromEnvironment(Map.of());
    }

    /** Reads the configuration from environment variables, reporting every bad setting at once. */
    public static GatewayConfig fromEnvironment(Map<String, String> env) {
        Reader r = new Reader(env);
        String host = r.string("SWITCHBOARD_HOST", DEFAULT_HOST);
        int port = r.integer("PORT", DEFAULT_PORT, 0, 65_535);
        String node = r.string("SWITCHBOARD_NODE_ID", defaultNodeId());
        String secret = r.string("SWITCHBOARD_JWT_SECRET", null);
        String apiKey = r.string("SWITCHBOARD_API_KEY", null);
        boolean guests = r.bool("SWITCHBOARD_GUESTS", DEFAULT_GUESTS);
        long hello = r.integer("SWITCHBOARD_HELLO_TIMEOUT_MS", DEFAULT_HELLO_TIMEOUT_MS, 1, 3_600_000);
        long ping = r.integer("SWITCHBOARD_PING_INTERVAL_MS", DEFAULT_PING_INTERVAL_MS, 1, 3_600_000);
        long pingTimeout = r.integer("SWITCHBOARD_PING_TIMEOUT_MS", DEFAULT_PING_TIMEOUT_MS, 1, 3_600_000);
        int maxFrame = r.integer("SWITCHBOARD_MAX_FRAME", DEFAULT_MAX_FRAME, 1, 16 << 20);
        int rate = r.integer("SWITCHBOARD_RATE", DEFAULT_RATE, 1, 1_000_000);
        int burst = r.integer("SWITCHBOARD_BURST", DEFAULT_BURST, 1, 10_000_000);
        int maxSubs = r.integer("SWITCHBOARD_MAX_SUBSCRIPTIONS", DEFAULT_MAX_SUBSCRIPTIONS, 1, 1_000_000);
        int historySize = r.integer("SWITCHBOARD_HISTORY_SIZE", DEFAULT_HISTORY_SIZE, 0, 1_000_000);
        long historyTtl = r.integer("SWITCHBOARD_HISTORY_TTL_MS", DEFAULT_HISTORY_TTL_MS, 1, 30L * 24 * 3_600_000);
        long historyBudget = r.integer("SWITCHBOARD_HISTORY_BUDGET_BYTES", defaultHistoryBudget(), 1, 1L << 50);
        int outbound = r.integer("SWITCHBOARD_OUTBOUND_BYTES", DEFAULT_OUTBOUND_BYTES, 1, 1 << 30);
        long grace = r.integer("SWITCHBOARD_RESUME_GRACE_MS", DEFAULT_RESUME_GRACE_MS, 1_000, 3_600_000);
        long interestWait = r.integer("SWITCHBOARD_INTEREST_WAIT_MS", DEFAULT_INTEREST_WAIT_MS, 0, 3_600_000);
        int avoidRecent = r.integer("SWITCHBOARD_AVOID_RECENT", DEFAULT_AVOID_RECENT, 0, 100);
        int maxBlocks = r.integer("SWITCHBOARD_MAX_BLOCKS", DEFAULT_MAX_BLOCKS, 1, 100_000);
        String resumeSecret = r.string("SWITCHBOARD_RESUME_SECRET", null);
        long drain = r.integer("SWITCHBOARD_DRAIN_MS", DEFAULT_DRAIN_MS, 0, 600_000);
        String redisUrl = r.string("REDIS_URL", null);
        String redisCa = r.string("SWITCHBOARD_REDIS_CA", null);
        long redisTimeout =
                r.integer("SWITCHBOARD_REDIS_TIMEOUT_MS", RedisConfig.DEFAULT_COMMAND_TIMEOUT_MS, 1, 600_000);
        long nodeLease = r.integer("SWITCHBOARD_NODE_LEASE_MS", RedisConfig.DEFAULT_NODE_LEASE_MS, 1, 3_600_000);
        String startWaitSet = r.string("SWITCHBOARD_REDIS_START_WAIT_MS", null);
        long startWait = r.integer(
                "SWITCHBOARD_REDIS_START_WAIT_MS", RedisConfig.DEFAULT_START_WAIT_MS, 0, RedisConfig.MAX_START_WAIT_MS);
        RedisConfig redis =
                redisUrl == null ? null : new RedisConfig(redisUrl, redisCa, redisTimeout, nodeLease, startWait);
        String mongoUri = r.string("MONGODB_URI", null);
        long mongoTimeout = r.integer("SWITCHBOARD_MONGODB_TIMEOUT_MS", MongoConfig.DEFAULT_TIMEOUT_MS, 1, 600_000);
        int mongoPool = r.integer("SWITCHBOARD_MONGODB_POOL", MongoConfig.DEFAULT_POOL_SIZE, 1, 10_000);
        int mongoBuffer = r.integer("SWITCHBOARD_MONGODB_BUFFER", MongoConfig.DEFAULT_BUFFER_SIZE, 1, 10_000_000);
        MongoConfig mongo = mongoUri == null ? null : new MongoConfig(mongoUri, mongoTimeout, mongoPool, mongoBuffer);
        List<IceServer> iceServers = IceServer.parse(r.string(IceServer.VARIABLE, null), r.problems);
        EdgeConfig edge = EdgeConfig.read(r);
        IoTransport transport = readTransport(r);
        int presenceEventsMax = r.integer("SWITCHBOARD_PRESENCE_EVENTS_MAX", DEFAULT_PRESENCE_EVENTS_MAX, 0, 1_000_000);
        HookConfig hooks = HookConfig.read(r);
        List<String> problems = new ArrayList<>(r.problems);
        // A setting that could not be read is reported once; checks that would use its default are left out.
        List<String> checks = validate(
                host,
                port,
                node,
                secret,
                apiKey,
                hello,
                ping,
                pingTimeout,
                maxFrame,
                rate,
                burst,
                maxSubs,
                historySize,
                historyTtl,
                historyBudget,
                outbound);
        if (resumeSecret != null && resumeSecret.getBytes(StandardCharsets.UTF_8).length < MIN_JWT_SECRET_BYTES) {
            checks.add("SWITCHBOARD_RESUME_SECRET is " + resumeSecret.getBytes(StandardCharsets.UTF_8).length
                    + " bytes long: expected at least " + MIN_JWT_SECRET_BYTES + " bytes");
        }
        if (redis != null) {
            checks.addAll(redis.problems(pingTimeout));
        } else {
            if (redisCa != null) {
                checks.add("SWITCHBOARD_REDIS_CA is set but REDIS_URL is not: set REDIS_URL=rediss://... to use"
                        + " Redis");
            }
            if (startWaitSet != null) {
                checks.add("SWITCHBOARD_REDIS_START_WAIT_MS is set but REDIS_URL is not: it only applies to the"
                        + " cluster mode; unset it or set REDIS_URL");
            }
        }
        if (mongo != null) {
            checks.addAll(mongo.problems(hello));
        }
        checks.addAll(edge.problems());
        checks.addAll(hooks.problems());
        if (transport != null) {
            checks.addAll(transportProblems(transport));
        }
        for (String p : checks) {
            if (r.unreadable.stream().noneMatch(p::contains)) {
                problems.add(p);
            }
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return new GatewayConfig(
                host,
                port,
                node,
                secret,
                apiKey,
                guests,
                hello,
                ping,
                pingTimeout,
                maxFrame,
                rate,
                burst,
                maxSubs,
                historySize,
                historyTtl,
                historyBudget,
                outbound,
                grace,
                interestWait,
                avoidRecent,
                maxBlocks,
                resumeSecret,
                drain,
                redis,
                mongo,
                iceServers,
                edge,
                transport,
                presenceEventsMax,
                hooks);
    }

    private static IoTransport readTransport(Reader r) {
        String v = r.string(IoTransport.VARIABLE, null);
        if (v == null) {
            return IoTransport.DEFAULT;
        }
        IoTransport t = IoTransport.parse(v);
        if (t == null) {
            r.problems.add(IoTransport.VARIABLE + "=" + v + ": expected auto, io_uring, epoll or nio");
            r.unreadable.add(IoTransport.VARIABLE);
        }
        return t;
    }

    private static List<String> transportProblems(IoTransport t) {
        return t.available() ? List.of() : transportProblems(t, t.unavailableBecause());
    }

    /** The problem of {@code t} wanted where it cannot run, {@code because}. */
    static List<String> transportProblems(IoTransport t, String because) {
        return List.of(IoTransport.VARIABLE + "=" + t.setting() + ": " + t.setting() + " is not available on this"
                + " machine (" + because + "); expected auto (the best this machine has), epoll or nio");
    }

    private static List<String> validate(
            String host,
            int port,
            String nodeId,
            String jwtSecret,
            String apiKey,
            long helloTimeoutMs,
            long pingIntervalMs,
            long pingTimeoutMs,
            int maxFrame,
            int rate,
            int burst,
            int maxSubscriptions,
            int historySize,
            long historyTtlMs,
            long historyBudgetBytes,
            int outboundBytes) {
        List<String> p = new ArrayList<>();
        if (host == null || host.isBlank()) {
            p.add("SWITCHBOARD_HOST is empty: expected an address to bind, such as 0.0.0.0");
        }
        if (port < 0 || port > 65_535) {
            p.add("PORT=" + port + ": expected a TCP port from 0 to 65535");
        }
        if (nodeId == null || !nodeId.matches("[A-Za-z0-9_.-]{1,64}")) {
            p.add("SWITCHBOARD_NODE_ID=" + nodeId + ": expected 1 to 64 characters of A-Z a-z 0-9 _ . -");
        }
        if (jwtSecret != null && jwtSecret.getBytes(StandardCharsets.UTF_8).length < MIN_JWT_SECRET_BYTES) {
            p.add("SWITCHBOARD_JWT_SECRET is " + jwtSecret.getBytes(StandardCharsets.UTF_8).length
                    + " bytes long: HS256 needs at least " + MIN_JWT_SECRET_BYTES + " bytes");
        }
        if (apiKey != null && apiKey.length() < 16) {
            p.add("SWITCHBOARD_API_KEY is " + apiKey.length() + " characters long: expected at least 16");
        }
        if (helloTimeoutMs < 1 || pingIntervalMs < 1 || pingTimeoutMs < 1 || historyTtlMs < 1) {
            p.add("timeouts must be positive: SWITCHBOARD_HELLO_TIMEOUT_MS=" + helloTimeoutMs
                    + ", SWITCHBOARD_PING_INTERVAL_MS=" + pingIntervalMs + ", SWITCHBOARD_PING_TIMEOUT_MS="
                    + pingTimeoutMs + ", SWITCHBOARD_HISTORY_TTL_MS=" + historyTtlMs);
        }
        if (maxFrame < 1024) {
            p.add("SWITCHBOARD_MAX_FRAME=" + maxFrame + ": expected at least 1024 bytes");
        }
        if (rate < 1 || burst < 1) {
            p.add("SWITCHBOARD_RATE=" + rate + ", SWITCHBOARD_BURST=" + burst + ": both must be at least 1");
        }
        if (maxSubscriptions < 1) {
            p.add("SWITCHBOARD_MAX_SUBSCRIPTIONS=" + maxSubscriptions + ": expected at least 1");
        }
        if (historySize < 0) {
            p.add("SWITCHBOARD_HISTORY_SIZE=" + historySize + ": expected 0 or more");
        }
        if (historyBudgetBytes < 2L * maxFrame) {
            p.add("SWITCHBOARD_HISTORY_BUDGET_BYTES=" + historyBudgetBytes
                    + " is less than twice SWITCHBOARD_MAX_FRAME=" + maxFrame
                    + ": history could not hold one largest message; raise it to at least " + 2L * maxFrame);
        } else if (historyBudgetBytes > maxHeap() / 2) {
            p.add("SWITCHBOARD_HISTORY_BUDGET_BYTES=" + historyBudgetBytes + " is more than half of the JVM's maximum"
                    + " heap (" + maxHeap() + " bytes): expected at most " + maxHeap() / 2
                    + "; lower it or give the JVM more heap (-Xmx)");
        }
        if (outboundBytes < 2L * maxFrame) {
            p.add("SWITCHBOARD_OUTBOUND_BYTES=" + outboundBytes + " is less than twice SWITCHBOARD_MAX_FRAME="
                    + maxFrame + ": a connection could not hold one largest message; raise it to at least "
                    + 2L * maxFrame);
        }
        return p;
    }

    /**
     * The default history budget: {@link #DEFAULT_HISTORY_BUDGET_BYTES}, or a quarter of the JVM's maximum heap
     * when that is less.
     */
    public static long defaultHistoryBudget() {
        return Math.min(DEFAULT_HISTORY_BUDGET_BYTES, maxHeap() / 4);
    }

    private static long maxHeap() {
        long max = Runtime.getRuntime().maxMemory();
        return max == Long.MAX_VALUE ? 1L << 50 : max;
    }

    private static String defaultNodeId() {
        try {
            String name = InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9_.-]", "-");
            return name.isEmpty() ? "gw-1" : name.substring(0, Math.min(64, name.length()));
        } catch (UnknownHostException e) {
            return "gw-1";
        }
    }

    /** Whether clients may present tokens (a secret is configured). */
    public boolean tokensEnabled() {
        return jwtSecret != null;
    }

    /**
     * The secret that signs resume tokens: the configured one, else one derived from the JWT secret, else
     * null (a random one per process, which in the cluster mode the instances replace with one they share
     * through Redis).
     */
    public String effectiveResumeSecret() {
        if (resumeSecret != null) {
            return resumeSecret;
        }
        if (jwtSecret == null) {
            return null;
        }
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(jwtSecret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            return HexFormat.of().formatHex(mac.doFinal("switchboard-resume".getBytes(StandardCharsets.UTF_8)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Whether the gateway runs in cluster mode (Redis configured). */
    public boolean clustered() {
        return redis != null;
    }

    /** Whether {@code /api/*} is enabled (a key is configured). */
    public boolean apiEnabled() {
        return apiKey != null;
    }

    /** The settings as name=value lines for the start-up log, secrets masked. */
    public Map<String, String> describe() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("SWITCHBOARD_HOST", host);
        m.put("PORT", String.valueOf(port));
        m.put("SWITCHBOARD_NODE_ID", nodeId);
        m.put("SWITCHBOARD_JWT_SECRET", jwtSecret == null ? "(unset: tokens refused)" : "****");
        m.put("SWITCHBOARD_API_KEY", apiKey == null ? "(unset: /api disabled)" : "****");
        m.put("SWITCHBOARD_GUESTS", String.valueOf(guests));
        m.put("SWITCHBOARD_HELLO_TIMEOUT_MS", String.valueOf(helloTimeoutMs));
        m.put("SWITCHBOARD_PING_INTERVAL_MS", String.valueOf(pingIntervalMs));
        m.put("SWITCHBOARD_PING_TIMEOUT_MS", String.valueOf(pingTimeoutMs));
        m.put("SWITCHBOARD_MAX_FRAME", String.valueOf(maxFrame));
        m.put("SWITCHBOARD_RATE", String.valueOf(rate));
        m.put("SWITCHBOARD_BURST", String.valueOf(burst));
        m.put("SWITCHBOARD_MAX_SUBSCRIPTIONS", String.valueOf(maxSubscriptions));
        m.put("SWITCHBOARD_HISTORY_SIZE", String.valueOf(historySize));
        m.put("SWITCHBOARD_HISTORY_TTL_MS", String.valueOf(historyTtlMs));
        m.put("SWITCHBOARD_HISTORY_BUDGET_BYTES", String.valueOf(historyBudgetBytes));
        m.put("SWITCHBOARD_OUTBOUND_BYTES", String.valueOf(outboundBytes));
        m.put("SWITCHBOARD_RESUME_GRACE_MS", String.valueOf(resumeGraceMs));
        m.put("SWITCHBOARD_INTEREST_WAIT_MS", String.valueOf(interestWaitMs));
        m.put("SWITCHBOARD_AVOID_RECENT", String.valueOf(avoidRecent));
        m.put("SWITCHBOARD_MAX_BLOCKS", String.valueOf(maxBlocks));
        m.put(
                "SWITCHBOARD_RESUME_SECRET",
                resumeSecret != null
                        ? "****"
                        : "(unset: derived from SWITCHBOARD_JWT_SECRET; without it shared through Redis in cluster mode,"
                                + " random per process in embedded mode)");
        m.put("SWITCHBOARD_DRAIN_MS", String.valueOf(drainMs));
        m.put("SWITCHBOARD_PRESENCE_EVENTS_MAX", String.valueOf(presenceEventsMax));
        if (redis == null) {
            m.put("REDIS_URL", "(unset: embedded mode)");
        } else {
            m.put("REDIS_URL", RedisTarget.mask(redis.url()));
            m.put("SWITCHBOARD_REDIS_CA", redis.caFile() == null ? "(unset)" : redis.caFile());
            m.put("SWITCHBOARD_REDIS_TIMEOUT_MS", String.valueOf(redis.commandTimeoutMs()));
            m.put("SWITCHBOARD_NODE_LEASE_MS", String.valueOf(redis.nodeLeaseMs()));
            m.put("SWITCHBOARD_REDIS_START_WAIT_MS", String.valueOf(redis.startWaitMs()));
        }
        if (mongo == null) {
            m.put("MONGODB_URI", "(unset: blocks and match history in memory)");
        } else {
            m.put("MONGODB_URI", mongo.masked());
            m.put("SWITCHBOARD_MONGODB_TIMEOUT_MS", String.valueOf(mongo.timeoutMs()));
            m.put("SWITCHBOARD_MONGODB_POOL", String.valueOf(mongo.poolSize()));
            m.put("SWITCHBOARD_MONGODB_BUFFER", String.valueOf(mongo.bufferSize()));
        }
        m.put(
                IceServer.VARIABLE,
                iceServers.isEmpty()
                        ? "(unset: no STUN or TURN server)"
                        : String.join(
                                "; ", iceServers.stream().map(IceServer::masked).toList()));
        m.putAll(edge.describe());
        m.putAll(hooks.describe());
        IoTransport used = transport.resolve();
        m.put(
                IoTransport.VARIABLE,
                transport == used
                        ? used.setting()
                        : transport.setting() + " (" + used.setting()
                                + (used == IoTransport.EPOLL
                                        ? ""
                                        : "; epoll not available: " + IoTransport.EPOLL.unavailableBecause())
                                + ")");
        return m;
    }

    @Override
    public String toString() {
        return "GatewayConfig" + describe();
    }

    /** Parses variables, collecting a problem line for each that cannot be read. */
    static final class Reader {
        private final Map<String, String> env;
        final List<String> problems = new ArrayList<>();
        private final List<String> unreadable = new ArrayList<>();

        Reader(Map<String, String> env) {
            this.env = env;
        }

        String string(String name, String fallback) {
            String v = env.get(name);
            return v == null || v.isEmpty() ? fallback : v;
        }

        int integer(String name, int fallback, int min, int max) {
            return (int) integer(name, (long) fallback, min, max);
        }

        long integer(String name, long fallback, long min, long max) {
            String v = env.get(name);
            if (v == null || v.isBlank()) {
                return fallback;
            }
            try {
                long n = Long.parseLong(v.trim());
                if (n < min || n > max) {
                    problems.add(name + "=" + v + ": expected a whole number from " + min + " to " + max);
                    unreadable.add(name);
                    return fallback;
                }
                return n;
            } catch (NumberFormatException e) {
                problems.add(name + "=" + v + ": expected a whole number from " + min + " to " + max);
                unreadable.add(name);
                return fallback;
            }
        }

        boolean bool(String name, boolean fallback) {
            String v = env.get(name);
            if (v == null || v.isBlank()) {
                return fallback;
            }
            return switch (v.trim().toLowerCase()) {
                case "true", "on", "yes", "1" -> true;
                case "false", "off", "no", "0" -> false;
                default -> {
                    problems.add(name + "=" + v + ": expected true or false");
                    unreadable.add(name);
                    yield fallback;
                }
            };
        }
    }
}
