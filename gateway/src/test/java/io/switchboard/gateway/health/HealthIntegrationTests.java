package io.switchboard.gateway.health;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The health endpoints a load balancer and an operator read (docs/protocol.md section 9). */
class HealthIntegrationTests {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TestGateway gw;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
    }

    private JsonNode health() {
        HttpResponse<String> res = gw.get("/health");
        assertThat(res.statusCode()).isEqualTo(200);
        assertThat(res.headers().firstValue("Content-Type"))
                .hasValueSatisfying(t -> assertThat(t).startsWith("application/json"));
        try {
            return JSON.readTree(res.body());
        } catch (JsonProcessingException e) {
            throw new AssertionError("GET /health is not JSON: " + res.body(), e);
        }
    }

    @Test
    @DisplayName("section 9: GET /health/live answers 200 while the process serves")
    void liveAnswers200() {
        gw = TestGateway.start();
        assertThat(gw.get("/health/live").statusCode()).isEqualTo(200);
    }

    @Test
    @DisplayName("section 9: GET /health/ready answers 200 when the gateway accepts connections")
    void readyAnswers200() {
        gw = TestGateway.start();
        assertThat(gw.get("/health/ready").statusCode()).isEqualTo(200);
        assertThat(gw.connect().welcome()).isNotNull();
    }

    @Test
    @DisplayName("section 9: GET /health is JSON with status UP, node, mode, dependencies and no connections yet")
    void reportOfAnIdleGateway() {
        gw = TestGateway.start();
        JsonNode h = health();
        assertThat(h.get("status").asText()).isEqualTo("UP");
        assertThat(h.get("node").asText()).isEqualTo("gw-test");
        assertThat(h.get("mode").asText()).isEqualTo("embedded");
        assertThat(h.get("dependencies").isObject()).isTrue();
        assertThat(h.get("connections").get("open").asInt()).isZero();
        assertThat(h.get("connections").get("sessions").asInt()).isZero();
    }

    @Test
    @DisplayName("section 9: GET /health counts open connections and sessions, and counts down when one leaves")
    void reportCountsConnections() {
        gw = TestGateway.start();
        SwitchboardClient guest = gw.connect();
        SwitchboardClient user = gw.connect(Tokens.user("u_alice"));

        Await.until("/health to count two connections and two sessions", TestGateway.TIMEOUT, () -> {
            JsonNode c = health().get("connections");
            return c.get("open").asInt() == 2 && c.get("sessions").asInt() == 2;
        });
        JsonNode h = health();
        assertThat(h.get("status").asText()).isEqualTo("UP");
        assertThat(h.get("node").asText()).isEqualTo("gw-test");
        assertThat(h.get("mode").asText()).isEqualTo("embedded");
        assertThat(h.get("dependencies").isObject()).isTrue();
        assertThat(h.get("connections").get("open").asInt()).isEqualTo(2);
        assertThat(h.get("connections").get("sessions").asInt()).isEqualTo(2);

        guest.close();
        Await.until("/health to count one connection and one session", TestGateway.TIMEOUT, () -> {
            JsonNode c = health().get("connections");
            return c.get("open").asInt() == 1 && c.get("sessions").asInt() == 1;
        });
        assertThat(user.isClosed()).isFalse();
    }

    @Test
    @DisplayName("section 9: GET /health counts a connection that has not said hello as open but not as a session")
    void connectionBeforeHelloIsOpenButNoSession() {
        gw = TestGateway.start();
        gw.open();
        gw.connect();
        Await.until(
                "/health to count two open connections",
                TestGateway.TIMEOUT,
                () -> health().get("connections").get("open").asInt() == 2);
        assertThat(health().get("connections").get("sessions").asInt()).isEqualTo(1);
    }
}
