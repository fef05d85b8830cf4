package io.switchboard.gateway.hooks;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.switchboard.gateway.support.Browser;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.testing.browser.HeadlessChromium;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The browser client {@code /switchboard.js} with the proxy hooks (docs/backend.md), in a headless Chromium: the
 * page's own cookie authenticates it through the {@code connect} hook, the backend's channels arrive as
 * {@code subscribed} events before the welcome, and {@code rpc()} resolves with the backend's result or rejects with
 * its code.
 */
class BrowserHooksIntegrationTests {
    @RegisterExtension
    static final Browser browser = new Browser();

    private final FakeBackend backend = new FakeBackend();
    private TestGateway gw;
    private HeadlessChromium.Page page;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
        backend.close();
    }

    @Test
    @DisplayName("section 11: a page's cookie authenticates it, its backend channels are events, rpc() answers")
    void cookieSubscribedAndRpc() {
        gw = TestGateway.start(Map.of(
                "SWITCHBOARD_HOOK_URL", backend.url(),
                "SWITCHBOARD_HOOKS", "connect,rpc",
                "SWITCHBOARD_GUESTS", "false"));
        backend.on(
                "connect",
                call -> FakeBackend.ok(
                        call.body().path("headers").path("cookie").asText("").contains("sid=dana-session")
                                ? "{\"allow\":true,\"user\":\"dana\",\"channels\":[\"room:dana\"]}"
                                : "{\"allow\":false,\"code\":\"unauthorized\",\"message\":\"log in first\"}"));
        backend.on(
                "rpc",
                call -> FakeBackend.ok(
                        call.body().get("method").asText().equals("report")
                                ? "{\"result\":{\"ticket\":7,\"about\":"
                                        + call.body().path("data").path("about") + "}}"
                                : "{\"error\":{\"code\":\"forbidden\",\"message\":\"not yours\"}}"));
        page = browser.open(gw.httpUri("/health/live"));

        JsonNode seen = page.evaluate("""
                document.cookie = 'sid=dana-session; path=/';
                const sb = await import('/switchboard.js');
                const client = new sb.SwitchboardClient({});
                const order = [];
                client.on('subscribed', s => order.push('subscribed ' + s.channel + ' ' + s.offset));
                client.on('connected', c => order.push('connected ' + c.welcome.user));
                await client.connect();
                const result = await client.rpc('report', {about: 'u_x'});
                let refused;
                try {
                  await client.rpc('delete');
                } catch (e) {
                  refused = e.code + ' ' + e.message;
                }
                client.close();
                return {order, result, refused};
                """);

        assertThat(seen.path("order").toString()).isEqualTo("[\"subscribed room:dana 0\",\"connected dana\"]");
        assertThat(seen.path("result").toString()).isEqualTo("{\"ticket\":7,\"about\":\"u_x\"}");
        assertThat(seen.path("refused").asText()).startsWith("forbidden").contains("not yours");
        JsonNode rpc = backend.calls("rpc").get(1).body();
        assertThat(rpc.get("data").isNull()).isTrue();
        assertThat(backend.calls("connect")
                        .get(0)
                        .body()
                        .path("headers")
                        .path("origin")
                        .asText())
                .isEqualTo("http://127.0.0.1:" + gw.port());
    }
}
