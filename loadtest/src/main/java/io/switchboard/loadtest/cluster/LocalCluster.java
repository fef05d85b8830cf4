package io.switchboard.loadtest.cluster;

import io.switchboard.loadtest.result.BenchmarkException;
import io.switchboard.testing.Binaries;
import io.switchboard.testing.redis.RedisServer;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a benchmark measures, started on loopback as a {@link Spec} says: optionally one {@code redis-server} without
 * persistence (test-support's {@link RedisServer}, the fixture every module's tests use), and one or more server
 * processes: Switchboard gateways from the packaged jar (cluster mode when Redis runs, else the embedded default),
 * or the Socket.IO baseline of {@code loadtest/socketio}. It owns those processes: {@link #close()} stops them (also
 * from a JVM shutdown hook, so an interrupted run leaves nothing behind). Each process writes its output to a log file
 * in {@code logDir}.
 */
public final class LocalCluster implements AutoCloseable {
    public static final String SOCKET_IO_SERVER = "loadtest/socketio/server.js";

    /** The kind of server measured. */
    public enum Target {
        SWITCHBOARD("switchboard"),
        SOCKET_IO("socket.io");

        private final String label;

        Target(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /**
     * What to start.
     *
     * @param servers server processes (1 or more)
     * @param redis whether Redis runs and the servers share it (Switchboard's cluster mode, Socket.IO's redis adapter)
     * @param heap the gateways' {@code -Xmx} (and {@code -Xms}), such as {@code 1g}; ignored for Socket.IO
     * @param env extra environment of every server
     */
    public record Spec(Target target, int servers, boolean redis, String heap, Map<String, String> env) {
        public Spec {
            env = Map.copyOf(env);
        }

        public String describe() {
            String what = target == Target.SWITCHBOARD
                    ? servers + " gateway JVM" + (servers > 1 ? "s" : "") + " (" + GATEWAY_JVM_OPTIONS + ", -Xms" + heap
                            + " -Xmx" + heap + ")"
                    : servers + " Socket.IO Node process" + (servers > 1 ? "es" : "");
            return what
                    + (redis
                            ? " on one redis-server"
                            : target == Target.SWITCHBOARD ? ", embedded mode" : ", in-memory adapter");
        }
    }
    /** How long a gateway has to log its port and report {@code "status":"UP"}. */
    public static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    /** How long a process has to exit after SIGTERM before it is killed. */
    public static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);

    public static final String GATEWAY_JAR = "gateway/target/switchboard-gateway.jar";
    /**
     * The gateway's JVM options, those of its documented start command ({@code java @gateway/jvm.options -jar ...});
     * the gateways are started with them, from the repository root (the file's paths are relative to it).
     */
    public static final String GATEWAY_JVM_OPTIONS = "gateway/jvm.options";

    public static final String HOST = "127.0.0.1";

    private static final Pattern LISTENING = Pattern.compile("listening on http://[^:]+:(\\d+)");
    private static final String REDIS = "redis";
    /** The start-up line that says which I/O transport the gateway's loops use (config.IoTransport). */
    private static final Pattern TRANSPORT = Pattern.compile("SWITCHBOARD_TRANSPORT=(.+)");

    private static final Duration POLL = Duration.ofMillis(50);

    /** One started server process, its log and its port (-1 until known). */
    record Child(String name, Process process, Path log, int port) {
        Duration cpu() {
            return LocalCluster.cpu(process.toHandle());
        }
    }

    private final Spec spec;
    private final Path repo;
    private final Path logDir;
    private final Thread shutdownHook = new Thread(this::close, "local-cluster-cleanup");
    private final List<Child> children = new ArrayList<>();
    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2))
            .build();
    private RedisServer redis;
    private final List<Child> gateways = new ArrayList<>();
    private boolean closed;

    private LocalCluster(Spec spec, Path repo, Path logDir) {
        this.spec = spec;
        this.repo = repo;
        this.logDir = logDir;
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /**
     * Starts what {@code spec} says from {@code repo} (Redis, then the servers), and returns once every server
     * reports {@code UP}; on any failure what was started is stopped and a {@link BenchmarkException} names the
     * cause and the log to read.
     */
    public static LocalCluster start(Path repo, Path logDir, Spec spec) throws BenchmarkException {
        Path jar = repo.resolve(GATEWAY_JAR);
        if (spec.target() == Target.SWITCHBOARD && !Files.isRegularFile(jar)) {
            throw new BenchmarkException(
                    "the gateway jar " + jar + " is missing: build it first: " + "mvn -B -q -DskipTests package");
        }
        Path server = repo.resolve(SOCKET_IO_SERVER);
        if (spec.target() == Target.SOCKET_IO && !Files.isDirectory(server.resolveSibling("node_modules"))) {
            throw new BenchmarkException(
                    "the Socket.IO server's packages are missing: npm ci --prefix " + server.getParent());
        }
        if (spec.redis() && onPath("redis-server").isEmpty()) {
            throw new BenchmarkException("redis-server is not on the PATH: install the Debian package redis-server"
                    + " (apt-get install redis-server)");
        }
        try {
            Files.createDirectories(logDir);
        } catch (IOException e) {
            throw new BenchmarkException("cannot create " + logDir + ": " + e.getMessage());
        }
        Path options = repo.resolve(GATEWAY_JVM_OPTIONS);
        if (spec.target() == Target.SWITCHBOARD && !Files.isRegularFile(options)) {
            throw new BenchmarkException("the gateway's JVM options " + options + " are missing");
        }
        LocalCluster cluster = new LocalCluster(spec, repo, logDir);
        try {
            if (spec.redis()) {
                cluster.startRedis();
            }
            cluster.startGateways(spec.target() == Target.SWITCHBOARD ? jar : server);
            return cluster;
        } catch (BenchmarkException | RuntimeException e) {
            cluster.close();
            throw e;
        }
    }

    /** The gateways' WebSocket endpoints, in start order. */
    public List<URI> webSocketUris() {
        return gateways.stream()
                .map(g -> URI.create("ws://" + HOST + ":" + g.port() + "/ws"))
                .toList();
    }

    /** The servers' base URLs ({@code http://127.0.0.1:port}), in start order. */
    /**
     * The I/O transport the first gateway logged at start, such as {@code auto (epoll)}; null for Socket.IO or when
     * it did not say.
     */
    public String gatewayTransport() {
        if (spec.target() != Target.SWITCHBOARD || gateways.isEmpty()) {
            return null;
        }
        try {
            Matcher m = TRANSPORT.matcher(Files.readString(gateways.get(0).log()));
            return m.find() ? m.group(1).strip() : null;
        } catch (IOException e) {
            return null;
        }
    }

    public List<URI> serverUris() {
        return gateways.stream()
                .map(g -> URI.create("http://" + HOST + ":" + g.port()))
                .toList();
    }

    /** The servers' processes, in start order. */
    public List<ProcessHandle> servers() {
        return gateways.stream().map(g -> g.process().toHandle()).toList();
    }

    /** CPU time used so far by the servers together (not Redis). */
    public Duration serverCpu() {
        return gateways.stream().map(Child::cpu).reduce(Duration.ZERO, Duration::plus);
    }

    /** CPU time used so far by Redis, zero without it. */
    public Duration redisCpu() {
        return redis == null
                ? Duration.ZERO
                : redis.process().map(LocalCluster::cpu).orElse(Duration.ZERO);
    }

    public Spec spec() {
        return spec;
    }

    /** Names and CPU time used so far of Redis and every gateway, in start order. */
    public Map<String, Duration> cpu() {
        Map<String, Duration> cpu = new LinkedHashMap<>();
        if (redis != null) {
            cpu.put(REDIS, redisCpu());
        }
        for (Child c : children) {
            cpu.put(c.name(), c.cpu());
        }
        return cpu;
    }

    /** Null when every process still runs, else a line naming the first that exited and its log. */
    public String deadProcess() {
        if (redis != null && !redis.isRunning()) {
            OptionalInt code = redis.exitCode();
            return REDIS + " exited" + (code.isPresent() ? " with code " + code.getAsInt() : "")
                    + " during the run; see " + redis.log();
        }
        for (Child c : children) {
            if (!c.process().isAlive()) {
                return c.name() + " exited with code " + c.process().exitValue() + " during the run; see " + c.log();
            }
        }
        return null;
    }

    /**
     * The sum over the gateways of one Prometheus counter (for instance {@code switchboard_match_made_total}),
     * or -1 when a gateway did not answer.
     */
    public double metricSum(String name) {
        double sum = 0;
        for (Child g : gateways) {
            try {
                HttpResponse<String> r = http.send(
                        HttpRequest.newBuilder(URI.create("http://" + HOST + ":" + g.port() + "/metrics"))
                                .timeout(Duration.ofSeconds(5))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
                for (String line : r.body().split("\n")) {
                    if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
                        sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                    }
                }
            } catch (IOException | RuntimeException e) {
                return -1;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return -1;
            }
        }
        return sum;
    }

    Path logDir() {
        return logDir;
    }

    /** Starts Redis through the tests' fixture, its output in {@code redis.log} of the log directory. */
    private void startRedis() throws BenchmarkException {
        Path log = logDir.resolve(REDIS + ".log");
        try {
            // The fixture appends to its log; each cluster's log starts empty, as the gateways' do.
            Files.deleteIfExists(log);
        } catch (IOException e) {
            throw new BenchmarkException("cannot delete the old " + log + ": " + e.getMessage());
        }
        try {
            RedisServer started = RedisServer.start(log);
            synchronized (this) {
                redis = started;
                if (closed) {
                    started.close();
                }
            }
        } catch (RuntimeException e) {
            throw new BenchmarkException("cannot start redis-server: " + e.getMessage() + "; see " + log);
        }
    }

    private void startGateways(Path program) throws BenchmarkException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        // Every client is a guest; the secret is set, random, so that the gateways run as configured in production.
        byte[] secret = new byte[32];
        new SecureRandom().nextBytes(secret);
        String prefix = spec.target() == Target.SWITCHBOARD ? "bench-" : "sio-";
        List<Process> started = new ArrayList<>();
        for (int i = 1; i <= spec.servers(); i++) {
            Map<String, String> env = new LinkedHashMap<>();
            List<String> command;
            env.put("PORT", "0");
            if (spec.target() == Target.SWITCHBOARD) {
                env.put("SWITCHBOARD_HOST", HOST);
                env.put("SWITCHBOARD_NODE_ID", prefix + i);
                if (spec.redis()) {
                    env.put("REDIS_URL", "redis://" + HOST + ":" + redis.port());
                }
                env.put("SWITCHBOARD_RATE", "100000");
                env.put("SWITCHBOARD_BURST", "100000");
                // Every load-generator connection comes from this machine: the per-address limits that guard a
                // real deployment against one abuser would refuse the load being measured. The total cap stays as
                // close to the open-file limit as the gateway allows.
                env.put("SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS", "1000000");
                env.put("SWITCHBOARD_CONNECT_RATE", "1000000");
                env.put("SWITCHBOARD_CONNECT_BURST", "1000000");
                int fds = openFileLimit();
                if (fds < Integer.MAX_VALUE && fds > 1024) {
                    env.put("SWITCHBOARD_MAX_CONNECTIONS", Integer.toString(fds - 64));
                }
                env.put("SWITCHBOARD_JWT_SECRET", HexFormat.of().formatHex(secret));
                command = List.of(
                        java,
                        "@" + GATEWAY_JVM_OPTIONS,
                        "-Xms" + spec.heap(),
                        "-Xmx" + spec.heap(),
                        "-jar",
                        program.toString());
            } else {
                env.put("HOST", HOST);
                env.put("NODE_ID", prefix + i);
                if (spec.redis()) {
                    env.put("REDIS_URL", "redis://" + HOST + ":" + redis.port());
                }
                String node = onPath("node")
                        .map(Path::toString)
                        .orElseThrow(() -> new BenchmarkException(
                                "node is not on the PATH: install Node.js 20 or later (Debian package nodejs)"));
                command = List.of(node, program.toString());
            }
            env.putAll(spec.env());
            Path log = logDir.resolve(prefix + i + ".log");
            Process p = launch(command, env, log, repo);
            started.add(p);
            synchronized (this) {
                children.add(new Child(prefix + i, p, log, -1));
            }
        }
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        for (int i = 1; i <= spec.servers(); i++) {
            Path log = logDir.resolve(prefix + i + ".log");
            Process p = started.get(i - 1);
            int port = awaitPort(prefix + i, p, log, deadline);
            Child gateway = new Child(prefix + i, p, log, port);
            synchronized (this) {
                children.replaceAll(c -> c.process() == p ? gateway : c);
            }
            gateways.add(gateway);
        }
        for (Child g : gateways) {
            awaitUp(g, deadline);
        }
    }

    private static int awaitPort(String name, Process p, Path log, long deadline) throws BenchmarkException {
        while (System.nanoTime() < deadline) {
            try {
                Matcher m = LISTENING.matcher(Files.exists(log) ? Files.readString(log) : "");
                if (m.find()) {
                    return Integer.parseInt(m.group(1));
                }
            } catch (IOException e) {
                // the log is being written; read it again
            }
            if (!p.isAlive()) {
                throw new BenchmarkException("gateway " + name + " exited with code " + p.exitValue()
                        + " before listening; " + log + " ends with:\n" + tail(log));
            }
            sleep(POLL);
        }
        throw new BenchmarkException("gateway " + name + " did not log \"listening on http://...\" within "
                + START_TIMEOUT.toSeconds() + " s; " + log + " ends with:\n" + tail(log));
    }

    private void awaitUp(Child g, long deadline) throws BenchmarkException {
        URI health = URI.create("http://" + HOST + ":" + g.port() + "/health");
        String last = "no answer";
        while (System.nanoTime() < deadline) {
            try {
                HttpResponse<String> r = http.send(
                        HttpRequest.newBuilder(health)
                                .timeout(Duration.ofSeconds(2))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200 && r.body().contains("\"status\":\"UP\"")) {
                    return;
                }
                last = r.statusCode() + " " + r.body();
            } catch (IOException e) {
                last = e.toString();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new BenchmarkException("interrupted while waiting for " + health);
            }
            if (!g.process().isAlive()) {
                break;
            }
            sleep(POLL);
        }
        throw new BenchmarkException("gateway " + g.name() + " did not report \"status\":\"UP\" at " + health
                + " (last answer: " + last + "); see " + g.log());
    }

    private static Process launch(List<String> command, Map<String, String> env, Path log, Path dir)
            throws BenchmarkException {
        ProcessBuilder pb = new ProcessBuilder(command)
                .directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.to(log.toFile()));
        // Settings of the environment the benchmark runs in must not leak into the gateways it measures.
        pb.environment()
                .keySet()
                .removeIf(k -> k.startsWith("SWITCHBOARD_")
                        || k.equals("PORT")
                        || k.equals("REDIS_URL")
                        || k.startsWith("MONGO")
                        || k.equals("HOST")
                        || k.equals("NODE_ID")
                        || k.equals("JAVA_TOOL_OPTIONS"));
        pb.environment().putAll(env);
        try {
            return pb.start();
        } catch (IOException e) {
            throw new BenchmarkException("cannot run " + command.get(0) + ": " + e.getMessage());
        }
    }

    /** The nearest directory at or above {@code start} that holds the gateway and loadtest modules, or null. */
    public static Path findRepository(Path start) {
        for (Path dir = start.toAbsolutePath().normalize(); dir != null; dir = dir.getParent()) {
            if (isRepository(dir)) {
                return dir;
            }
        }
        return null;
    }

    /** Whether {@code dir} is the Switchboard repository (holds gateway/pom.xml and loadtest/pom.xml). */
    public static boolean isRepository(Path dir) {
        return Files.isRegularFile(dir.resolve("gateway/pom.xml"))
                && Files.isRegularFile(dir.resolve("loadtest/pom.xml"));
    }

    /** The soft limit of open files of this process (its children inherit it); 4096 where it cannot be read. */
    public static int openFileLimit() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (line.startsWith("Max open files")) {
                    String[] f =
                            line.substring("Max open files".length()).trim().split("\\s+");
                    return f[0].equals("unlimited") ? Integer.MAX_VALUE : Integer.parseInt(f[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return 4096;
    }

    /**
     * Installs the Socket.IO server's packages ({@code npm ci} in the directory of {@link #SOCKET_IO_SERVER}) when
     * they are missing; {@code say} hears one line when it installs.
     */
    public static void installSocketIo(Path repo, Path logDir, Consumer<String> say) throws BenchmarkException {
        Path dir = repo.resolve(SOCKET_IO_SERVER).getParent();
        if (Files.isDirectory(dir.resolve("node_modules"))) {
            return;
        }
        String npm = onPath("npm")
                .map(Path::toString)
                .orElseThrow(() -> new BenchmarkException(
                        "npm is not on the PATH: install Node.js 20 or later with npm, or pass --no-socketio"));
        Path log = logDir.resolve("npm-ci.log");
        say.accept("installing the Socket.IO server's packages: npm ci in " + dir + " (log " + log + ")");
        try {
            Files.createDirectories(logDir);
            Process p = new ProcessBuilder(npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error")
                    .directory(dir.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new BenchmarkException("npm ci in " + dir + " failed; " + log + " ends with:\n" + tail(log));
            }
        } catch (IOException e) {
            throw new BenchmarkException("cannot run npm: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BenchmarkException("interrupted during npm ci");
        }
    }

    /** The program {@code name} on the PATH, looked up as the test fixtures do ({@link Binaries}). */
    public static Optional<Path> onPath(String name) {
        return Binaries.find(name, System.getenv("PATH"));
    }

    private static Duration cpu(ProcessHandle process) {
        return process.info().totalCpuDuration().orElse(Duration.ZERO);
    }

    /** The last lines of a log, for error messages. */
    public static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return "  " + String.join("\n  ", lines.subList(Math.max(0, lines.size() - 15), lines.size()));
        } catch (IOException e) {
            return "  (cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    private static void sleep(Duration d) throws BenchmarkException {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BenchmarkException("interrupted while starting the cluster");
        }
    }

    /**
     * Stops the gateways (SIGTERM, then kill after {@link #STOP_TIMEOUT}), then Redis (killed: it keeps nothing);
     * idempotent.
     */
    @Override
    public void close() {
        List<Child> toStop;
        RedisServer redisToStop;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            toStop = new ArrayList<>(children);
            redisToStop = redis;
        }
        // Gateways first (they would log Redis errors otherwise), all at once, then Redis.
        toStop.forEach(c -> c.process().destroy());
        toStop.forEach(LocalCluster::stop);
        if (redisToStop != null) {
            redisToStop.close();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException e) {
            // already shutting down: this is the hook
        }
    }

    private static void stop(Child c) {
        Process p = c.process();
        p.destroy();
        try {
            if (!p.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly().waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
