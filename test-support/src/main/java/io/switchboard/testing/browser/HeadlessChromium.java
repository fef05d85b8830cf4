package io.switchboard.testing.browser;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.MissingNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.switchboard.testing.Binaries;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.netty.http.client.HttpClient;
import reactor.netty.http.client.WebsocketClientSpec;

/**
 * A headless Chromium for the browser tests, driven over the Chrome DevTools Protocol: one browser process with a
 * fresh profile, pages opened in it, JavaScript evaluated in them (promises awaited, the value returned as JSON, a
 * JavaScript exception turned into an {@link AssertionError}), and what each page's console said kept to explain
 * a failure. Closing it kills the browser's process tree and deletes the profile. One per test class: launching
 * takes a second or two.
 */
public final class HeadlessChromium implements AutoCloseable {
    public static final String NOT_INSTALLED = "chromium is not installed: run ./scripts/test, which installs the"
            + " Debian package chromium, or apt-get install chromium";
    /** The longest wait for the browser to start, for one DevTools call, and for a page to load. */
    public static final Duration TIMEOUT = Duration.ofSeconds(30);

    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(5);
    private static final Pattern LISTENING = Pattern.compile("DevTools listening on (ws://\\S+)");
    private static final int MAX_FRAME = 64 << 20;
    private static final int OUTPUT_LINES = 40;
    private static final int CONSOLE_LINES = 300;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Process process;
    private final Path profile;
    private final Thread killOnExit;
    private final Deque<String> output = new ArrayDeque<>();
    private final AtomicLong ids = new AtomicLong();
    private final Map<Long, CompletableFuture<JsonNode>> calls = new ConcurrentHashMap<>();
    private final Map<String, Page> pages = new ConcurrentHashMap<>();
    private final Sinks.Many<String> outbound = Sinks.many().unicast().onBackpressureBuffer();
    private volatile Disposable connection;
    private volatile String lost;

    private HeadlessChromium(Process process, Path profile) {
        this.process = process;
        this.profile = profile;
        this.killOnExit = new Thread(() -> kill(process.descendants().toList()), "chromium-kill-on-exit");
        Runtime.getRuntime().addShutdownHook(killOnExit);
    }

    /**
     * Starts {@code chromium} (from the PATH) headless with a fresh profile and connects to its DevTools endpoint.
     *
     * When there is no chromium on the PATH, the test is skipped with {@link #NOT_INSTALLED}, or fails with it
     * (an {@link IllegalStateException}) under {@code -Dswitchboard.requireBinaries=true}: see {@link Binaries}.
     */
    public static HeadlessChromium launch() {
        return launch(List.of());
    }

    /**
     * {@link #launch()} with {@code extraFlags} added to the command line, such as
     * {@code --use-fake-device-for-media-stream} for a camera and a microphone that exist in no machine.
     */
    public static HeadlessChromium launch(List<String> extraFlags) {
        Path executable = Binaries.require("chromium", NOT_INSTALLED);
        Path profile;
        Process process;
        try {
            profile = Files.createTempDirectory("switchboard-chromium-");
            List<String> command = new ArrayList<>(List.of(
                    executable.toString(),
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    // without these Chromium calls home (updates, sync): noise, refused on a closed network
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    // timers run on time in every page, whether the browser thinks it is visible or not
                    "--disable-background-timer-throttling",
                    "--disable-renderer-backgrounding",
                    "--disable-backgrounding-occluded-windows",
                    "--remote-debugging-port=0",
                    "--user-data-dir=" + profile));
            command.addAll(extraFlags);
            command.add("about:blank");
            ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD);
            // its crash handler's database too, instead of ~/.config/chromium
            builder.environment()
                    .put("XDG_CONFIG_HOME", profile.resolve("config").toString());
            process = builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + executable, e);
        }
        HeadlessChromium browser = new HeadlessChromium(process, profile);
        try {
            browser.connect(browser.devtoolsUrl());
            return browser;
        } catch (RuntimeException | AssertionError e) {
            browser.close();
            throw e;
        }
    }

    /** Reads the browser's stderr for good (keeping its last lines), and returns the DevTools URL it announces. */
    private String devtoolsUrl() {
        CompletableFuture<String> url = new CompletableFuture<>();
        Thread reader = new Thread(
                () -> {
                    try (BufferedReader in = new BufferedReader(
                            new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
                        String line;
                        while ((line = in.readLine()) != null) {
                            synchronized (output) {
                                output.addLast(line);
                                if (output.size() > OUTPUT_LINES) {
                                    output.removeFirst();
                                }
                            }
                            Matcher m = LISTENING.matcher(line);
                            if (m.find()) {
                                url.complete(m.group(1));
                            }
                        }
                    } catch (IOException e) {
                        // the process is gone; what it said is kept
                    }
                    url.completeExceptionally(
                            new AssertionError("chromium exited before its DevTools endpoint was up" + output()));
                },
                "chromium-stderr");
        reader.setDaemon(true);
        reader.start();
        return await(url, TIMEOUT, "chromium to announce its DevTools endpoint");
    }

    private void connect(String url) {
        Sinks.Empty<Void> open = Sinks.empty();
        connection = HttpClient.newConnection()
                .websocket(WebsocketClientSpec.builder()
                        .maxFramePayloadLength(MAX_FRAME)
                        .build())
                .uri(url)
                .handle((in, out) -> {
                    open.tryEmitEmpty();
                    Mono<Void> received = in.aggregateFrames(MAX_FRAME)
                            .receiveFrames()
                            .ofType(TextWebSocketFrame.class)
                            .doOnNext(f -> received(f.text()))
                            .then();
                    return out.sendString(outbound.asFlux()).then().and(received);
                })
                .subscribe(
                        null,
                        e -> {
                            open.tryEmitError(e);
                            lost("the DevTools connection failed: " + e);
                        },
                        () -> lost("the DevTools connection closed"));
        await(open.asMono().toFuture(), TIMEOUT, "the DevTools connection to " + url);
    }

    private void lost(String why) {
        lost = why;
        calls.values().forEach(c -> c.completeExceptionally(new AssertionError(why + output())));
    }

    private void received(String text) {
        JsonNode message;
        try {
            message = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            return;
        }
        if (message.has("id")) {
            CompletableFuture<JsonNode> call = calls.remove(message.get("id").asLong());
            if (call != null) {
                call.complete(message);
            }
            return;
        }
        Page page = pages.get(message.path("sessionId").asText());
        if (page != null) {
            page.event(message.path("method").asText(), message.path("params"));
        }
    }

    /** Sends one DevTools command (to a page's session when {@code sessionId} is not null) and returns its result. */
    private JsonNode call(String sessionId, String method, ObjectNode params, Duration timeout) {
        long id = ids.incrementAndGet();
        ObjectNode message = JSON.createObjectNode().put("id", id).put("method", method);
        message.set("params", params);
        if (sessionId != null) {
            message.put("sessionId", sessionId);
        }
        CompletableFuture<JsonNode> reply = new CompletableFuture<>();
        calls.put(id, reply);
        if (lost != null) {
            calls.remove(id);
            throw new AssertionError(lost + output());
        }
        synchronized (outbound) {
            outbound.tryEmitNext(message.toString());
        }
        JsonNode answer;
        try {
            answer = await(reply, timeout, "DevTools " + method);
        } finally {
            calls.remove(id);
        }
        if (answer.has("error")) {
            throw new AssertionError("DevTools " + method + " failed: " + answer.get("error"));
        }
        return answer.path("result");
    }

    private static ObjectNode params() {
        return JSON.createObjectNode();
    }

    /** A new tab, navigated to {@code url} and loaded, its console and exceptions recorded. */
    public Page open(URI url) {
        String targetId = call(null, "Target.createTarget", params().put("url", "about:blank"), TIMEOUT)
                .path("targetId")
                .asText();
        String sessionId = call(
                        null,
                        "Target.attachToTarget",
                        params().put("targetId", targetId).put("flatten", true),
                        TIMEOUT)
                .path("sessionId")
                .asText();
        Page page = new Page(targetId, sessionId);
        pages.put(sessionId, page);
        page.call("Runtime.enable", params());
        page.call("Log.enable", params());
        page.call("Page.enable", params());
        page.navigate(url);
        return page;
    }

    private <T> T await(CompletableFuture<T> future, Duration timeout, String what) {
        try {
            return future.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError("no answer within " + timeout + " from " + what + output());
        } catch (ExecutionException e) {
            if (e.getCause() instanceof AssertionError a) {
                throw a;
            }
            throw new AssertionError(what + " failed: " + e.getCause() + output(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted waiting for " + what);
        }
    }

    /** The browser's last lines of output, to append to a failure. */
    private String output() {
        synchronized (output) {
            return output.isEmpty() ? "" : "\nchromium's last output:\n  " + String.join("\n  ", output);
        }
    }

    @Override
    public void close() {
        List<ProcessHandle> tree = process.descendants().toList();
        Disposable c = connection;
        if (c != null) {
            if (lost == null) {
                try {
                    // the browser ends its own processes and finishes writing its profile
                    call(null, "Browser.close", params(), CLOSE_TIMEOUT);
                } catch (AssertionError e) {
                    // it closed the connection before answering, or it hangs: killed below either way
                }
            }
            c.dispose();
        }
        kill(tree);
        try {
            Runtime.getRuntime().removeShutdownHook(killOnExit);
        } catch (IllegalStateException e) {
            // the JVM is already shutting down, and the hook does the same
        }
    }

    /**
     * Kills the browser and {@code tree} (its processes, known as its descendants only while it lives), and deletes
     * the profile. Only the browser is waited for: waiting for a process that is not a child polls, slowly, and a
     * killed process writes nothing more.
     */
    private void kill(List<ProcessHandle> tree) {
        tree.forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        try (Stream<Path> files = Files.walk(profile)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            // a temp directory the system cleans up eventually
        }
    }

    /** One tab of the browser. */
    public final class Page implements AutoCloseable {
        private final String targetId;
        private final String sessionId;
        private final Deque<String> console = new ArrayDeque<>();
        private final List<String> problems = new ArrayList<>();
        private final Map<String, CompletableFuture<JsonNode>> nextEvent = new ConcurrentHashMap<>();

        private Page(String targetId, String sessionId) {
            this.targetId = targetId;
            this.sessionId = sessionId;
        }

        private JsonNode call(String method, ObjectNode params) {
            return HeadlessChromium.this.call(sessionId, method, params, TIMEOUT);
        }

        /** Loads {@code url} in this tab and returns once its load event fired. */
        public void navigate(URI url) {
            CompletableFuture<JsonNode> loaded = new CompletableFuture<>();
            nextEvent.put("Page.loadEventFired", loaded);
            JsonNode result = call("Page.navigate", params().put("url", url.toString()));
            if (result.hasNonNull("errorText")) {
                throw new AssertionError(
                        "cannot load " + url + ": " + result.get("errorText").asText());
            }
            await(loaded, TIMEOUT, "the load of " + url);
        }

        /**
         * Runs {@code body} as the body of an async function in the page and returns its result as JSON (missing for
         * undefined): a body may {@code await} and {@code return}. A thrown exception or a rejected promise fails
         * with an {@link AssertionError} carrying the JavaScript message and stack, and the page's console.
         */
        public JsonNode evaluate(String body) {
            return evaluate(body, TIMEOUT);
        }

        public JsonNode evaluate(String body, Duration timeout) {
            JsonNode result = HeadlessChromium.this.call(
                    sessionId,
                    "Runtime.evaluate",
                    params().put("expression", "(async () => {\n" + body + "\n})()")
                            .put("awaitPromise", true)
                            .put("returnByValue", true),
                    timeout);
            JsonNode thrown = result.path("exceptionDetails");
            if (!thrown.isMissingNode()) {
                throw new AssertionError("JavaScript failed: " + describe(thrown) + consoleText());
            }
            JsonNode value = result.path("result").path("value");
            return value.isMissingNode() ? MissingNode.getInstance() : value;
        }

        /** Writes a PNG of what the tab shows now to {@code file} (its directories created) and returns it. */
        public Path screenshot(Path file) {
            // a tab in the background (another page of this browser was opened after it) commits no new frame,
            // and a capture of it can wait for one forever: bring it to the front first
            call("Page.bringToFront", params());
            JsonNode shot = call("Page.captureScreenshot", params().put("format", "png"));
            try {
                Files.createDirectories(file.toAbsolutePath().getParent());
                Files.write(
                        file,
                        java.util.Base64.getDecoder().decode(shot.path("data").asText()));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the screenshot " + file, e);
            }
            return file;
        }

        /** Types {@code text} into the focused element, as a keyboard would (input events, no key codes). */
        public void type(String text) {
            call("Input.insertText", params().put("text", text));
        }

        /** Presses and releases Enter (13) or Tab (9) on the focused element, as a keyboard would. */
        public void press(String key) {
            int code = switch (key) {
                case "Enter" -> 13;
                case "Tab" -> 9;
                default -> throw new IllegalArgumentException("no key code known for " + key);
            };
            ObjectNode down = params().put("type", "keyDown")
                    .put("key", key)
                    .put("code", key)
                    .put("windowsVirtualKeyCode", code)
                    .put("nativeVirtualKeyCode", code);
            if (key.equals("Enter")) {
                down.put("text", "\r").put("unmodifiedText", "\r");
            }
            call("Input.dispatchKeyEvent", down);
            call(
                    "Input.dispatchKeyEvent",
                    params().put("type", "keyUp")
                            .put("key", key)
                            .put("code", key)
                            .put("windowsVirtualKeyCode", code)
                            .put("nativeVirtualKeyCode", code));
        }

        /** Emulates a screen of {@code width} by {@code height} CSS pixels, a phone's when {@code mobile}. */
        public void viewport(int width, int height, boolean mobile) {
            call(
                    "Emulation.setDeviceMetricsOverride",
                    params().put("width", width)
                            .put("height", height)
                            .put("deviceScaleFactor", 1)
                            .put("mobile", mobile));
        }

        /** Everything the page's console and the browser's log said about this page so far (the last lines). */
        public List<String> console() {
            synchronized (console) {
                return List.copyOf(console);
            }
        }

        /** The page's uncaught exceptions and its console's errors and warnings. */
        public List<String> problems() {
            synchronized (console) {
                return List.copyOf(problems);
            }
        }

        /** The console as text to append to a failure message. */
        public String consoleText() {
            List<String> lines = console();
            return lines.isEmpty()
                    ? "\n(the browser console is empty)"
                    : "\nbrowser console:\n  " + String.join("\n  ", lines);
        }

        private void event(String method, JsonNode params) {
            switch (method) {
                case "Runtime.consoleAPICalled" -> {
                    String type = params.path("type").asText();
                    List<String> args = new ArrayList<>();
                    params.path("args")
                            .forEach(a -> args.add(
                                    a.has("value")
                                            ? (a.get("value").isTextual()
                                                    ? a.get("value").asText()
                                                    : a.get("value").toString())
                                            : a.path("description")
                                                    .asText(a.path("unserializableValue")
                                                            .asText(a.path("type")
                                                                    .asText()))));
                    log(
                            "console." + type + ": " + String.join(" ", args),
                            type.equals("error") || type.equals("warning") || type.equals("assert"));
                }
                case "Runtime.exceptionThrown" -> log("uncaught: " + describe(params.path("exceptionDetails")), true);
                case "Log.entryAdded" -> {
                    JsonNode entry = params.path("entry");
                    log(
                            entry.path("source").asText() + " "
                                    + entry.path("level").asText() + ": "
                                    + entry.path("text").asText(),
                            false);
                }
                default -> {
                    CompletableFuture<JsonNode> waiting = nextEvent.remove(method);
                    if (waiting != null) {
                        waiting.complete(params);
                    }
                }
            }
        }

        private void log(String line, boolean problem) {
            synchronized (console) {
                console.addLast(line);
                if (console.size() > CONSOLE_LINES) {
                    console.removeFirst();
                }
                if (problem && problems.size() < CONSOLE_LINES) {
                    problems.add(line);
                }
            }
        }

        /** Closes the tab; one that cannot be closed goes with the browser. */
        @Override
        public void close() {
            pages.remove(sessionId);
            if (lost == null) {
                try {
                    HeadlessChromium.this.call(
                            null, "Target.closeTarget", params().put("targetId", targetId), CLOSE_TIMEOUT);
                } catch (AssertionError e) {
                    // the test's own failure, if any, says more
                }
            }
        }
    }

    /** A JavaScript exception as its stack when it has one, else its value or the DevTools text. */
    private static String describe(JsonNode exceptionDetails) {
        JsonNode exception = exceptionDetails.path("exception");
        if (exception.hasNonNull("description")) {
            return exception.get("description").asText();
        }
        if (exception.has("value")) {
            return exception.get("value").toString();
        }
        return exceptionDetails.path("text").asText();
    }
}
