package io.switchboard.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardClientOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The packaged jar started as the README says: bad settings refused up front, good ones serving. */
class StartupIT {
    private static final Duration T = Duration.ofSeconds(30);
    private static final Pattern LISTENING = Pattern.compile("listening on http://[^:]+:(\\d+)");

    private static Process start(Map<String, String> env) throws IOException {
        Path jar = Path.of(System.getProperty("switchboard.jar", "target/switchboard-gateway.jar"));
        assertThat(jar).as("the packaged gateway").exists();
        ProcessBuilder pb = new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", jar.toString());
        pb.environment().keySet().removeIf(k -> k.startsWith("SWITCHBOARD_") || k.equals("PORT"));
        pb.environment().putAll(env);
        return pb.start();
    }

    @Test
    @DisplayName("bad settings: exit status 2 and one line per bad setting naming it and its value")
    void badConfigurationFailsWithOneLinePerProblem() throws Exception {
        Process p = start(Map.of("PORT", "eighty", "SWITCHBOARD_RATE", "-5", "SWITCHBOARD_JWT_SECRET", "short"));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
        assertThat(p.waitFor(T.toSeconds(), TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(2);
        String text = err.get(T.toSeconds(), TimeUnit.SECONDS);
        assertThat(text)
                .contains("PORT=eighty")
                .contains("SWITCHBOARD_RATE=-5")
                .contains("SWITCHBOARD_JWT_SECRET")
                .doesNotContain("short");
    }

    @Test
    @DisplayName("good settings: it serves health, metrics and WebSocket clients, masks secrets in its log, and"
            + " drains and exits 0 on SIGTERM")
    void startsAndServes() throws Exception {
        Process p = start(Map.of(
                "PORT",
                "0",
                "SWITCHBOARD_HOST",
                "127.0.0.1",
                "SWITCHBOARD_NODE_ID",
                "gw-it",
                "SWITCHBOARD_API_KEY",
                "it-api-key-0123456789",
                "SWITCHBOARD_JWT_SECRET",
                "it-secret-it-secret-it-secret-it-secret",
                "SWITCHBOARD_DRAIN_MS",
                "500",
                "SWITCHBOARD_ICE_SERVERS",
                "[{\"urls\":\"turn:turn.example.com:3478\",\"username\":\"it\","
                        + "\"credential\":\"it-turn-credential\"}]"));
        List<String> lines = new ArrayList<>();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            CompletableFuture<Integer> port = CompletableFuture.supplyAsync(() -> {
                try {
                    for (String line; (line = out.readLine()) != null; ) {
                        synchronized (lines) {
                            lines.add(line);
                        }
                        Matcher m = LISTENING.matcher(line);
                        if (m.find()) {
                            return Integer.parseInt(m.group(1));
                        }
                    }
                    throw new IllegalStateException("the gateway exited before listening");
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            int bound = port.get(T.toSeconds(), TimeUnit.SECONDS);
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> health = http.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + bound + "/health"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(health.statusCode()).isEqualTo(200);
            assertThat(health.body()).contains("\"status\":\"UP\"").contains("\"node\":\"gw-it\"");
            HttpResponse<String> page = http.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + bound + "/"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(page.statusCode()).as("the demo page, from the jar").isEqualTo(200);
            assertThat(page.body()).contains("id=\"status\"").contains("/demo.js");
            HttpResponse<String> demoConfig = http.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + bound + "/demo/config"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(demoConfig.body()).contains("turn:turn.example.com:3478").contains("it-turn-credential");
            try (SwitchboardClient c = SwitchboardClient.connect(
                            SwitchboardClientOptions.of(URI.create("ws://127.0.0.1:" + bound + "/ws")))
                    .block(T)) {
                assertThat(c.welcome().node()).isEqualTo("gw-it");
                assertThat(c.publish("public:it", "1").block(T).offset()).isEqualTo(1L);
            }
            synchronized (lines) {
                assertThat(String.join("\n", lines))
                        .contains("SWITCHBOARD_API_KEY=****")
                        .doesNotContain("it-api-key-0123456789")
                        .doesNotContain("it-secret-it-secret")
                        .contains("turn:turn.example.com:3478")
                        .doesNotContain("it-turn-credential");
            }
            p.destroy();
            assertThat(p.waitFor(T.toSeconds(), TimeUnit.SECONDS))
                    .as("exits on SIGTERM")
                    .isTrue();
            assertThat(p.exitValue())
                    .as("a drain on SIGTERM ends with status 0")
                    .isZero();
        } finally {
            p.destroyForcibly();
        }
    }

    private static String read(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
