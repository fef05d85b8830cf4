package io.switchboard.gateway.browser;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.browser.HeadlessChromium;
import io.switchboard.testing.net.TcpProxy;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.AfterTestExecutionCallback;
import org.junit.jupiter.api.extension.RegisterExtension;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import reactor.netty.http.server.WebsocketServerSpec;
import reactor.netty.http.websocket.WebsocketOutbound;

/**
 * The browser client {@code /switchboard.js} in a headless Chromium, against a real gateway, through a
 * {@link TcpProxy} where the network has to fail: the handshake and requests (docs/protocol.md sections 2, 4, 5),
 * reconnecting with resume and recovery, giving up, backoff (section 8) and the client's heartbeat rule (section 3).
 * Each test drives one page of the gateway's origin that imported the module; the page's {@code Recorder}
 * (recorder.js) lets the test await the client's events.
 */
class BrowserClientIntegrationTests {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String RECORDER = resource("io/switchboard/gateway/browser/recorder.js");
    private static final String CHANNEL = "public:x";

    private static HeadlessChromium chromium;

    private TestGateway gw;
    private TcpProxy proxy;
    private HeadlessChromium.Page page;
    private DisposableServer scripted;

    @RegisterExtension
    final AfterTestExecutionCallback consoleOnFailure = context -> {
        if (context.getExecutionException().isPresent() && page != null) {
            System.out.println(context.getDisplayName() + ":" + page.consoleText());
        }
    };

    @BeforeAll
    static void launch() {
        chromium = HeadlessChromium.launch();
    }

    @AfterAll
    static void quit() {
        if (chromium != null) {
            chromium.close();
        }
    }

    @AfterEach
    void stop() {
        if (page != null) {
            page.close();
        }
        if (proxy != null) {
            proxy.close();
        }
        if (scripted != null) {
            scripted.disposeNow(Duration.ofSeconds(5));
        }
        if (gw != null) {
            gw.close();
        }
    }

    private static String resource(String path) {
        try (InputStream in =
                BrowserClientIntegrationTests.class.getClassLoader().getResourceAsStream(path)) {
            assertThat(in).as("classpath resource %s", path).isNotNull();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code value} as a JavaScript (JSON) literal. */
    private static String js(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
    }

    private static List<Integer> ints(JsonNode array) {
        List<Integer> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asInt()));
        return out;
    }

    private static List<String> names(JsonNode lifecycle) {
        List<String> out = new ArrayList<>();
        lifecycle.forEach(e -> out.add(e.path("name").asText()));
        return out;
    }

    /** A tab on the gateway's own origin, with the module imported as {@code sb} and recorder.js loaded. */
    private void openPage() {
        page = chromium.open(gw.httpUri("/health/live"));
        page.evaluate(RECORDER);
        page.evaluate("globalThis.sb = await import('/switchboard.js');");
    }

    /**
     * Makes {@code client} with {@code options} (a JavaScript object literal) and its Recorder {@code rec}, runs
     * {@code setup} (JavaScript), connects, and returns the user id of the welcome.
     */
    private String connectClient(String options, String setup) {
        return page.evaluate("""
                globalThis.client = new sb.SwitchboardClient(%s);
                globalThis.rec = new Recorder(client);
                %s
                return (await client.connect()).user;
                """.formatted(options, setup)).asText();
    }

    private static void assertOk(HttpResponse<String> res) {
        assertThat(res.statusCode()).as("%s answered %s", res.uri(), res.body()).isEqualTo(200);
    }

    @Test
    @DisplayName("section 9: /switchboard.js and /switchboard.d.ts are served with their types, and the module imports")
    void servesModuleAndDeclarations() {
        gw = TestGateway.start();

        HttpResponse<String> module = gw.get("/switchboard.js");
        HttpResponse<String> types = gw.get("/switchboard.d.ts");

        assertThat(module.statusCode()).isEqualTo(200);
        assertThat(module.headers().firstValue("Content-Type")).hasValue("text/javascript; charset=utf-8");
        assertThat(module.headers().firstValue("Cache-Control")).hasValue("no-cache");
        assertThat(module.body()).isEqualTo(resource("static/switchboard.js"));
        assertThat(types.statusCode()).isEqualTo(200);
        assertThat(types.headers().firstValue("Content-Type")).hasValue("application/typescript; charset=utf-8");
        assertThat(types.body())
                .isEqualTo(resource("static/switchboard.d.ts"))
                .contains("export declare class SwitchboardClient");

        assertThat(module.headers().firstValue("Access-Control-Allow-Origin")).hasValue("*");
        assertThat(module.headers().firstValueAsLong("Content-Length"))
                .hasValue(module.body().getBytes(StandardCharsets.UTF_8).length);

        openPage();
        JsonNode exports = page.evaluate("return Object.keys(sb).sort();");
        assertThat(exports)
                .extracting(JsonNode::asText)
                .containsExactly("CloseCodes", "SwitchboardClient", "backoffDelay", "shouldReconnect");
        // localhost and 127.0.0.1 are two origins: a page elsewhere imports the module from the gateway
        page.navigate(URI.create("http://localhost:" + gw.port() + "/health/live"));
        JsonNode crossOrigin = page.evaluate("return Object.keys(await import(%s)).length;"
                .formatted(js(gw.httpUri("/switchboard.js").toString())));
        assertThat(crossOrigin.asInt()).isEqualTo(4);
        assertThat(page.problems()).as("console errors and uncaught exceptions").isEmpty();
    }

    @Test
    @DisplayName("section 8: CloseCodes and shouldReconnect agree with the Java table; backoff is full jitter")
    void closeCodesAndBackoffFollowSection8() throws IllegalAccessException {
        gw = TestGateway.start();
        openPage();
        Map<String, Integer> javaCodes = new TreeMap<>();
        for (Field f : CloseCodes.class.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == int.class) {
                javaCodes.put(f.getName(), f.getInt(null));
            }
        }
        int[] codes = {
            1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 1012, 1015, 3000, 4000, 4001, 4002, 4003, 4004,
            4005, 4006, 4999
        };

        JsonNode table = page.evaluate(
                "return {codes: sb.CloseCodes, reconnect: %s.map(sb.shouldReconnect)};".formatted(js(codes)));
        JsonNode delays = page.evaluate("""
                const top = () => 0.999999999;
                const sample = Array.from({length: 2000}, () => sb.backoffDelay(2, 500, 20000));
                return {
                  caps: [1, 2, 3, 4, 5, 6, 7, 8, 60].map(k => sb.backoffDelay(k, 500, 20000, top)),
                  zero: [1, 5, 9].map(k => sb.backoffDelay(k, 500, 20000, () => 0)),
                  half: sb.backoffDelay(3, 500, 20000, () => 0.5),
                  small: [1, 2, 3, 4].map(k => sb.backoffDelay(k, 50, 200, top)),
                  min: Math.min(...sample), max: Math.max(...sample),
                  whole: sample.every(Number.isInteger),
                };
                """);

        Map<String, Integer> jsCodes = new TreeMap<>();
        table.get("codes")
                .properties()
                .forEach(e -> jsCodes.put(e.getKey(), e.getValue().asInt()));
        assertThat(jsCodes).isEqualTo(javaCodes);
        for (int i = 0; i < codes.length; i++) {
            assertThat(table.get("reconnect").get(i).asBoolean())
                    .as("reconnect after %d", codes[i])
                    .isEqualTo(CloseCodes.shouldReconnect(codes[i]));
        }
        assertThat(ints(delays.get("caps")))
                .as("attempt k waits at most min(maxDelay, base * 2^(k-1))")
                .containsExactly(500, 1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000);
        assertThat(ints(delays.get("zero"))).containsOnly(0);
        assertThat(delays.get("half").asInt()).isEqualTo(1000);
        assertThat(ints(delays.get("small"))).containsExactly(50, 100, 200, 200);
        assertThat(delays.get("min").asInt()).as("uniform from 0").isBetween(0, 50);
        assertThat(delays.get("max").asInt()).as("uniform up to the cap").isBetween(950, 1000);
        assertThat(delays.get("whole").asBoolean()).as("whole milliseconds").isTrue();
    }

    @Test
    @DisplayName("sections 2, 4, 5: a guest subscribes, publishes, gets its own message, and exchanges directs with a"
            + " Java client; errors reject with their code; close() is final")
    void guestPublishesAndExchangesDirects() {
        gw = TestGateway.start();
        openPage();
        SwitchboardClient java = gw.connect();
        EventRecorder javaEvents = EventRecorder.of(java);

        String user = connectClient("{url: %s}".formatted(js(gw.wsUri().toString())), "");
        JsonNode own =
                page.evaluate("""
                const subscribed = await client.subscribe(%1$s);
                const published = await client.publish(%1$s, {text: 'hi', n: [1, 2.5, null, true]});
                const message = await rec.next('message');
                const sent = await client.send(%2$s, {text: 'psst'});
                return {subscribed, published, message, sent, position: client.position(%1$s), state: client.state,
                        session: client.session, guest: client.welcome.guest};
                """.formatted(js(CHANNEL), js(java.welcome().user())));

        assertThat(user).startsWith("g_");
        assertThat(own.get("state").asText()).isEqualTo("connected");
        assertThat(own.get("guest").asBoolean()).isTrue();
        assertThat(own.get("session").asText()).isNotEmpty();
        assertThat(own.at("/subscribed/channel").asText()).isEqualTo(CHANNEL);
        assertThat(own.at("/subscribed/offset").asLong()).isZero();
        assertThat(own.at("/published/offset").asLong()).isEqualTo(1);
        JsonNode message = own.get("message");
        assertThat(message.get("channel").asText()).isEqualTo(CHANNEL);
        assertThat(message.get("offset").asLong()).isEqualTo(1);
        assertThat(message.get("from").asText()).isEqualTo(user);
        assertThat(message.get("data"))
                .isEqualTo(JSON.createObjectNode()
                        .put("text", "hi")
                        .set(
                                "n",
                                JSON.createArrayNode().add(1).add(2.5).addNull().add(true)));
        assertThat(own.at("/position/offset").asLong()).isEqualTo(1);
        assertThat(own.at("/position/epoch").asText())
                .isEqualTo(message.get("epoch").asText());
        assertThat(own.at("/sent/delivered").asBoolean()).isTrue();
        ServerFrame.Direct toJava = javaEvents.next(ServerFrame.Direct.class);
        assertThat(toJava.from()).isEqualTo(user);
        assertThat(toJava.data()).isEqualTo("{\"text\":\"psst\"}");

        java.send(user, "{\"text\":\"back\"}").block(TestGateway.TIMEOUT);
        JsonNode direct = page.evaluate("""
                const direct = await rec.next('direct');
                return {direct, inbox: client.inboxPosition};
                """);
        assertThat(direct.at("/direct/from").asText()).isEqualTo(java.welcome().user());
        assertThat(direct.at("/direct/data/text").asText()).isEqualTo("back");
        assertThat(direct.at("/inbox/offset").asLong())
                .isEqualTo(direct.at("/direct/offset").asLong());

        JsonNode refused = page.evaluate("""
                return client.publish('user:' + client.user, 1).then(
                    () => 'published',
                    e => ({name: e.name, code: e.code, message: e.message, frame: e.frame}));
                """);
        assertThat(refused.get("code").asText())
                .as("section 5: user: is reserved")
                .isEqualTo("forbidden");
        assertThat(refused.at("/frame/type").asText()).isEqualTo("error");
        assertThat(refused.get("message").asText()).startsWith("forbidden: ");

        JsonNode closed = page.evaluate("""
                client.close();
                const closed = await rec.next('closed');
                const after = await client.publish(%s, 2).then(() => 'published', e => e.code);
                return {closed, after, state: client.state, timers: liveTimers()};
                """.formatted(js(CHANNEL)));
        assertThat(closed.at("/closed/code").asInt()).isEqualTo(1000);
        assertThat(closed.at("/closed/reason").asText()).isEqualTo("bye");
        assertThat(closed.get("state").asText()).isEqualTo("closed");
        assertThat(closed.get("after").asText()).as("a request after close()").isEqualTo("closed");
        assertThat(closed.get("timers").asInt()).as("timers left running").isZero();
        assertThat(page.problems()).isEmpty();
    }

    /**
     * The backend of a stream: publishes n = 1, 2, ... to {@link #CHANNEL} through the HTTP API, and sends
     * k = n to the user's inbox for every fifth, one call after the other until stopped.
     */
    private final class Backend implements AutoCloseable {
        private final ExecutorService thread = Executors.newSingleThreadExecutor();
        private final AtomicInteger published = new AtomicInteger();
        private final AtomicBoolean stopping = new AtomicBoolean();
        private final Map<Integer, CompletableFuture<Void>> milestones = new ConcurrentHashMap<>();
        private final CompletableFuture<Integer> done;

        Backend(String user) {
            done = CompletableFuture.supplyAsync(
                    () -> {
                        int n = 0;
                        while (!stopping.get() && n < 20_000) {
                            n++;
                            assertOk(gw.post(
                                    "/api/publish", "{\"channel\":%s,\"data\":{\"n\":%d}}".formatted(js(CHANNEL), n)));
                            if (n % 5 == 0) {
                                assertOk(
                                        gw.post("/api/send", "{\"to\":%s,\"data\":{\"k\":%d}}".formatted(js(user), n)));
                            }
                            published.set(n);
                            CompletableFuture<Void> milestone = milestones.get(n);
                            if (milestone != null) {
                                milestone.complete(null);
                            }
                        }
                        return n;
                    },
                    thread);
        }

        int published() {
            return published.get();
        }

        /** Returns once {@code more} messages more than now have been published. */
        void awaitMore(int more) throws Exception {
            int n = published() + more;
            CompletableFuture<Void> milestone = milestones.computeIfAbsent(n, x -> new CompletableFuture<>());
            if (published() >= n) {
                milestone.complete(null);
            }
            CompletableFuture.anyOf(milestone, done).get(TestGateway.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(published()).as("the backend stopped early").isGreaterThanOrEqualTo(n);
        }

        /** Stops and returns the last n published. */
        int stop() throws Exception {
            stopping.set(true);
            return done.get(TestGateway.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }

        @Override
        public void close() {
            stopping.set(true);
            thread.shutdownNow();
        }
    }

    @Test
    @DisplayName("sections 5, 8: a connection cut in the middle of a stream is resumed with the same user, and every"
            + " message and direct arrives once, in order")
    void cutMidStreamResumesAndRecoversEverything() throws Exception {
        gw = TestGateway.start(Map.of("SWITCHBOARD_HISTORY_SIZE", "5000"));
        proxy = TcpProxy.to(gw.port());
        openPage();
        String user = connectClient(
                "{url: %s, reconnect: {base: 50, maxDelay: 200}}"
                        .formatted(js(proxy.wsUri().toString())),
                """
                // a request made while disconnected waits for the next connection
                client.on('disconnected', () => {
                  globalThis.queued = client.publish('public:while-away', {queued: true});
                });
                """);
        page.evaluate("await client.subscribe(%s);".formatted(js(CHANNEL)));

        int cutAt;
        int total;
        try (Backend backend = new Backend(user)) {
            page.evaluate("await rec.until('50 messages', () => rec.named('message').length >= 50);");
            // the reconnect's answers are held back until the stream has gone on for a while without the browser
            proxy.stall();
            proxy.cutAll();
            cutAt = backend.published();
            page.evaluate("await rec.next('disconnected');");
            backend.awaitMore(30);
            proxy.unstall();
            page.evaluate("await rec.next('recovered');");
            backend.awaitMore(20);
            total = backend.stop();
        }

        JsonNode seen = page.evaluate("""
                await rec.until('message n=%1$d', () => rec.details('message').some(m => m.data.n === %1$d));
                await rec.until('direct k=%2$d', () => rec.details('direct').some(d => d.data.k === %2$d));
                return {
                  ns: rec.details('message').map(m => m.data.n),
                  ks: rec.details('direct').map(d => d.data.k),
                  lifecycle: rec.lifecycle(),
                  user: client.user,
                  state: client.state,
                  queued: await globalThis.queued,
                };
                """.formatted(total, total / 5 * 5));

        assertThat(total).as("published after the cut").isGreaterThan(cutAt + 50);
        assertThat(ints(seen.get("ns")))
                .as("every message once, in order")
                .isEqualTo(IntStream.rangeClosed(1, total).boxed().toList());
        assertThat(ints(seen.get("ks")))
                .as("every direct once, in order")
                .isEqualTo(IntStream.rangeClosed(1, total / 5)
                        .map(i -> i * 5)
                        .boxed()
                        .toList());
        JsonNode lifecycle = seen.get("lifecycle");
        assertThat(names(lifecycle))
                .containsExactly(
                        "connecting",
                        "connected",
                        "disconnected",
                        "reconnecting",
                        "connecting",
                        "connected",
                        "recovered");
        assertThat(lifecycle.at("/0/detail/attempt").asInt()).isZero();
        assertThat(lifecycle.at("/1/detail/reconnect").asBoolean()).isFalse();
        assertThat(lifecycle.at("/2/detail/code").asInt())
                .as("the socket just dropped")
                .isEqualTo(1006);
        assertThat(lifecycle.at("/2/detail/local").asBoolean()).isFalse();
        assertThat(lifecycle.at("/3/detail/attempt").asInt()).isEqualTo(1);
        assertThat(lifecycle.at("/3/detail/delay").asInt())
                .as("attempt 1 waits within [0, base]")
                .isBetween(0, 50);
        assertThat(lifecycle.at("/3/detail/code").asInt()).isEqualTo(1006);
        assertThat(lifecycle.at("/4/detail/attempt").asInt()).isEqualTo(1);
        assertThat(lifecycle.at("/5/detail/reconnect").asBoolean()).isTrue();
        assertThat(lifecycle.at("/5/detail/welcome/user").asText())
                .as("section 2: resumed")
                .isEqualTo(user);
        assertThat(lifecycle.at("/5/detail/welcome/resumed").asBoolean()).isTrue();
        assertThat(lifecycle.get(6).get("detail"))
                .isEqualTo(JSON.readTree(
                        "{\"recovered\":true,\"resumed\":true,\"inboxRecovered\":true,\"channelsNotRecovered\":[]}"));
        assertThat(seen.get("user").asText()).isEqualTo(user);
        assertThat(seen.get("state").asText()).isEqualTo("connected");
        assertThat(seen.at("/queued/offset").asLong())
                .as("the request made while away, sent after")
                .isEqualTo(1);
    }

    /** Every frame the scripted server received, in order. */
    private final List<JsonNode> scriptedReceived = new CopyOnWriteArrayList<>();

    /**
     * A server that plays a script instead of the gateway, to show the client what a correct gateway never sends:
     * duplicates, garbage, an unknown reply. Its first connection answers a subscribe with a stream of frames and a
     * publish by closing with 1012; its second one welcomes without recovering anything.
     */
    private DisposableServer scriptedServer() {
        AtomicInteger connections = new AtomicInteger();
        return HttpServer.create()
                .host("127.0.0.1")
                .port(0)
                .route(r -> r.ws(
                        "/ws",
                        (in, out) -> {
                            int connection = connections.incrementAndGet();
                            return in.receive()
                                    .asString()
                                    .concatMap(text -> script(connection, text, out))
                                    .then();
                        },
                        WebsocketServerSpec.builder()
                                .protocols("switchboard.v1")
                                .build()))
                .bindNow(Duration.ofSeconds(10));
    }

    private Mono<Void> script(int connection, String text, WebsocketOutbound out) {
        JsonNode frame;
        try {
            frame = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new AssertionError("the client sent something that is not JSON: " + text, e);
        }
        scriptedReceived.add(frame);
        long id = frame.path("id").asLong();
        List<String> replies = switch (frame.path("type").asText()) {
            case "hello" -> List.of(connection == 1 ? scriptedWelcome("r1", 0, "e") : scriptedWelcome("r2", 7, "e2"));
            case "subscribe" ->
                connection == 1
                        ? List.of(
                                "{\"type\":\"ack\",\"id\":%d,\"channel\":\"public:x\",\"offset\":0,\"epoch\":\"e\"}"
                                        .formatted(id),
                                message("e", 1),
                                message("e", 2),
                                message("e", 2),
                                message("e", 1),
                                "not json",
                                message("e", 3),
                                message("f", 1),
                                "[1,2]",
                                "{\"type\":\"direct\",\"from\":\"u_a\",\"data\":1,\"offset\":1,\"epoch\":\"e\"}",
                                "{\"type\":\"direct\",\"from\":\"u_a\",\"data\":1,\"offset\":1,\"epoch\":\"e\"}",
                                "{\"type\":\"direct\",\"from\":\"u_a\",\"data\":2,\"offset\":2,\"epoch\":\"e\"}",
                                "{\"type\":\"match.found\",\"match\":\"m_1\",\"partner\":\"u_b\",\"initiator\":true,"
                                        + "\"interests\":[],\"offset\":3,\"epoch\":\"e\"}",
                                "{\"type\":\"match.signal\",\"match\":\"m_1\",\"from\":\"u_b\",\"data\":{},"
                                        + "\"offset\":3,\"epoch\":\"e\"}",
                                "{\"type\":\"match.partner\",\"match\":\"m_1\",\"state\":\"reconnecting\"}",
                                "{\"no\":\"type\"}",
                                "{\"type\":\"error\",\"code\":\"internal\",\"message\":\"something broke\"}",
                                "{\"type\":\"ack\",\"id\":999}",
                                "{\"type\":\"script.end\"}")
                        : List.of("{\"type\":\"ack\",\"id\":%d,\"channel\":\"public:x\",\"offset\":5,\"epoch\":\"f\","
                                        .formatted(id)
                                + "\"recovered\":false}");
            case "publish" -> null;
            default -> List.of();
        };
        if (replies == null) {
            return out.sendClose(1012, "service restart");
        }
        return out.sendString(Flux.fromIterable(replies)).then();
    }

    private static String scriptedWelcome(String resume, long inboxOffset, String epoch) {
        return ("{\"type\":\"welcome\",\"session\":\"s_%1$s\",\"user\":\"g_script\",\"guest\":true,"
                        + "\"resume\":\"%1$s\",\"resumed\":false,\"recovered\":false,"
                        + "\"inbox\":{\"offset\":%2$d,\"epoch\":\"%3$s\"},\"ping\":{\"interval\":60000,\"timeout\":60000},"
                        + "\"limits\":{\"maxFrame\":65536,\"rate\":100,\"burst\":200,\"maxSubscriptions\":1000},"
                        + "\"node\":\"script\"}")
                .formatted(resume, inboxOffset, epoch);
    }

    private static String message(String epoch, long offset) {
        return "{\"type\":\"message\",\"channel\":\"public:x\",\"offset\":%d,\"epoch\":\"%s\",\"data\":%d}"
                .formatted(offset, epoch, offset);
    }

    @Test
    @DisplayName("section 5: subscribe(channel, {since}) recovers the messages after a position kept from an earlier"
            + " page, and reconnects from there; a since that cannot be recovered says so")
    void subscribeSinceRecoversFromAKeptPosition() {
        gw = TestGateway.start();
        proxy = TcpProxy.to(gw.port());
        openPage();
        for (int i = 1; i <= 3; i++) {
            assertOk(gw.post("/api/publish", "{\"channel\":%s,\"data\":%d}".formatted(js(CHANNEL), i)));
        }
        connectClient(
                "{url: %s, reconnect: {base: 50, maxDelay: 200}}"
                        .formatted(js(proxy.wsUri().toString())),
                "");

        JsonNode seen = page.evaluate("""
                const probe = new sb.SwitchboardClient({url: %1$s});
                await probe.connect();
                const epoch = (await probe.subscribe(%2$s)).epoch;
                probe.close();
                const ack = await client.subscribe(%2$s, {since: {offset: 1, epoch}});
                await rec.until('2 messages', () => rec.named('message').length >= 2);
                const recovered = rec.details('message').map(m => m.data);
                const other = new sb.SwitchboardClient({url: %1$s});
                await other.connect();
                const atEnd = await other.subscribe(%2$s, {since: {offset: 3, epoch}});
                const atEndPosition = other.position(%2$s);
                const lost = await other.subscribe('public:y', {since: {offset: 2, epoch: 'gone'}});
                const lostPosition = other.position('public:y');
                other.close();
                return {ack, recovered, position: client.position(%2$s), atEnd, atEndPosition, lost, lostPosition,
                        epoch};
                """.formatted(js(gw.wsUri().toString()), js(CHANNEL)));

        String epoch = seen.get("epoch").asText();
        assertThat(seen.get("ack").get("recovered").asBoolean()).isTrue();
        assertThat(ints(seen.get("recovered"))).containsExactly(2, 3);
        assertThat(seen.get("position"))
                .isEqualTo(JSON.createObjectNode().put("offset", 3).put("epoch", epoch));
        assertThat(seen.get("atEnd").get("recovered").asBoolean()).isTrue();
        assertThat(seen.get("atEndPosition"))
                .as("recovered with nothing after: the position is the since")
                .isEqualTo(JSON.createObjectNode().put("offset", 3).put("epoch", epoch));
        assertThat(seen.get("lost").get("recovered").asBoolean()).isFalse();
        assertThat(seen.get("lostPosition").get("offset").asInt())
                .as("not recovered: the ack's position")
                .isZero();

        proxy.cutAll();
        page.evaluate("await rec.next('disconnected');");
        assertOk(gw.post("/api/publish", "{\"channel\":%s,\"data\":4}".formatted(js(CHANNEL))));
        JsonNode after = page.evaluate("""
                const r = await rec.next('recovered');
                await rec.until('message 4', () => rec.details('message').some(m => m.data === 4));
                return {recovered: r.recovered, messages: rec.details('message').map(m => m.data)};
                """);
        assertThat(after.get("recovered").asBoolean()).isTrue();
        assertThat(ints(after.get("messages"))).containsExactly(2, 3, 4);
    }

    @Test
    @DisplayName("sections 2, 5, 8: duplicates are dropped, garbage ignored, frames reach their events; a reconnect"
            + " sends resume and inboxSince and subscribes from the channel's position")
    void duplicatesDroppedAndReconnectResumesFromPositions() {
        gw = TestGateway.start();
        scripted = scriptedServer();
        openPage();

        JsonNode seen = page.evaluate("""
                globalThis.client = new sb.SwitchboardClient({url: %s, reconnect: {base: 10, maxDelay: 20}});
                globalThis.rec = new Recorder(client);
                await client.connect();
                await client.subscribe('public:x');
                await rec.until('script.end', () => rec.details('frame').some(f => f.type === 'script.end'));
                const first = {
                  messages: rec.details('message').map(m => m.epoch + m.offset),
                  directs: rec.details('direct').map(d => d.offset),
                  found: rec.details('match.found').length,
                  signals: rec.details('match.signal').length,
                  partner: rec.details('match.partner').map(p => p.state),
                  errors: rec.details('error').map(e => e.code),
                  frames: rec.details('frame').map(f => f.type),
                  inbox: client.inboxPosition,
                  position: client.position('public:x'),
                };
                const dropped = await client.publish('public:x', 1).then(() => 'published', e => e.code);
                const recovered = await rec.next('recovered');
                return {first, dropped, recovered, lifecycle: rec.lifecycle().map(e => e.name),
                        inbox: client.inboxPosition, position: client.position('public:x')};
                """.formatted(js("ws://127.0.0.1:" + scripted.port() + "/ws")));

        JsonNode first = seen.get("first");
        assertThat(first.get("messages")).extracting(JsonNode::asText).containsExactly("e1", "e2", "e3", "f1");
        assertThat(ints(first.get("directs"))).containsExactly(1, 2);
        assertThat(first.get("found").asInt()).isEqualTo(1);
        assertThat(first.get("signals").asInt())
                .as("a match.signal at the inbox position is a duplicate")
                .isZero();
        assertThat(first.get("partner")).extracting(JsonNode::asText).containsExactly("reconnecting");
        assertThat(first.get("errors")).extracting(JsonNode::asText).containsExactly("internal");
        assertThat(first.get("frames"))
                .extracting(JsonNode::asText)
                .containsExactly(
                        "message",
                        "message",
                        "message",
                        "message",
                        "direct",
                        "direct",
                        "match.found",
                        "match.partner",
                        "error",
                        "script.end");
        assertThat(first.get("inbox"))
                .isEqualTo(JSON.createObjectNode().put("offset", 3).put("epoch", "e"));
        assertThat(first.get("position"))
                .isEqualTo(JSON.createObjectNode().put("offset", 1).put("epoch", "f"));
        assertThat(page.problems())
                .as("garbage is warned about once per connection")
                .hasSize(1)
                .allSatisfy(line -> assertThat(line).startsWith("console.warning: switchboard: ignoring a frame"));

        assertThat(seen.get("dropped").asText())
                .as("a request in flight when the connection dropped")
                .isEqualTo("disconnected");
        assertThat(seen.get("lifecycle"))
                .extracting(JsonNode::asText)
                .containsExactly(
                        "connecting",
                        "connected",
                        "disconnected",
                        "reconnecting",
                        "connecting",
                        "connected",
                        "recovered");
        assertThat(seen.get("recovered"))
                .isEqualTo(JSON.createObjectNode()
                        .put("recovered", false)
                        .put("resumed", false)
                        .put("inboxRecovered", false)
                        .set("channelsNotRecovered", JSON.createArrayNode().add("public:x")));
        assertThat(seen.get("inbox"))
                .as("a welcome that did not recover sets the inbox position")
                .isEqualTo(JSON.createObjectNode().put("offset", 7).put("epoch", "e2"));
        assertThat(seen.get("position"))
                .as("an ack that did not recover sets the channel position")
                .isEqualTo(JSON.createObjectNode().put("offset", 5).put("epoch", "f"));

        assertThat(scriptedReceived)
                .extracting(f -> f.path("type").asText())
                .containsExactly("hello", "subscribe", "publish", "hello", "subscribe");
        JsonNode hello = scriptedReceived.get(0);
        assertThat(hello.get("v").asInt()).isEqualTo(1);
        assertThat(hello.get("client").asText()).isEqualTo("switchboard-js/1.0");
        assertThat(hello.has("token") || hello.has("resume") || hello.has("inboxSince"))
                .isFalse();
        JsonNode again = scriptedReceived.get(3);
        assertThat(again.get("resume").asText()).isEqualTo("r1");
        assertThat(again.get("inboxSince"))
                .isEqualTo(JSON.createObjectNode().put("offset", 3).put("epoch", "e"));
        assertThat(scriptedReceived.get(1).has("since")).isFalse();
        assertThat(scriptedReceived.get(4).get("since"))
                .isEqualTo(JSON.createObjectNode().put("offset", 1).put("epoch", "f"));
        assertThat(scriptedReceived.get(4).get("id").asLong())
                .as("ids go on across connections")
                .isGreaterThan(scriptedReceived.get(2).get("id").asLong());
    }

    @Test
    @DisplayName("section 8: connections that drop soon after their welcome count as failures; past resetAfter not")
    void shortLivedConnectionsCountTowardsMaxAttempts() {
        gw = TestGateway.start();
        // welcomes every hello, then closes at once with 1012
        scripted = HttpServer.create()
                .host("127.0.0.1")
                .port(0)
                .route(r -> r.ws(
                        "/ws",
                        (in, out) -> in.receive()
                                .asString()
                                .concatMap(hello -> out.sendString(Mono.just(scriptedWelcome("r", 0, "e")))
                                        .then()
                                        .then(out.sendClose(1012, "service restart")))
                                .then(),
                        WebsocketServerSpec.builder()
                                .protocols("switchboard.v1")
                                .build()))
                .bindNow(Duration.ofSeconds(10));
        openPage();

        JsonNode end = page.evaluate("""
                const url = %s;
                const counting = new sb.SwitchboardClient({url, reconnect: {base: 10, maxDelay: 20, maxAttempts: 3}});
                const resetting = new sb.SwitchboardClient({url,
                    reconnect: {base: 10, maxDelay: 20, maxAttempts: 3, resetAfter: 0}});
                const counted = new Recorder(counting);
                const reset = new Recorder(resetting);
                await counting.connect();
                await resetting.connect();
                const gaveup = await counted.next('gaveup');
                await reset.until('6 reconnects', () => reset.named('reconnecting').length >= 6);
                resetting.close();
                return {gaveup, welcomes: counted.named('connected').length,
                        counted: counted.details('reconnecting').map(r => r.attempt),
                        reset: reset.details('reconnecting').map(r => r.attempt), timers: liveTimers()};
                """.formatted(js("ws://127.0.0.1:" + scripted.port() + "/ws")));

        assertThat(ints(end.get("counted")))
                .as("welcomed but up for less than resetAfter: the count goes on")
                .containsExactly(1, 2, 3);
        assertThat(end.get("welcomes").asInt()).isEqualTo(4);
        assertThat(end.at("/gaveup/reason").asText()).isEqualTo("gave up after 3 attempts");
        assertThat(end.at("/gaveup/code").asInt()).isEqualTo(1012);
        assertThat(ints(end.get("reset")))
                .as("up for resetAfter (0 ms): every drop starts the count again")
                .hasSizeGreaterThanOrEqualTo(6)
                .containsOnly(1);
        assertThat(end.get("timers").asInt()).isZero();
    }

    @Test
    @DisplayName("section 8: a close that is not reconnectable (4002 from POST /api/disconnect) ends in gaveup")
    void notReconnectableCloseGivesUp() {
        gw = TestGateway.start();
        openPage();
        String user = connectClient(
                "{url: %s, reconnect: {base: 50, maxDelay: 100}}"
                        .formatted(js(gw.wsUri().toString())),
                "");
        page.evaluate("await client.subscribe(%s);".formatted(js(CHANNEL)));

        assertOk(gw.post("/api/disconnect", "{\"user\":%s}".formatted(js(user))));
        JsonNode end = page.evaluate("""
                const gaveup = await rec.next('gaveup');
                return {
                  gaveup,
                  lifecycle: rec.lifecycle(),
                  state: client.state,
                  timers: liveTimers(),
                  late: await client.publish(%s, 1).then(() => 'published', e => e.code),
                  again: await client.connect().then(() => 'connected', e => e.code),
                };
                """.formatted(js(CHANNEL)));

        assertThat(names(end.get("lifecycle"))).containsExactly("connecting", "connected", "disconnected", "gaveup");
        assertThat(end.at("/lifecycle/2/detail/code").asInt()).isEqualTo(4002);
        assertThat(end.at("/lifecycle/2/detail/local").asBoolean()).isFalse();
        assertThat(end.at("/gaveup/code").asInt()).isEqualTo(4002);
        assertThat(end.at("/gaveup/reason").asText())
                .isEqualTo("closed with 4002 (session replaced): not reconnecting");
        assertThat(end.get("state").asText()).isEqualTo("gaveup");
        assertThat(end.get("timers").asInt())
                .as("no reconnect scheduled, no timer left")
                .isZero();
        assertThat(end.get("late").asText()).isEqualTo("closed");
        assertThat(end.get("again").asText()).isEqualTo("closed");
    }

    @Test
    @DisplayName("section 8: a first connection refused with 4001 gives up at once, and connect() rejects")
    void unauthorizedFirstConnectGivesUp() {
        gw = TestGateway.start();
        openPage();

        JsonNode end = page.evaluate("""
                globalThis.tokenCalls = 0;
                globalThis.client = new sb.SwitchboardClient({url: %s, reconnect: {base: 50, maxDelay: 100},
                    token: () => { tokenCalls++; return 'not-a-jwt'; }});
                globalThis.rec = new Recorder(client);
                const refused = await client.connect().then(() => 'connected', e => e.message);
                return {refused, lifecycle: rec.lifecycle(), errors: rec.details('error'), state: client.state,
                        tokenCalls, timers: liveTimers()};
                """.formatted(js(gw.wsUri().toString())));

        assertThat(end.get("refused").asText()).contains("closed with 4001 (unauthorized): not reconnecting");
        assertThat(names(end.get("lifecycle"))).containsExactly("connecting", "gaveup");
        assertThat(end.at("/lifecycle/1/detail/code").asInt()).isEqualTo(4001);
        assertThat(end.at("/errors/0/code").asText()).isEqualTo("unauthorized");
        assertThat(end.get("state").asText()).isEqualTo("gaveup");
        assertThat(end.get("tokenCalls").asInt()).isEqualTo(1);
        assertThat(end.get("timers").asInt()).isZero();
    }

    @Test
    @DisplayName("section 8: refused reconnects wait within the jitter bounds and give up after maxAttempts")
    void refusedReconnectsGiveUpAfterMaxAttempts() {
        gw = TestGateway.start();
        proxy = TcpProxy.to(gw.port());
        openPage();
        connectClient(
                "{url: %s, reconnect: {base: 50, maxDelay: 200, maxAttempts: 3}}"
                        .formatted(js(proxy.wsUri().toString())),
                """
                client.on('disconnected', () => {
                  globalThis.waiting = client.publish('public:never', 1).then(() => 'published', e => e.code);
                });
                """);

        proxy.refuse();
        proxy.cutAll();
        JsonNode end = page.evaluate("""
                const gaveup = await rec.next('gaveup');
                return {gaveup, reconnecting: rec.details('reconnecting'), lifecycle: rec.lifecycle(),
                        state: client.state, timers: liveTimers(), waiting: await globalThis.waiting};
                """);
        List<Long> refused = proxy.refusedAtNanos();

        assertThat(names(end.get("lifecycle")))
                .containsExactly(
                        "connecting",
                        "connected",
                        "disconnected",
                        "reconnecting",
                        "connecting",
                        "reconnecting",
                        "connecting",
                        "reconnecting",
                        "connecting",
                        "gaveup");
        JsonNode reconnecting = end.get("reconnecting");
        for (int k = 1; k <= 3; k++) {
            JsonNode r = reconnecting.get(k - 1);
            assertThat(r.get("attempt").asInt()).isEqualTo(k);
            assertThat(r.get("delay").asLong())
                    .as("attempt %d waits in [0, min(200, 50 * 2^%d)]", k, k - 1)
                    .isBetween(0L, Math.min(200L, 50L << (k - 1)));
            assertThat(r.get("code").asInt()).isEqualTo(1006);
        }
        assertThat(refused).as("connection attempts the proxy saw").hasSize(3);
        for (int k = 2; k <= 3; k++) {
            long gapMs = TimeUnit.NANOSECONDS.toMillis(refused.get(k - 1) - refused.get(k - 2));
            assertThat(gapMs)
                    .as("attempt %d came after its delay", k)
                    .isGreaterThanOrEqualTo(reconnecting.get(k - 1).get("delay").asLong() - 5);
        }
        assertThat(end.at("/gaveup/reason").asText()).isEqualTo("gave up after 3 attempts");
        assertThat(end.at("/gaveup/code").asInt()).isEqualTo(1006);
        assertThat(end.get("state").asText()).isEqualTo("gaveup");
        assertThat(end.get("timers").asInt()).isZero();
        assertThat(end.get("waiting").asText())
                .as("a request that waited for a connection")
                .isEqualTo("closed");
    }

    @Test
    @DisplayName("section 8: close() while a reconnect is scheduled cancels it; waiting requests reject with closed")
    void closeWhileReconnectingCancelsTheAttempt() {
        gw = TestGateway.start();
        proxy = TcpProxy.to(gw.port());
        openPage();
        connectClient(
                "{url: %s, reconnect: {base: 200, maxDelay: 200}}"
                        .formatted(js(proxy.wsUri().toString())),
                "");

        proxy.refuse();
        proxy.cutAll();
        JsonNode end = page.evaluate("""
                await rec.next('reconnecting');
                const waiting = client.subscribe('public:later').then(() => 'subscribed', e => e.code);
                client.close(4999, 'leaving');
                return {closed: await rec.next('closed'), waiting: await waiting, state: client.state,
                        timers: liveTimers(), lifecycle: rec.lifecycle().map(e => e.name)};
                """);

        assertThat(end.get("timers").asInt())
                .as("the scheduled reconnect is cancelled")
                .isZero();
        assertThat(end.get("lifecycle"))
                .extracting(JsonNode::asText)
                .containsExactly("connecting", "connected", "disconnected", "reconnecting", "closed");
        assertThat(end.at("/closed/code").asInt()).isEqualTo(4999);
        assertThat(end.at("/closed/reason").asText()).isEqualTo("leaving");
        assertThat(end.get("waiting").asText()).isEqualTo("closed");
        assertThat(end.get("state").asText()).isEqualTo("closed");
    }

    private static final long PING_INTERVAL_MS = 200;
    private static final long PING_TIMEOUT_MS = 800;

    @Test
    @DisplayName("section 3: a client that receives nothing for ping.interval + ping.timeout drops the connection"
            + " (4003, local) and reconnects, with a fresh token and nothing lost")
    void silentConnectionDetectedAndReplaced() throws JsonProcessingException {
        gw = TestGateway.start(Map.of(
                "SWITCHBOARD_PING_INTERVAL_MS",
                String.valueOf(PING_INTERVAL_MS),
                "SWITCHBOARD_PING_TIMEOUT_MS",
                String.valueOf(PING_TIMEOUT_MS)));
        proxy = TcpProxy.to(gw.port());
        openPage();
        String user = connectClient(
                """
                {url: %s, reconnect: {base: 50, maxDelay: 200}, connectTimeout: 5000,
                 token: async () => { tokenCalls++; return %s; }}
                """.formatted(js(proxy.wsUri().toString()), js(Tokens.user("u_heartbeat"))),
                "globalThis.tokenCalls = 0;");
        page.evaluate("await client.subscribe(%s);".formatted(js(CHANNEL)));
        assertOk(gw.post("/api/publish", "{\"channel\":%s,\"data\":{\"n\":1}}".formatted(js(CHANNEL))));
        page.evaluate("await rec.until('message 1', () => rec.named('message').length === 1);");

        long stalledAt = System.currentTimeMillis();
        proxy.stall();
        assertOk(gw.post("/api/publish", "{\"channel\":%s,\"data\":{\"n\":2}}".formatted(js(CHANNEL))));
        JsonNode dropped = page.evaluate("return await rec.until('disconnected', () => rec.named('disconnected')[0]);");
        proxy.unstall();
        JsonNode back = page.evaluate("""
                const recovered = await rec.next('recovered');
                await rec.until('message 2', () => rec.named('message').length >= 2);
                return {recovered, lifecycle: rec.lifecycle(), ns: rec.details('message').map(m => m.data.n),
                        user: client.user, tokenCalls};
                """);

        long silentMs = dropped.get("at").asLong() - stalledAt;
        assertThat(dropped.at("/detail/code").asInt()).isEqualTo(4003);
        assertThat(dropped.at("/detail/local").asBoolean()).isTrue();
        assertThat(silentMs)
                .as("not before ping.timeout (the last ping came at most an interval before the stall)")
                .isGreaterThanOrEqualTo(PING_TIMEOUT_MS - 100);
        assertThat(silentMs)
                .as("soon after ping.interval + ping.timeout")
                .isLessThan(PING_INTERVAL_MS + PING_TIMEOUT_MS + 500);
        assertThat(names(back.get("lifecycle")))
                .containsExactly(
                        "connecting",
                        "connected",
                        "disconnected",
                        "reconnecting",
                        "connecting",
                        "connected",
                        "recovered");
        assertThat(back.get("recovered"))
                .isEqualTo(JSON.readTree(
                        "{\"recovered\":true,\"resumed\":true,\"inboxRecovered\":true,\"channelsNotRecovered\":[]}"));
        assertThat(ints(back.get("ns"))).containsExactly(1, 2);
        assertThat(back.get("user").asText()).isEqualTo(user).isEqualTo("u_heartbeat");
        assertThat(back.get("tokenCalls").asInt())
                .as("the token function is called before every connect")
                .isEqualTo(2);
    }
}
