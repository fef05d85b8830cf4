package io.switchboard.gateway.browser;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.switchboard.gateway.support.Browser;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.browser.HeadlessChromium;
import io.switchboard.testing.net.TcpProxy;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Presence in the browser client {@code /switchboard.js} (docs/protocol.md section 10), in a headless Chromium against
 * a real gateway: the reads, the roster of a joinLeave channel told as {@code join} and {@code leave} events, and the
 * difference told after a reconnect through a {@link TcpProxy} that cuts. Other users are Java clients.
 */
class BrowserPresenceIntegrationTests {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String RECORDER = resource("io/switchboard/gateway/browser/recorder.js");
    private static final String ROOM = "public:room";

    @RegisterExtension
    static final Browser browser = new Browser();

    private TestGateway gw;
    private TcpProxy proxy;
    private HeadlessChromium.Page page;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (gw != null) {
            gw.close();
        }
    }

    private static String resource(String path) {
        try (InputStream in =
                BrowserPresenceIntegrationTests.class.getClassLoader().getResourceAsStream(path)) {
            assertThat(in).as("classpath resource %s", path).isNotNull();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String js(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** A tab with {@code client} connected to {@code ws} and its Recorder {@code rec}; the user id of its welcome. */
    private String connectPage(String ws) {
        page = browser.open(gw.httpUri("/health/live"));
        page.evaluate(RECORDER);
        return page.evaluate("""
                const sb = await import('/switchboard.js');
                globalThis.client = new sb.SwitchboardClient({url: %s, reconnect: {base: 50, maxDelay: 200,
                    maxAttempts: 1000}});
                globalThis.rec = new Recorder(client);
                return (await client.connect()).user;
                """.formatted(js(ws))).asText();
    }

    /** A Java client of user {@code id} (info {@code {"name": name}}) present in {@code ROOM}. */
    private SwitchboardClient present(String id, String name) {
        SwitchboardClient c = gw.connect(Tokens.userWithInfo(id, Map.of("name", name)));
        c.subscribe(ROOM, null, true, false).block(TestGateway.TIMEOUT);
        return c;
    }

    /** The page's join and leave events from index {@code from} of all its events on, as "join u_x" or "leave u_x". */
    private JsonNode changesFrom(int from) {
        return page.evaluate("""
                return rec.events.slice(%d).filter(e => e.name === 'join' || e.name === 'leave')
                    .map(e => e.name + ' ' + e.detail.user);
                """.formatted(from));
    }

    private static List<String> texts(JsonNode array) {
        return JSON.convertValue(array, JSON.getTypeFactory().constructCollectionType(List.class, String.class));
    }

    @Test
    @DisplayName("section 10: presence, presenceCount and matchStats; a joinLeave subscription emits everyone present"
            + " as join (itself included) before its ack resolves, then each change once, with the info")
    void presenceApiAndRoster() {
        gw = TestGateway.start();
        present("u_ann", "Ann");
        SwitchboardClient waiting = gw.connect(Tokens.user("u_wait"));
        waiting.request(id -> new ClientFrame.MatchJoin(id, List.of())).block(TestGateway.TIMEOUT);
        String me = connectPage(gw.wsUri().toString());

        JsonNode first = page.evaluate("""
                const ack = await client.subscribe(%1$s, {presence: true, joinLeave: true});
                const joins = rec.details('join');
                const read = await client.presence(%1$s);
                const count = await client.presenceCount(%1$s);
                const none = await client.presenceCount('public:empty');
                // the figures are refreshed every second: ask until they count the waiting user
                let stats;
                for (let i = 0; i < 100; i++) {
                  stats = await client.matchStats();
                  if (stats.waiting === 1) break;
                  await quietFor(50);
                }
                const refused = await client.presence('room:secret').then(() => 'read', e => e.code);
                return {ack, joins, roster: client.roster(%1$s), read, count, none, stats, refused,
                        other: client.roster('public:never') === undefined};
                """.formatted(js(ROOM)));

        assertThat(first.at("/ack/channel").asText()).isEqualTo(ROOM);
        assertThat(first.get("joins"))
                .as("told before the ack resolved")
                .containsExactlyInAnyOrder(
                        JSON.createObjectNode()
                                .put("type", "join")
                                .put("channel", ROOM)
                                .put("user", "u_ann")
                                .set("info", JSON.createObjectNode().put("name", "Ann")),
                        JSON.createObjectNode()
                                .put("type", "join")
                                .put("channel", ROOM)
                                .put("user", me)
                                .set("info", JSON.createObjectNode()));
        assertThat(first.get("roster").findValuesAsText("user")).containsExactlyInAnyOrder("u_ann", me);
        assertThat(first.at("/read/count").asInt()).isEqualTo(2);
        assertThat(first.at("/read/truncated").asBoolean()).isFalse();
        assertThat(first.at("/read/users").findValuesAsText("user")).containsExactlyInAnyOrder("u_ann", me);
        assertThat(first.get("count").asInt()).isEqualTo(2);
        assertThat(first.get("none").asInt()).isZero();
        assertThat(first.at("/stats/waiting").asInt()).isEqualTo(1);
        assertThat(first.at("/stats/online").asInt())
                .as("u_ann, u_wait and the page")
                .isEqualTo(3);
        assertThat(first.get("refused").asText()).isEqualTo("forbidden");
        assertThat(first.get("other").asBoolean()).isTrue();

        SwitchboardClient bob = present("u_bob", "Bob");
        page.evaluate("await rec.until('join of u_bob', () => rec.details('join').some(j => j.user === 'u_bob'));");
        bob.unsubscribe(ROOM).block(TestGateway.TIMEOUT);
        JsonNode after = page.evaluate("""
                await rec.next('leave');
                const roster = client.roster(%1$s).map(u => u.user);
                await client.unsubscribe(%1$s);
                return {roster, gone: client.roster(%1$s) === undefined};
                """.formatted(js(ROOM)));

        assertThat(texts(changesFrom(0)))
                .containsExactlyInAnyOrder("join u_ann", "join " + me, "join u_bob", "leave u_bob");
        assertThat(texts(changesFrom(0)).subList(2, 4)).containsExactly("join u_bob", "leave u_bob");
        assertThat(texts(after.get("roster"))).containsExactlyInAnyOrder("u_ann", me);
        assertThat(after.get("gone").asBoolean()).isTrue();
        assertThat(page.problems()).as("console errors and uncaught exceptions").isEmpty();
    }

    @Test
    @DisplayName("section 10: after a reconnect the page is told, before recovered, that a user left and one joined"
            + " while it was away; an unchanged user and itself cause nothing; live events go on")
    void reconnectEmitsTheDifference() {
        gw = TestGateway.start();
        proxy = TcpProxy.to(gw.port());
        present("u_ann", "Ann");
        SwitchboardClient bob = present("u_bob", "Bob");
        String me = connectPage(proxy.wsUri().toString());
        page.evaluate("await client.subscribe(%s, {presence: true, joinLeave: true});".formatted(js(ROOM)));

        proxy.refuse();
        proxy.cutAll();
        int away = page.evaluate("await rec.next('reconnecting'); return rec.events.length;")
                .asInt();
        bob.unsubscribe(ROOM).block(TestGateway.TIMEOUT);
        present("u_cat", "Cat");
        proxy.accept();
        JsonNode back = page.evaluate("""
                const recovered = await rec.next('recovered');
                return {recovered, changes: rec.events.slice(%d).filter(e => e.name === 'join' || e.name === 'leave')
                    .map(e => e.name + ' ' + e.detail.user), roster: client.roster(%s).map(u => u.user),
                    cat: rec.details('join').find(j => j.user === 'u_cat')};
                """.formatted(away, js(ROOM)));

        assertThat(back.at("/recovered/resumed").asBoolean()).isTrue();
        assertThat(texts(back.get("changes")))
                .as("emitted before recovered")
                .containsExactly("leave u_bob", "join u_cat");
        assertThat(back.at("/cat/info/name").asText()).isEqualTo("Cat");
        assertThat(texts(back.get("roster"))).containsExactlyInAnyOrder("u_ann", "u_cat", me);

        present("u_dan", "Dan");
        page.evaluate("await rec.until('join of u_dan', () => rec.details('join').some(j => j.user === 'u_dan'));");
        assertThat(texts(changesFrom(away)))
                .as("joinLeave kept after the reconnect; nothing told twice")
                .containsExactly("leave u_bob", "join u_cat", "join u_dan");
        assertThat(page.problems()).as("console errors and uncaught exceptions").isEmpty();
    }
}
