package io.switchboard.gateway.support;

import io.switchboard.testing.Await;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A clustered gateway in its own JVM, so that a test can kill it without any goodbye ({@link #kill}), as a crashed
 * machine would.
 */
public final class GatewayProcess implements AutoCloseable {
    private static final Pattern LISTENING = Pattern.compile("listening on http://[^:]+:(\\d+)");

    private final Process process;
    private final int port;

    private GatewayProcess(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    /** Starts a gateway of node {@code node} on {@code redisUri}, with {@code extra} settings; waits for its port. */
    public static GatewayProcess start(String redisUri, String node, Map<String, String> extra) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                "io.switchboard.gateway.Switchboard");
        pb.environment()
                .keySet()
                .removeIf(k -> k.startsWith("SWITCHBOARD_") || k.equals("PORT") || k.equals("REDIS_URL"));
        pb.environment().putAll(extra);
        pb.environment().put("PORT", "0");
        pb.environment().put("SWITCHBOARD_HOST", "127.0.0.1");
        pb.environment().put("SWITCHBOARD_NODE_ID", node);
        pb.environment().put("REDIS_URL", redisUri);
        pb.environment().put("SWITCHBOARD_JWT_SECRET", TestGateway.JWT_SECRET);
        pb.redirectErrorStream(true);
        Process p = pb.start();
        try {
            return new GatewayProcess(p, portOf(p));
        } catch (Exception e) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            throw e;
        }
    }

    public int port() {
        return port;
    }

    public URI wsUri() {
        return URI.create("ws://127.0.0.1:" + port + "/ws");
    }

    /** Waits until its {@code /health/ready} answers 200: as a load balancer would before sending users. */
    public GatewayProcess awaitReady(Duration timeout) {
        HttpClient http = HttpClient.newHttpClient();
        HttpRequest ready = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health/ready"))
                .timeout(Duration.ofSeconds(5))
                .build();
        Await.until("gateway process on port " + port + " ready", timeout, () -> {
            try {
                return http.send(ready, HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
            } catch (IOException e) {
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        });
        return this;
    }

    /** Kills the JVM at once (SIGKILL) and waits for it to be gone. */
    public void kill() throws InterruptedException {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        kill();
    }

    private static int portOf(Process p) throws Exception {
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        CompletableFuture<Integer> port = CompletableFuture.supplyAsync(() -> {
            try {
                for (String line; (line = out.readLine()) != null; ) {
                    Matcher m = LISTENING.matcher(line);
                    if (m.find()) {
                        int found = Integer.parseInt(m.group(1));
                        Thread drain = new Thread(() -> {
                            try {
                                while (out.readLine() != null) {
                                    // keep the pipe empty so the process never blocks on its log
                                }
                            } catch (IOException ignored) {
                                // the process is gone
                            }
                        });
                        drain.setDaemon(true);
                        drain.start();
                        return found;
                    }
                }
                throw new IllegalStateException("the gateway process exited before listening");
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        return port.get(30, TimeUnit.SECONDS);
    }
}
