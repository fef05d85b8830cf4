package io.switchboard.gateway.events;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The signature of a batch (docs/protocol.md section 11) and the exact body it covers. */
class WebhookSignatureUnitTests {
    private static final String SECRET = "webhook-secret-webhook-secret-0123456789";

    @Test
    @DisplayName("section 11: v1 is the hex HMAC-SHA256 of \"t.body\" with the secret (a known vector)")
    void knownVector() {
        byte[] body = "{\"events\":[]}".getBytes(StandardCharsets.UTF_8);
        // printf '1700000000.{"events":[]}' | openssl dgst -sha256 -hmac 'webhook-secret-webhook-secret-0123456789'
        assertThat(new WebhookSignature(SECRET).sign(1_700_000_000L, body))
                .isEqualTo("t=1700000000,v1=ce453efd77d65416b2e70374e844a937a620ec1dd2ba9663bd2ae3a5c4cff238");
    }

    @Test
    @DisplayName("section 11: a signature verifies for its body and time, not for another body, secret or old time")
    void verifies() {
        WebhookSignature s = new WebhookSignature(SECRET);
        byte[] body = "{\"events\":[{\"id\":\"ev_1\"}]}".getBytes(StandardCharsets.UTF_8);
        String header = s.sign(1_000, body);
        assertThat(s.verify(header, body, 1_000, 300)).isTrue();
        assertThat(s.verify(header, "{\"events\":[]}".getBytes(StandardCharsets.UTF_8), 1_000, 300))
                .isFalse();
        assertThat(new WebhookSignature(SECRET + "x").verify(header, body, 1_000, 300))
                .isFalse();
        assertThat(s.verify(header, body, 1_301, 300)).as("too old").isFalse();
        assertThat(s.verify("t=1000,v1=zz", body, 1_000, 300)).isFalse();
        assertThat(s.verify(null, body, 1_000, 300)).isFalse();
    }

    @Test
    @DisplayName("section 11: a batch is {\"events\":[...]} with each event's JSON as it was encoded")
    void body() {
        WebhookEvent a = new WebhookEvent("ev_a", "user.connected", 1, "u", "{\"id\":\"ev_a\"}");
        WebhookEvent b = new WebhookEvent("ev_b", "user.connected", 2, "u", "{\"id\":\"ev_b\"}");
        assertThat(new String(WebhookDelivery.body(List.of(a, b)), StandardCharsets.UTF_8))
                .isEqualTo("{\"events\":[{\"id\":\"ev_a\"},{\"id\":\"ev_b\"}]}");
    }

    @Test
    @DisplayName("section 11: the backoff starts at 1 s and doubles up to 5 min")
    void backoff() {
        Duration first = WebhookDelivery.DEFAULT_FIRST_BACKOFF;
        Duration max = WebhookDelivery.DEFAULT_MAX_BACKOFF;
        assertThat(first).isEqualTo(Duration.ofSeconds(1));
        assertThat(max).isEqualTo(Duration.ofMinutes(5));
        assertThat(List.of(0, 1, 2, 3, 8, 9, 40, 1_000))
                .extracting(n -> WebhookDelivery.backoff(first, max, n).toSeconds())
                .containsExactly(1L, 2L, 4L, 8L, 256L, 300L, 300L, 300L);
    }

    @Test
    @DisplayName("section 11: at is ISO-8601 in UTC with milliseconds")
    void at() {
        assertThat(WebhookEvent.at(1_796_119_200_123L)).isEqualTo("2026-12-01T10:00:00.123Z");
    }
}
