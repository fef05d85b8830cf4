package io.switchboard.gateway.demo;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.switchboard.gateway.support.SampleBackend;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import io.switchboard.testing.browser.HeadlessChromium;
import io.switchboard.testing.net.TcpProxy;
import io.switchboard.testing.redis.RedisServer;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.AfterTestExecutionCallback;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The demo page at {@code /} in a headless Chromium with a fake camera and microphone, against a real gateway (and a
 * {@link TcpProxy} where a page's connection has to be cut): random connect with a WebRTC call signalled through
 * {@code match.signal} and a text chat (docs/protocol.md section 6), the lobby recovered after a cut and after a reload
 * (section 5), the connection's state and giving up (section 8), and a phone-sized screen. Screenshots of the matched
 * pages are written to {@code target/screenshots/}.
 */
class DemoPageIntegrationTests {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration WAIT = Duration.ofSeconds(15);
    private static final Path SCREENSHOTS = Path.of("target", "screenshots");
    private static final List<String> IDS = List.of(
            "status",
            "interests",
            "start",
            "next",
            "stop",
            "chat-input",
            "chat-send",
            "chat-log",
            "partner-state",
            "local-video",
            "remote-video",
            "lobby-input",
            "lobby-send",
            "lobby-log",
            "lobby-members",
            "match-stats",
            "report",
            "report-state");
    /** Every control a person uses: real buttons and inputs. */
    private static final List<String> CONTROLS =
            List.of("interests", "start", "next", "stop", "chat-input", "chat-send", "lobby-input", "lobby-send");

    private static final Pattern URL = Pattern.compile("(?i)\\b(?:https?:)?//[a-z0-9.-]+\\.[a-z]{2,}");

    private static HeadlessChromium chromium;

    private TestGateway gw;
    private TcpProxy proxy;
    private RedisServer redis;
    private final List<HeadlessChromium.Page> pages = new ArrayList<>();

    @RegisterExtension
    final AfterTestExecutionCallback consoleOnFailure = context -> {
        if (context.getExecutionException().isPresent()) {
            for (HeadlessChromium.Page p : pages) {
                System.out.println(context.getDisplayName() + ":" + p.consoleText());
            }
        }
    };

    @BeforeAll
    static void launch() {
        chromium = HeadlessChromium.launch(List.of(
                // a camera and a microphone that need no hardware, allowed without asking
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                // the remote video plays without a click, as it does after the click on Start
                "--autoplay-policy=no-user-gesture-required",
                // plain host candidates: without STUN, mDNS names would not resolve on a closed network
                "--disable-features=WebRtcHideLocalIpsWithMdns"));
    }

    @AfterAll
    static void quit() {
        if (chromium != null) {
            chromium.close();
        }
    }

    @AfterEach
    void stop() {
        pages.forEach(HeadlessChromium.Page::close);
        if (proxy != null) {
            proxy.close();
        }
        if (gw != null) {
            gw.close();
        }
        if (redis != null) {
            redis.close();
        }
    }

    private static String js(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** The demo page, on the gateway's origin, with {@code query} (test parameters) added. */
    private HeadlessChromium.Page open(String query) {
        HeadlessChromium.Page page = chromium.open(gw.httpUri("/" + query));
        pages.add(page);
        return page;
    }

    private HeadlessChromium.Page openConnected(String query) {
        HeadlessChromium.Page page = open(query);
        until(page, "$('status').dataset.state === 'connected'", "the page to connect");
        return page;
    }

    /**
     * Waits, in the page, until the JavaScript {@code condition} holds ({@code $} is getElementById), checking every
     * 50 ms up to {@link #WAIT}; the failure says what the page shows.
     */
    private static void until(HeadlessChromium.Page page, String condition, String what) {
        page.evaluate("""
                const $ = id => document.getElementById(id);
                const deadline = Date.now() + %d;
                for (;;) {
                  if (%s) return;
                  if (Date.now() > deadline) {
                    throw new Error('timed out waiting for ' + %s + '; the page shows: status='
                      + $('status').textContent + ' | partner=' + $('partner-state').textContent + ' | rtc=' + document.body.dataset.rtc
                      + ' | media=' + $('media-state').textContent + ' | lobby=' + $('lobby-log').textContent);
                  }
                  await new Promise(r => setTimeout(r, 50));
                }
                """.formatted(WAIT.toMillis(), condition, js(what)), WAIT.plusSeconds(5));
    }

    private static String text(HeadlessChromium.Page page, String id) {
        return page.evaluate("return document.getElementById(%s).textContent;".formatted(js(id)))
                .asText();
    }

    private static List<String> lines(HeadlessChromium.Page page, String logId) {
        List<String> out = new ArrayList<>();
        page.evaluate("return Array.from(document.getElementById(%s).children, li => li.textContent);"
                        .formatted(js(logId)))
                .forEach(n -> out.add(n.asText()));
        return out;
    }

    private static void click(HeadlessChromium.Page page, String id) {
        page.evaluate("document.getElementById(%s).click();".formatted(js(id)));
    }

    /** Focuses {@code id}, types {@code text} and presses Enter, as a person with a keyboard does. */
    private static void typeAndEnter(HeadlessChromium.Page page, String id, String text) {
        page.evaluate("document.getElementById(%s).focus();".formatted(js(id)));
        page.type(text);
        page.press("Enter");
    }

    private static String logHas(String logId, String text) {
        return "Array.from($(%s).children).some(li => li.textContent.includes(%s))".formatted(js(logId), js(text));
    }

    private void postLobby(String text) {
        HttpResponse<String> res =
                gw.post("/api/publish", "{\"channel\":\"public:lobby\",\"data\":{\"text\":%s}}".formatted(js(text)));
        assertThat(res.statusCode()).as("publish answered %s", res.body()).isEqualTo(200);
    }

    /** The lines of the lobby that carry one of {@code texts}, in the order shown. */
    private static List<String> shown(HeadlessChromium.Page page, List<String> texts) {
        return lines(page, "lobby-log").stream()
                .map(line -> texts.stream().filter(line::endsWith).findFirst().orElse(null))
                .filter(t -> t != null)
                .toList();
    }

    private static void assertNoProblems(HeadlessChromium.Page page) {
        assertNoProblems(page, null);
    }

    /**
     * No console error, no uncaught exception, no error in the browser's log; except, when the test refused
     * connections at {@code refusedAt} itself, the browser's own line about each refused handshake there.
     */
    private static void assertNoProblems(HeadlessChromium.Page page, URI refusedAt) {
        assertThat(page.problems()).as("console errors and uncaught exceptions").isEmpty();
        assertThat(page.console())
                .as("the browser's log")
                .noneMatch(l -> l.matches("^\\S+ error: .*")
                        && (refusedAt == null || !l.contains("WebSocket connection to '" + refusedAt + "' failed")));
    }

    @Test
    @DisplayName("/ serves the page with every id the tests use, only same-origin resources, and no console error")
    void servesThePage() {
        gw = TestGateway.start();

        HttpResponse<String> html = gw.get("/");
        assertThat(html.statusCode()).isEqualTo(200);
        assertThat(html.headers().firstValue("Content-Type")).hasValue("text/html; charset=utf-8");
        // the page runs under its Content-Security-Policy: no console error below means the policy fits it
        assertThat(html.headers().firstValue("Content-Security-Policy"))
                .hasValueSatisfying(csp -> assertThat(csp).contains("default-src 'none'"));
        for (String id : IDS) {
            assertThat(html.body()).as("the page has #%s", id).contains("id=\"" + id + "\"");
        }
        for (String path : List.of("/", "/demo.js", "/demo.css", "/switchboard.js")) {
            HttpResponse<String> res = gw.get(path);
            assertThat(res.statusCode()).as(path).isEqualTo(200);
            Matcher external = URL.matcher(res.body());
            assertThat(external.find())
                    .as("%s names another origin: %s", path, external.find(0) ? external.group() : "")
                    .isFalse();
        }
        assertThat(gw.get("/demo.js").headers().firstValue("Content-Type")).hasValue("text/javascript; charset=utf-8");
        assertThat(gw.get("/demo.css").headers().firstValue("Content-Type")).hasValue("text/css; charset=utf-8");

        HeadlessChromium.Page page = openConnected("");
        until(page, "$('node').textContent === 'gw-test'", "the node id");
        JsonNode shown = page.evaluate("""
                return {rtc: document.body.dataset.rtc, start: document.getElementById('start').disabled,
                        next: document.getElementById('next').disabled, live: document.getElementById('status')
                        .getAttribute('aria-live'), retry: document.getElementById('retry').hidden,
                        resources: performance.getEntriesByType('resource').map(r => r.name)};
                """);
        assertThat(shown.get("rtc").asText()).isEqualTo("none");
        assertThat(shown.get("start").asBoolean()).as("Start enabled").isFalse();
        assertThat(shown.get("next").asBoolean())
                .as("Next disabled before Start")
                .isTrue();
        assertThat(shown.get("live").asText()).isEqualTo("polite");
        assertThat(shown.get("retry").asBoolean())
                .as("no Retry while connected")
                .isTrue();
        shown.get("resources")
                .forEach(r -> assertThat(r.asText()).startsWith(gw.httpUri("/").toString()));
        assertNoProblems(page);
    }

    @Test
    @DisplayName("/demo/config gives the configured ICE servers, credentials included, and none by default")
    void demoConfigGivesIceServers() throws Exception {
        gw = TestGateway.start();
        HttpResponse<String> none = gw.get("/demo/config");
        assertThat(none.statusCode()).isEqualTo(200);
        assertThat(none.headers().firstValue("Content-Type")).hasValue("application/json");
        assertThat(JSON.readTree(none.body())).isEqualTo(JSON.readTree("{\"iceServers\":[]}"));
        gw.close();

        String servers = "[{\"urls\":\"stun:stun.example.com:3478\"},{\"urls\":[\"turn:turn.example.com:3478\"],"
                + "\"username\":\"u\",\"credential\":\"p\"}]";
        gw = TestGateway.start(Map.of("SWITCHBOARD_ICE_SERVERS", servers));
        JsonNode configured = JSON.readTree(gw.get("/demo/config").body());
        assertThat(configured)
                .isEqualTo(JSON.readTree("{\"iceServers\":[{\"urls\":[\"stun:stun.example.com:3478\"]},"
                        + "{\"urls\":[\"turn:turn.example.com:3478\"],\"username\":\"u\",\"credential\":\"p\"}]}"));
    }

    @Test
    @DisplayName("section 6: two pages are matched, their WebRTC call connects with video flowing, chat goes both"
            + " ways, and Next on one side shows the other that the partner left")
    void twoPagesMatchCallChatAndNext() throws Exception {
        gw = TestGateway.start(Map.of("SWITCHBOARD_INTEREST_WAIT_MS", "0"));
        HeadlessChromium.Page alice = openConnected("");
        HeadlessChromium.Page bob = openConnected("");
        // a laptop's screen, for screenshots that show the whole call and the lobby
        alice.viewport(1280, 960, false);
        bob.viewport(1280, 960, false);

        alice.evaluate("document.getElementById('interests').value = 'chess, music';");
        click(alice, "start");
        until(alice, "$('partner-state').dataset.state === 'waiting'", "alice to wait in the queue");
        bob.evaluate("document.getElementById('interests').value = 'chess';");
        click(bob, "start");

        for (HeadlessChromium.Page p : List.of(alice, bob)) {
            until(p, "$('partner-state').dataset.state === 'matched'", "the match");
            until(p, "document.body.dataset.rtc === 'connected'", "the peer connection to connect");
            until(p, "$('remote-video').videoWidth > 0 && $('remote-video').currentTime > 0", "the remote video");
            double before = p.evaluate("return document.getElementById('remote-video').currentTime;")
                    .asDouble();
            until(p, "$('remote-video').currentTime > %s + 0.3".formatted(before), "the remote video to play on");
        }
        assertThat(text(alice, "partner-state")).contains("chess");
        assertThat(text(alice, "media-state")).contains("Camera and microphone on");
        JsonNode decoded = bob.evaluate("""
                const v = document.getElementById('remote-video');
                return {width: v.videoWidth, height: v.videoHeight, local: document.getElementById('local-video')
                        .srcObject.getVideoTracks().length};
                """);
        assertThat(decoded.get("width").asInt()).isPositive();
        assertThat(decoded.get("local").asInt()).isEqualTo(1);

        typeAndEnter(alice, "chat-input", "hello from alice");
        until(bob, logHas("chat-log", "Partner:hello from alice"), "alice's line at bob's");
        bob.evaluate("document.getElementById('chat-input').value = 'hi alice, bob here';");
        click(bob, "chat-send");
        until(alice, logHas("chat-log", "Partner:hi alice, bob here"), "bob's line at alice's");
        assertThat(lines(alice, "chat-log")).contains("You:hello from alice");
        assertThat(text(alice, "chat-input")).isEmpty();

        Files.createDirectories(SCREENSHOTS);
        for (Map.Entry<String, HeadlessChromium.Page> e :
                Map.of("alice", alice, "bob", bob).entrySet()) {
            Path shot = e.getValue().screenshot(SCREENSHOTS.resolve("demo-matched-" + e.getKey() + ".png"));
            assertThat(Files.size(shot)).as("screenshot %s", shot).isGreaterThan(1000);
        }

        click(alice, "next");
        until(bob, "$('partner-state').dataset.state === 'left'", "bob to see alice leave");
        assertThat(text(bob, "partner-state")).contains("moved on");
        until(bob, "document.body.dataset.rtc === 'none' && $('start').disabled === false", "bob's call to end");
        assertThat(text(alice, "partner-state")).contains("Looking for someone new");
        assertNoProblems(alice);
        assertNoProblems(bob);
    }

    @Test
    @DisplayName("section 11: Report during a match is an rpc the gateway proxies to the sample backend, which answers"
            + " a ticket and logs the report; without an rpc hook the page says reporting is not set up")
    void reportThroughTheSampleBackend() throws Exception {
        try (SampleBackend backend = SampleBackend.start(Map.of())) {
            gw = TestGateway.start(Map.of(
                    "SWITCHBOARD_INTEREST_WAIT_MS", "0",
                    "SWITCHBOARD_HOOK_URL", backend.hookUrl(),
                    "SWITCHBOARD_HOOKS", "rpc"));
            HeadlessChromium.Page alice = openConnected("");
            HeadlessChromium.Page bob = openConnected("");
            until(alice, "$('report').disabled === true", "Report off before a match");
            click(alice, "start");
            until(alice, "$('partner-state').dataset.state === 'waiting'", "alice to wait in the queue");
            click(bob, "start");
            until(alice, "$('partner-state').dataset.state === 'matched'", "the match");
            until(alice, "$('report').disabled === false", "Report on during the match");

            click(alice, "report");

            until(alice, "$('report-state').dataset.state === 'reported'", "the backend's answer");
            assertThat(text(alice, "report-state")).contains("ticket r-1");
            Await.until(
                    "the backend to log the report",
                    WAIT,
                    () -> backend.lines().stream().anyMatch(l -> l.contains("report r-1:") && l.contains("reported")));
            assertNoProblems(alice);
        }
        gw.close();
        gw = TestGateway.start(Map.of("SWITCHBOARD_INTEREST_WAIT_MS", "0"));
        HeadlessChromium.Page carol = openConnected("");
        HeadlessChromium.Page dave = openConnected("");
        click(carol, "start");
        until(carol, "$('partner-state').dataset.state === 'waiting'", "carol to wait in the queue");
        click(dave, "start");
        until(carol, "$('report').disabled === false", "Report on during the match");
        click(carol, "report");
        until(carol, "$('report-state').dataset.state === 'failed'", "the refusal");
        assertThat(text(carol, "report-state")).contains("not set up");
    }

    @Test
    @DisplayName("section 6: when a partner's connection drops, the page shows it reconnecting, then back")
    void partnerReconnectingThenBack() {
        gw = TestGateway.start(Map.of("SWITCHBOARD_INTEREST_WAIT_MS", "0"));
        proxy = TcpProxy.to(gw.port());
        HeadlessChromium.Page alice = openConnected("?reconnectBase=300&ws=" + proxy.wsUri());
        HeadlessChromium.Page bob = openConnected("");
        click(alice, "start");
        until(alice, "$('partner-state').dataset.state === 'waiting'", "alice to wait in the queue");
        click(bob, "start");
        until(bob, "$('partner-state').dataset.state === 'matched'", "the match");
        until(alice, "$('partner-state').dataset.state === 'matched'", "the match");

        proxy.refuse();
        proxy.cutAll();
        until(bob, "$('partner-state').dataset.state === 'reconnecting'", "bob to see alice reconnecting");
        assertThat(text(bob, "partner-state")).contains("reconnecting");
        proxy.accept();
        until(bob, "$('partner-state').dataset.state === 'back'", "bob to see alice back");
        assertThat(text(bob, "partner-state")).contains("back");
        until(alice, "$('status').dataset.recovered === 'true'", "alice to recover");

        typeAndEnter(alice, "chat-input", "still here");
        until(bob, logHas("chat-log", "Partner:still here"), "the chat to go on after the resume");
    }

    @Test
    @DisplayName("sections 5 and 8: a page whose socket is cut shows reconnecting with the attempt, then recovers"
            + " every lobby message published meanwhile, none twice")
    void cutPageRecoversTheLobby() {
        gw = TestGateway.start();
        proxy = TcpProxy.to(gw.port());
        HeadlessChromium.Page page = openConnected("?reconnectBase=300&ws=" + proxy.wsUri());
        until(page, "$('lobby-log').dataset !== undefined", "the page");
        postLobby("before 1");
        postLobby("before 2");
        until(page, logHas("lobby-log", "before 2"), "the lobby messages");

        proxy.refuse();
        proxy.cutAll();
        until(
                page,
                "$('status').dataset.state === 'reconnecting' && /attempt \\d+/.test($('status').textContent)",
                "the page to show reconnecting with the attempt");
        String reconnecting = text(page, "status");
        postLobby("during 1");
        postLobby("during 2");
        postLobby("during 3");
        proxy.accept();
        until(page, "$('status').dataset.recovered === 'true'", "the page to recover");

        assertThat(reconnecting).containsIgnoringCase("reconnecting").containsPattern("attempt \\d+");
        assertThat(text(page, "status")).contains("recovered");
        until(page, logHas("lobby-log", "during 3"), "the last message");
        List<String> texts = List.of("before 1", "before 2", "during 1", "during 2", "during 3");
        assertThat(shown(page, texts)).containsExactlyElementsOf(texts);
        assertNoProblems(page, proxy.wsUri());
    }

    @Test
    @DisplayName("section 5: after a reload the lobby shows its last messages again, those sent meanwhile too")
    void lobbyAfterReload() {
        gw = TestGateway.start();
        HeadlessChromium.Page page = openConnected("");
        postLobby("first");
        typeAndEnter(page, "lobby-input", "second, from the page");
        until(page, logHas("lobby-log", "second, from the page"), "the lobby messages");
        assertThat(text(page, "lobby-input")).isEmpty();

        page.navigate(URI.create("about:blank"));
        postLobby("while away");
        page.navigate(gw.httpUri("/"));
        until(page, "$('status').dataset.state === 'connected'", "the page to connect again");
        until(page, logHas("lobby-log", "while away"), "the message sent while away");
        postLobby("after");
        until(page, logHas("lobby-log", "after"), "a new message");

        List<String> texts = List.of("first", "second, from the page", "while away", "after");
        assertThat(shown(page, texts)).containsExactlyElementsOf(texts);
        assertThat(text(page, "lobby-note")).isEmpty();
        assertNoProblems(page);
    }

    /** The condition that the page's #match-stats shows {@code online} online and {@code waiting} waiting. */
    private static String statsShow(int online, int waiting) {
        return "$('match-stats').dataset.state === 'shown' && $('match-stats').textContent === %s"
                .formatted(js(online + " online, " + waiting + " waiting"));
    }

    @Test
    @DisplayName("section 10: the random-connect side shows how many are online and waiting (match.stats), refreshed"
            + " as users join and leave the queue")
    void matchStatsShowOnlineAndWaiting() {
        gw = TestGateway.start();
        HeadlessChromium.Page page = openConnected("");
        until(page, statsShow(1, 0), "the page alone online");

        SwitchboardClient other = gw.connect(Tokens.user("u_wait"));
        other.request(id -> new ClientFrame.MatchJoin(id, List.of())).block(TestGateway.TIMEOUT);
        until(page, statsShow(2, 1), "a second user, waiting");
        other.request(ClientFrame.MatchLeave::new).block(TestGateway.TIMEOUT);
        until(page, statsShow(2, 0), "nobody waiting any more");

        assertThat(page.evaluate("return document.getElementById('match-stats').dataset.waiting;")
                        .asText())
                .isEqualTo("0");
        assertNoProblems(page);
    }

    @Test
    @DisplayName(
            "section 10: while the gateway cannot count (Redis down, figures over 2 s old) the page says the figures"
                    + " are unavailable, and shows them again once Redis is back")
    void matchStatsUnavailableWhileRedisIsDown() {
        redis = RedisServer.start();
        gw = TestGateway.startClustered(redis.uri(), "gw-test", Map.of());
        HeadlessChromium.Page page = openConnected("");
        until(page, statsShow(1, 0), "the figures");

        redis.kill();
        until(page, "$('match-stats').dataset.state === 'unavailable'", "the figures to be unavailable");
        String shown = text(page, "match-stats");
        redis.restart();
        until(page, statsShow(1, 0), "the figures again");

        assertThat(shown).contains("unavailable");
        assertThat(text(page, "status")).as("the connection itself stayed up").startsWith("Connected");
    }

    /** The names the page's lobby member list shows, in order. */
    private static List<String> members(HeadlessChromium.Page page) {
        return lines(page, "lobby-members");
    }

    private static String memberShown(String name, boolean shown) {
        return (shown ? "" : "!")
                + "Array.from($('lobby-members').children).some(li => li.textContent === %s)".formatted(js(name));
    }

    @Test
    @DisplayName(
            "section 10: the lobby lists who is here (info.name, else the user id; the page itself marked), updated"
                    + " on join and leave, and brought up to date after a reconnect")
    void lobbyMembersFollowJoinAndLeave() {
        gw = TestGateway.start();
        proxy = TcpProxy.to(gw.port());
        HeadlessChromium.Page page = openConnected("?reconnectBase=300&ws=" + proxy.wsUri());
        String me = page.evaluate("return document.getElementById('status').textContent.replace('Connected as ', '');")
                .asText();
        until(page, memberShown(me + " (you)", true), "the page itself in the list");

        SwitchboardClient ann = gw.connect(Tokens.userWithInfo("u_ann", Map.of("name", "Ann")));
        ann.subscribe("public:lobby", null, true, false).block(TestGateway.TIMEOUT);
        SwitchboardClient bob = gw.connect(Tokens.user("u_bob"));
        bob.subscribe("public:lobby", null, true, false).block(TestGateway.TIMEOUT);
        until(page, memberShown("Ann", true) + " && " + memberShown("u_bob", true), "Ann and u_bob to join");
        assertThat(members(page)).containsExactlyInAnyOrder(me + " (you)", "Ann", "u_bob");
        assertThat(text(page, "lobby-count")).isEqualTo("(3)");

        ann.unsubscribe("public:lobby").block(TestGateway.TIMEOUT);
        until(page, memberShown("Ann", false), "Ann to leave");
        assertThat(members(page)).containsExactlyInAnyOrder(me + " (you)", "u_bob");

        proxy.refuse();
        proxy.cutAll();
        until(page, "$('status').dataset.state === 'reconnecting'", "the page to reconnect");
        bob.unsubscribe("public:lobby").block(TestGateway.TIMEOUT);
        ann.subscribe("public:lobby", null, true, false).block(TestGateway.TIMEOUT);
        proxy.accept();
        until(page, "$('status').dataset.recovered === 'true'", "the page to recover");

        assertThat(members(page))
                .as("what changed while away, shown once recovered")
                .containsExactlyInAnyOrder(me + " (you)", "Ann");
        assertThat(text(page, "lobby-count")).isEqualTo("(2)");
        assertNoProblems(page, proxy.wsUri());
    }

    @Test
    @DisplayName("section 8: a page that cannot reconnect shows given up and a Retry button that connects again")
    void gaveUpThenRetry() {
        gw = TestGateway.start();
        proxy = TcpProxy.to(gw.port());
        HeadlessChromium.Page page = openConnected("?reconnectBase=50&maxAttempts=2&ws=" + proxy.wsUri());
        assertThat(page.evaluate("return document.getElementById('retry').hidden;")
                        .asBoolean())
                .isTrue();

        proxy.refuse();
        proxy.cutAll();
        until(page, "$('status').dataset.state === 'gaveup' && !$('retry').hidden", "the page to give up");
        assertThat(text(page, "status")).contains("Gave up");

        proxy.accept();
        click(page, "retry");
        until(page, "$('status').dataset.state === 'connected'", "the page to connect again");
        assertThat(page.evaluate("return document.getElementById('retry').hidden;")
                        .asBoolean())
                .isTrue();
        postLobby("after retry");
        until(page, logHas("lobby-log", "after retry"), "the lobby after the retry");
    }

    @Test
    @DisplayName("a phone-sized screen: nothing overflows, every control is a real button or input within reach, Tab"
            + " reaches them and Enter sends")
    void phoneSizedAndKeyboard() {
        gw = TestGateway.start();
        HeadlessChromium.Page page = open("");
        page.viewport(375, 667, true);
        page.navigate(gw.httpUri("/"));
        until(page, "$('status').dataset.state === 'connected'", "the page to connect");

        JsonNode layout = page.evaluate("""
                const controls = %s.map(id => {
                  const el = document.getElementById(id);
                  const r = el.getBoundingClientRect();
                  return {id, tag: el.tagName, left: r.left, right: r.right, width: r.width, height: r.height,
                          label: el.labels ? el.labels.length : -1};
                });
                return {scroll: document.documentElement.scrollWidth, inner: window.innerWidth, controls};
                """.formatted(js(CONTROLS)));
        assertThat(layout.get("inner").asInt()).isEqualTo(375);
        assertThat(layout.get("scroll").asInt()).as("no horizontal overflow").isLessThanOrEqualTo(375);
        for (JsonNode c : layout.get("controls")) {
            assertThat(c.get("tag").asText()).as("#%s", c.get("id").asText()).isIn("BUTTON", "INPUT");
            assertThat(c.get("left").asDouble())
                    .as("#%s left", c.get("id").asText())
                    .isGreaterThanOrEqualTo(0);
            assertThat(c.get("right").asDouble())
                    .as("#%s right", c.get("id").asText())
                    .isLessThanOrEqualTo(375);
            assertThat(c.get("width").asDouble() * c.get("height").asDouble())
                    .as("#%s size", c.get("id").asText())
                    .isPositive();
            if (c.get("tag").asText().equals("INPUT")) {
                assertThat(c.get("label").asInt())
                        .as("#%s has a label", c.get("id").asText())
                        .isPositive();
            }
        }

        page.evaluate("document.activeElement.blur(); document.body.focus();");
        List<String> reached = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            page.press("Tab");
            reached.add(page.evaluate("return document.activeElement.id;").asText());
        }
        assertThat(reached)
                .as("Tab order")
                .contains("interests", "start", "chat-input", "chat-send", "lobby-input", "lobby-send");

        typeAndEnter(page, "lobby-input", "typed on a phone");
        until(page, logHas("lobby-log", "typed on a phone"), "Enter to send");
        assertNoProblems(page);
    }
}
