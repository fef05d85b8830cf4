package io.switchboard.loadtest.cluster;

import io.switchboard.loadtest.result.BenchmarkException;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
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
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a benchmark measures, started on loopback as a {@link Spec} says: optionally one {@code redis-server} without
 * persistence, and one or more server processes: Switchboard gateways from the packaged jar (cluster mode when
 * Redis runs, else the embedded default), or the Socket.IO baseline of {@code loadtest/socketio}. It owns those
 * processes: {@link #close()} stops them (also from a JVM shutdown hook, so an interrupted run leaves nothing
 * behind). Each process writes its output to a log file in {@code logDir}.
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
                    ? servers + " gateway JVM" + (servers > 1 ? "s" : "") + " (-Xmx" + heap + ")"
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
    public static final String HOST = "127.0.0.1";

    private static final Pattern LISTENING = Pattern.compile("listening on http://[^:]+:(\\d+)");
    private static final int REDIS_PORT_ATTEMPTS = 5;
    private static final Duration REDIS_START_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration POLL = Duration.ofMillis(50);

    /** One started process, its log and (for gateways) its port. */
    record Child(String name, Process process, Path log, int port) {
        Duration cpu() {
            return process.toHandle().info().totalCpuDuration().orElse(Duration.ZERO);
        }
    }

    private final Spec spec;
    private final Path logDir;
    private final Path redisDir;
    private final Thread shutdownHook = new Thread(this::close, "local-cluster-cleanup");
    private final List<Child> children = new ArrayList<>();
    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2))
            .build();
    private Child redis;
    private final List<Child> gateways = new ArrayList<>();
    private boolean closed;

    private LocalCluster(Spec spec, Path logDir, Path redisDir) {
        this.spec = spec;
        this.logDir = logDir;
        this.redisDir = redisDir;
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
        Path redisServer = !spec.redis()
                ? null
                : onPath("redis-server")
                        .orElseThrow(() -> new BenchmarkException(
                                "redis-server is not on the PATH: install the Debian package redis-server"
                                        + " (apt-get install redis-server)"));
        Path redisDir;
        try {
            Files.createDirectories(logDir);
            redisDir = Files.createTempDirectory("switchboard-bench-redis-");
        } catch (IOException e) {
            throw new BenchmarkException("cannot create " + logDir + " or a temporary directory: " + e.getMessage());
        }
        LocalCluster cluster = new LocalCluster(spec, logDir, redisDir);
        try {
            if (spec.redis()) {
                cluster.startRedis(redisServer);
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
        return redis == null ? Duration.ZERO : redis.cpu();
    }

    public Spec spec() {
        return spec;
    }

    /** Names and CPU time used so far of Redis and every gateway, in start order. */
    public Map<String, Duration> cpu() {
        Map<String, Duration> cpu = new LinkedHashMap<>();
        for (Child c : children) {
            cpu.put(c.name(), c.cpu());
        }
        return cpu;
    }

    /** Null when every process still runs, else a line naming the first that exited and its log. */
    public String deadProcess() {
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

    private void startRedis(Path binary) throws BenchmarkException {
        Path log = logDir.resolve("redis.log");
        String taken = "";
        for (int attempt = 1; attempt <= REDIS_PORT_ATTEMPTS; attempt++) {
            int port = freePort();
            Process p = launch(
                    List.of(
                            binary.toString(),
                            "--port",
                            Integer.toString(port),
                            "--bind",
                            HOST,
                            "--protected-mode",
                            "no",
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                            "--dir",
                            redisDir.toString()),
                    Map.of(),
                    log);
            Child child = new Child("redis", p, log, port);
            synchronized (this) {
                children.add(child);
            }
            long deadline = System.nanoTime() + REDIS_START_TIMEOUT.toNanos();
            while (System.nanoTime() < deadline) {
                if (!p.isAlive()) {
                    break;
                }
                if (answersPing(port)) {
                    redis = child;
                    return;
                }
                sleep(POLL);
            }
            stop(child);
            synchronized (this) {
                children.remove(child);
            }
            String output = tail(log);
            if (!output.contains("Address already in use")) {
                throw new BenchmarkException("redis-server on " + HOST + ":" + port + " did not answer PING within "
                        + REDIS_START_TIMEOUT.toSeconds() + " s; " + log + " ends with:\n" + output);
            }
            taken += (taken.isEmpty() ? "" : ", ") + port;
        }
        throw new BenchmarkException("redis-server could not bind a free port: another process took " + taken);
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
                command = List.of(java, "-Xms" + spec.heap(), "-Xmx" + spec.heap(), "-jar", program.toString());
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
            Process p = launch(command, env, log);
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

    private static Process launch(List<String> command, Map<String, String> env, Path log) throws BenchmarkException {
        ProcessBuilder pb = new ProcessBuilder(command)
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

    private static boolean answersPing(int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(HOST, port), 500);
            socket.setSoTimeout(500);
            OutputStream out = socket.getOutputStream();
            out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = new BufferedInputStream(socket.getInputStream());
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            for (int b; (b = in.read()) != -1 && b != '\r'; ) {
                line.write(b);
            }
            return line.toString(StandardCharsets.US_ASCII).equals("+PONG");
        } catch (IOException e) {
            return false;
        }
    }

    private static int freePort() throws BenchmarkException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(HOST))) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new BenchmarkException("cannot find a free port on " + HOST + ": " + e.getMessage());
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

    public static Optional<Path> onPath(String name) {
        String path = System.getenv("PATH");
        if (path == null) {
            return Optional.empty();
        }
        for (String entry : path.split(File.pathSeparator)) {
            Path candidate = Path.of(entry.isEmpty() ? "." : entry, name);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
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

    /** Stops the gateways (SIGTERM, then kill after {@link #STOP_TIMEOUT}), then Redis; idempotent. */
    @Override
    public void close() {
        List<Child> toStop;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            toStop = new ArrayList<>(children);
        }
        // Gateways first (they would log Redis errors otherwise), all at once, then Redis.
        toStop.stream()
                .filter(c -> !c.name().equals("redis"))
                .forEach(c -> c.process().destroy());
        toStop.stream().filter(c -> !c.name().equals("redis")).forEach(LocalCluster::stop);
        toStop.stream().filter(c -> c.name().equals("redis")).forEach(LocalCluster::stop);
        deleteRecursively(redisDir);
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

    private static void deleteRecursively(Path dir) {
        try (var paths = Files.walk(dir)) {
            paths.sorted((a, b) -> b.getNameCount() - a.getNameCount())
                    .forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temporary directory left behind is harmless
        }
    }
}
