package io.switchboard.gateway.hooks;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.FrameCodec;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** How a backend's refusal becomes the client's error (docs/backend.md, refusals and error codes). */
class HooksUnitTests {

    private static HookRefusal refusal(String json, String fallback) throws Exception {
        JsonNode node = FrameCodec.mapper().readTree(json);
        return Hooks.refusal(node, fallback);
    }

    @Test
    @DisplayName("a code of protocol section 4 passes as it is, with the backend's message")
    void protocolCodesPass() throws Exception {
        assertThat(refusal("{\"code\":\"not_found\",\"message\":\"no such user\"}", ErrorCodes.FORBIDDEN))
                .isEqualTo(new HookRefusal(ErrorCodes.NOT_FOUND, "no such user", null));
    }

    @Test
    @DisplayName("rate_limited and unavailable carry a retryAfter, as clients expect of them")
    void retryableCodesCarryRetryAfter() throws Exception {
        assertThat(refusal("{\"code\":\"unavailable\"}", ErrorCodes.FORBIDDEN).retryAfter())
                .isEqualTo(Hooks.REFUSAL_RETRY_MS);
        assertThat(refusal("{\"code\":\"rate_limited\",\"message\":\"slow down\"}", ErrorCodes.FORBIDDEN)
                        .retryAfter())
                .isEqualTo(Hooks.REFUSAL_RETRY_MS);
    }

    @Test
    @DisplayName("another code, session_replaced or unknown_type becomes the hook's default, leading the message")
    void otherCodesBecomeTheDefault() throws Exception {
        assertThat(refusal("{\"code\":\"banned_word\",\"message\":\"no spam\"}", ErrorCodes.FORBIDDEN))
                .isEqualTo(new HookRefusal(ErrorCodes.FORBIDDEN, "banned_word: no spam", null));
        assertThat(refusal("{\"code\":\"session_replaced\"}", ErrorCodes.UNAUTHORIZED))
                .isEqualTo(new HookRefusal(ErrorCodes.UNAUTHORIZED, "session_replaced", null));
        assertThat(refusal("{\"code\":\"unknown_type\",\"message\":\"x\"}", ErrorCodes.BAD_REQUEST)
                        .code())
                .isEqualTo(ErrorCodes.BAD_REQUEST);
    }

    @Test
    @DisplayName("no code or message: the default code and a message saying who refused; long messages are cut")
    void defaultsAndBounds() throws Exception {
        assertThat(refusal("{\"allow\":false}", ErrorCodes.FORBIDDEN))
                .isEqualTo(new HookRefusal(ErrorCodes.FORBIDDEN, "refused by the application's backend", null));
        assertThat(refusal("{\"code\":42,\"message\":[]}", ErrorCodes.FORBIDDEN).code())
                .isEqualTo(ErrorCodes.FORBIDDEN);
        String longMessage = "x".repeat(Hooks.MAX_MESSAGE + 100);
        assertThat(refusal("{\"code\":\"forbidden\",\"message\":\"" + longMessage + "\"}", ErrorCodes.FORBIDDEN)
                        .message())
                .hasSize(Hooks.MAX_MESSAGE + 3);
    }

    @Test
    @DisplayName("logs name the backend by scheme, host and port: no path, no user part")
    void logsNameNoSecret() {
        assertThat(HookClient.where(java.net.URI.create("https://user:pw@app.example:8443/hooks/s3cret")))
                .isEqualTo("https://app.example:8443");
        assertThat(HookClient.where(java.net.URI.create("http://app/switchboard")))
                .isEqualTo("http://app");
    }
}
