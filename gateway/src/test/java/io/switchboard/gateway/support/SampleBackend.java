package io.switchboard.gateway.support;

import io.switchboard.testing.Binaries;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The repository's sample backend ({@code samples/backend/server.mjs}, docs/backend.md) in its own Node.js process,
 * as its documented command runs it: its lines are kept for assertions.
 */
public final class SampleBackend implements AutoCloseable {
    private static final Pattern LISTENING = Pattern.compile("sample backend listening on http://[^:]+:(\\d+)");

    private final Process process;
    private final int port;
    private final List<String> lines;

    private SampleBackend(Process process, int port, List<String> lines) {
        this.process = process;
        this.port = port;
        this.lines = lines;
    }

    /** Starts it on a free port with {@code env} added; waits until it listens. */
    public static SampleBackend start(Map<String, String> env) throws Exception {
        Path node = Binaries.require("node", "node (Node.js) is not installed: the sample backend needs it");
        ProcessBuilder pb = new ProcessBuilder(node.toString(), script().toString());
        pb.environment().putAll(env);
        pb.environment().put("PORT", "0");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        List<String> lines = new CopyOnWriteArrayList<>();
        CompletableFuture<Integer> port = new CompletableFuture<>();
        Thread reader = new Thread(
                () -> {
                    try (BufferedReader out =
                            new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                        for (String line; (line = out.readLine()) != null; ) {
                            lines.add(line);
                            Matcher m = LISTENING.matcher(line);
                            if (m.find()) {
                                port.complete(Integer.parseInt(m.group(1)));
                            }
                        }
                        port.completeExceptionally(new IllegalStateException("the sample backend exited: " + lines));
                    } catch (IOException e) {
                        port.completeExceptionally(e);
                    }
                },
                "sample-backend-output");
        reader.setDaemon(true);
        reader.start();
        try {
            return new SampleBackend(p, port.get(30, TimeUnit.SECONDS), lines);
        } catch (Exception e) {
            p.destroyForcibly();
            throw e;
        }
    }

    private static Path script() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path s = dir.resolve("samples/backend/server.mjs");
            if (Files.isRegularFile(s)) {
                return s;
            }
        }
        throw new IllegalStateException(
                "samples/backend/server.mjs not found above " + Path.of("").toAbsolutePath());
    }

    /** The base URL of its hooks, for {@code SWITCHBOARD_HOOK_URL}. */
    public String hookUrl() {
        return "http://127.0.0.1:" + port + "/switchboard";
    }

    /** The URL of its events endpoint, for {@code SWITCHBOARD_WEBHOOK_URL}. */
    public String eventsUrl() {
        return "http://127.0.0.1:" + port + "/events";
    }

    /** What it printed so far. */
    public List<String> lines() {
        return List.copyOf(lines);
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
    }
}
