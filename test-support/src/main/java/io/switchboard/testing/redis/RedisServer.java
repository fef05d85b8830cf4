package io.switchboard.testing.redis;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;

/**
 * A real {@code redis-server} process for tests, on a free loopback port, with no persistence and its own temporary
 * directory. {@link #kill()} and {@link #restart()} make an outage: a restarted server listens on the same port and
 * is empty. {@link #close()} kills the process and deletes the directory; a JVM shutdown hook kills any process a
 * test left running. The benchmark runner starts its Redis here too ({@link #start(Path)}), and reads the process's
 * CPU time through {@link #process()}.
 */
public final class RedisServer implements AutoCloseable {
    /** How long a start or a restart waits for the process to answer PING. */
    public static final Duration START_TIMEOUT = Duration.ofSeconds(10);
    /** How many free ports a start tries when another process takes the chosen one before redis-server binds it. */
    public static final int PORT_ATTEMPTS = 5;
    /** How long {@link #cli(String...)} waits for redis-cli. */
    public static final Duration CLI_TIMEOUT = Duration.ofSeconds(10);

    static final String HOST = "127.0.0.1";
    private static final Duration POLL = Duration.ofMillis(20);
    private static final Duration RESTART_PAUSE = Duration.ofMillis(200);
    private static final String PORT_TAKEN = "Address already in use";

    /** What a start chose for one attempt: the directory, the client port, a second free port for a cluster bus. */
    record Launch(Path dir, int port, int busPort, TestCertificates certificates) {}

    /** The command line after the redis-server binary for a launch; it may write files into the directory. */
    @FunctionalInterface
    interface Arguments {
        List<String> of(Launch launch) throws IOException;
    }

    private final String role;
    private final Launch launch;
    private final List<String> command;
    private final Path log;
    private Process process;
    private boolean closed;

    private RedisServer(String role, Launch launch, List<String> command, Path log) {
        this.role = role;
        this.launch = launch;
        this.command = List.copyOf(command);
        this.log = log != null ? log : launch.dir().resolve(role + ".log");
    }

    /** Starts a plain server and waits until it answers PING. */
    public static RedisServer start() {
        return start(null);
    }

    /**
     * Like {@link #start()}, with the server's output appended to {@code log} rather than to a file in its temporary
     * directory, so that the log outlives {@link #close()} (null: in the directory).
     */
    public static RedisServer start(Path log) {
        return launch("redis-server", null, RedisServer::plainArguments, log);
    }

    /**
     * Starts a server that listens only for TLS, with a server certificate for 127.0.0.1 and localhost signed by a
     * CA made for it ({@link #caCertificate()}); clients are not asked for certificates.
     */
    public static RedisServer startTls() {
        return startTls(TestCertificates::create);
    }

    static RedisServer startTls(TestCertificates.Maker certificates) {
        return launch("redis-server", certificates, RedisServer::tlsArguments);
    }

    /**
     * Starts {@code redis-server} with {@code arguments} on a free port, trying another one when the chosen port is
     * taken before redis-server binds it, and waits until it answers PING.
     */
    static RedisServer launch(String role, TestCertificates.Maker certificates, Arguments arguments) {
        return launch(role, certificates, arguments, null);
    }

    /** The launch above, the output appended to {@code log} (null: to a file in the server's directory). */
    private static RedisServer launch(String role, TestCertificates.Maker certificates, Arguments arguments, Path log) {
        Path binary = Commands.redisServer();
        Path dir;
        try {
            dir = Commands.temporaryDirectory("switchboard-" + role + "-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary directory for " + role, e);
        }
        try {
            TestCertificates made = certificates == null ? null : certificates.make(dir);
            String taken = "";
            for (int attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
                int[] ports = freePorts(2);
                Launch launch = new Launch(dir, ports[0], ports[1], made);
                List<String> command = new ArrayList<>();
                command.add(binary.toString());
                command.addAll(arguments.of(launch));
                RedisServer server = new RedisServer(role, launch, command, log);
                try {
                    server.run();
                    return server;
                } catch (PortTakenException e) {
                    taken = taken + (taken.isEmpty() ? "" : ", ") + e.getMessage();
                }
            }
            throw new IllegalStateException("cannot start " + role + ": another process took the free port it chose "
                    + PORT_ATTEMPTS + " times (" + taken + ")");
        } catch (IOException e) {
            Commands.deleteRecursively(dir);
            throw new UncheckedIOException("cannot prepare " + role + " in " + dir, e);
        } catch (RuntimeException e) {
            Commands.deleteRecursively(dir);
            throw e;
        }
    }

    static List<String> plainArguments(Launch launch) {
        List<String> args = new ArrayList<>(List.of("--port", Integer.toString(launch.port())));
        args.addAll(commonArguments(launch));
        return args;
    }

    private static List<String> tlsArguments(Launch launch) {
        TestCertificates certificates = launch.certificates();
        List<String> args = new ArrayList<>(List.of(
                "--port",
                "0",
                "--tls-port",
                Integer.toString(launch.port()),
                "--tls-cert-file",
                certificates.serverCertificate().toString(),
                "--tls-key-file",
                certificates.serverKey().toString(),
                "--tls-ca-cert-file",
                certificates.caCertificate().toString(),
                "--tls-auth-clients",
                "no"));
        args.addAll(commonArguments(launch));
        return args;
    }

    private static List<String> commonArguments(Launch launch) {
        return List.of(
                "--bind",
                HOST,
                "--protected-mode",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                launch.dir().toString());
    }

    public int port() {
        return launch.port();
    }

    /** {@code redis://127.0.0.1:PORT}, or {@code rediss://127.0.0.1:PORT} for a TLS server. */
    public String uri() {
        return (isTls() ? "rediss://" : "redis://") + HOST + ":" + port();
    }

    /** The PEM certificate of the CA that signed a TLS server's certificate, for a client to trust. */
    public Path caCertificate() {
        if (!isTls()) {
            throw new IllegalStateException(role + " on " + HOST + ":" + port()
                    + " is plain: only a server from RedisServer.startTls() has a CA certificate");
        }
        return launch.certificates().caCertificate();
    }

    public synchronized boolean isRunning() {
        return process != null && process.isAlive();
    }

    /**
     * The process last started, for its pid and CPU time ({@link ProcessHandle#info()}), also once it has exited by
     * itself; empty after {@link #kill()} and {@link #close()}.
     */
    public synchronized Optional<ProcessHandle> process() {
        return Optional.ofNullable(process).map(Process::toHandle);
    }

    /** The exit code of a process that exited by itself (a crash, not {@link #kill()}); empty while it runs. */
    public synchronized OptionalInt exitCode() {
        return process == null || process.isAlive() ? OptionalInt.empty() : OptionalInt.of(process.exitValue());
    }

    /** The file the server's output goes to. */
    public Path log() {
        return log;
    }

    /** Kills the process with SIGKILL, as a crash would, and waits for it to exit; the port stays reserved for it. */
    public synchronized void kill() {
        if (process != null) {
            Commands.kill(process, role + " on " + HOST + ":" + port());
            process = null;
        }
    }

    /**
     * Kills the process if it runs, starts it again on the same port, empty, and waits until it answers PING. A
     * cluster node keeps its {@code nodes.conf}, in its directory, so it comes back as the same node of its cluster.
     */
    public synchronized void restart() {
        if (closed) {
            throw new IllegalStateException(role + " on " + HOST + ":" + port() + " is closed: it cannot restart");
        }
        kill();
        for (int attempt = 1; ; attempt++) {
            try {
                run();
                return;
            } catch (PortTakenException e) {
                // A client reconnecting to the dead port can briefly hold it (a TCP self-connect): wait it out.
                if (attempt == PORT_ATTEMPTS) {
                    throw new IllegalStateException("cannot restart " + role + " on " + HOST + ":" + port()
                            + ": another process held the port through " + PORT_ATTEMPTS + " attempts "
                            + RESTART_PAUSE.toMillis() + " ms apart");
                }
                sleep(RESTART_PAUSE);
            }
        }
    }

    /** Runs {@code redis-cli} against this server with {@code args} and returns its stdout, trimmed. */
    public String cli(String... args) {
        List<String> command =
                new ArrayList<>(List.of(Commands.redisCli().toString(), "-h", HOST, "-p", Integer.toString(port())));
        if (isTls()) {
            command.addAll(List.of("--tls", "--cacert", caCertificate().toString()));
        }
        command.addAll(List.of(args));
        return Commands.check(command, CLI_TIMEOUT);
    }

    /** Kills the process and deletes its directory. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            kill();
        } finally {
            Commands.deleteRecursively(launch.dir());
        }
    }

    @Override
    public String toString() {
        return role + " " + uri();
    }

    private boolean isTls() {
        return launch.certificates() != null;
    }

    private synchronized void run() {
        long logStart;
        try {
            logStart = Files.exists(log) ? Files.size(log) : 0;
            process = Commands.start(command, launch.dir(), log);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", command), e);
        }
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        Exception lastProbe = null;
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                int exit = process.exitValue();
                kill();
                String output = logSince(logStart);
                if (output.contains(PORT_TAKEN)) {
                    throw new PortTakenException(HOST + ":" + port());
                }
                throw new IllegalStateException(role + " on " + HOST + ":" + port() + " exited with code " + exit
                        + " before answering PING; it wrote:\n" + output.strip());
            }
            try {
                long pid = probe();
                if (pid == process.pid()) {
                    return;
                }
                // Another process answers on the port: ours will fail to bind and exit, and the loop says so.
                lastProbe = new IllegalStateException("process " + pid + " answers on the port");
            } catch (IOException e) {
                lastProbe = e;
            }
            sleep(POLL);
        }
        kill();
        throw new IllegalStateException(role + " on " + HOST + ":" + port() + " did not answer PING within "
                + START_TIMEOUT.toSeconds() + " s (last attempt: " + lastProbe + "); it wrote:\n"
                + logSince(logStart).strip());
    }

    /** Sends PING and {@code INFO server}, and returns the process id of whatever answered. */
    private long probe() throws IOException {
        try (Socket socket = connect()) {
            OutputStream out = socket.getOutputStream();
            InputStream in = new BufferedInputStream(socket.getInputStream());
            out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String pong = readLine(in);
            if (!pong.equals("+PONG")) {
                throw new IOException("PING answered " + pong);
            }
            out.write("INFO server\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String header = readLine(in);
            if (!header.startsWith("$")) {
                throw new IOException("INFO server answered " + header);
            }
            byte[] body = in.readNBytes(Integer.parseInt(header.substring(1)));
            for (String line : new String(body, StandardCharsets.US_ASCII).split("\r\n")) {
                if (line.startsWith("process_id:")) {
                    return Long.parseLong(line.substring("process_id:".length()).trim());
                }
            }
            throw new IOException("INFO server has no process_id");
        }
    }

    private Socket connect() throws IOException {
        Socket socket = new Socket();
        try {
            socket.connect(new InetSocketAddress(HOST, port()), 1000);
            socket.setSoTimeout(1000);
            if (!isTls()) {
                return socket;
            }
            SSLSocket tls = (SSLSocket)
                    launch.certificates().clientContext().getSocketFactory().createSocket(socket, HOST, port(), true);
            SSLParameters parameters = tls.getSSLParameters();
            parameters.setEndpointIdentificationAlgorithm("HTTPS");
            tls.setSSLParameters(parameters);
            tls.startHandshake();
            return tls;
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    private static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) != '\n') {
            if (b == -1) {
                throw new IOException("connection closed after " + line);
            }
            if (b != '\r') {
                line.write(b);
            }
        }
        return line.toString(StandardCharsets.US_ASCII);
    }

    private String logSince(long offset) {
        try {
            byte[] all = Files.readAllBytes(log);
            int from = (int) Math.min(offset, all.length);
            return new String(all, from, all.length - from, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    /** {@code count} distinct ports that were free on the loopback interface a moment ago. */
    static int[] freePorts(int count) {
        List<ServerSocket> sockets = new ArrayList<>();
        try {
            int[] ports = new int[count];
            for (int i = 0; i < count; i++) {
                ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName(HOST));
                sockets.add(socket);
                ports[i] = socket.getLocalPort();
            }
            return ports;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot find a free port on " + HOST, e);
        } finally {
            for (ServerSocket socket : sockets) {
                try {
                    socket.close();
                } catch (IOException ignored) {
                    // Closing a listening socket that accepted nothing does not fail in a way that matters here.
                }
            }
        }
    }

    static void sleep(Duration duration) {
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for redis", e);
        }
    }

    /** The port chosen for a start was taken by another process before redis-server could bind it. */
    private static final class PortTakenException extends RuntimeException {
        PortTakenException(String address) {
            super(address, null, false, false);
        }
    }
}
