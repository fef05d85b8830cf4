package io.switchboard.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Close codes, docs/protocol.md section 8. */
class CloseCodesUnitTests {

    @ParameterizedTest(name = "{0} {1}: reconnect {2}")
    @CsvSource({
        "1000, normal closure,            false",
        "1001, going away,                true",
        "1002, WebSocket protocol error,  false",
        "1003, binary frame,              false",
        "1006, abnormal (no close frame), true",
        "1007, invalid UTF-8,             false",
        "1008, policy violation (abuse),  false",
        "1009, frame too big,             false",
        "1011, internal error,            true",
        "1012, service restart (drain),   true",
        "1013, try again later,           true",
        "4000, protocol error,            false",
        "4001, unauthorized,              false",
        "4002, session replaced,          false",
        "4003, heartbeat timeout,         true",
        "4004, slow consumer,             true",
        "4005, hello timeout,             true"
    })
    @DisplayName("section 8: shouldReconnect follows the table; every table code is known, with its meaning")
    void table(int code, String meaning, boolean reconnect) {
        assertThat(CloseCodes.shouldReconnect(code)).as("%d %s", code, meaning).isEqualTo(reconnect);
        assertThat(CloseCodes.isKnown(code)).as("%d %s", code, meaning).isTrue();
        assertThat(CloseCodes.meaning(code)).isEqualTo(meaning);
    }

    @Test
    @DisplayName("section 8: the constants have the table's values")
    void constants() {
        assertThat(CloseCodes.NORMAL).isEqualTo(1000);
        assertThat(CloseCodes.GOING_AWAY).isEqualTo(1001);
        assertThat(CloseCodes.BINARY_FRAME).isEqualTo(1003);
        assertThat(CloseCodes.ABNORMAL).isEqualTo(1006);
        assertThat(CloseCodes.INVALID_UTF8).isEqualTo(1007);
        assertThat(CloseCodes.POLICY_VIOLATION).isEqualTo(1008);
        assertThat(CloseCodes.FRAME_TOO_BIG).isEqualTo(1009);
        assertThat(CloseCodes.INTERNAL_ERROR).isEqualTo(1011);
        assertThat(CloseCodes.SERVICE_RESTART).isEqualTo(1012);
        assertThat(CloseCodes.PROTOCOL_ERROR).isEqualTo(4000);
        assertThat(CloseCodes.UNAUTHORIZED).isEqualTo(4001);
        assertThat(CloseCodes.SESSION_REPLACED).isEqualTo(4002);
        assertThat(CloseCodes.HEARTBEAT_TIMEOUT).isEqualTo(4003);
        assertThat(CloseCodes.SLOW_CONSUMER).isEqualTo(4004);
        assertThat(CloseCodes.HELLO_TIMEOUT).isEqualTo(4005);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(ints = {0, -1, 999, 1004, 1005, 1010, 1014, 1015, 2000, 3000, 3999, 4006, 4999, 5000})
    @DisplayName("section 8: codes outside the table (with 1002 and 1013, see the protocol notes) are not known")
    void unknown(int code) {
        assertThat(CloseCodes.isKnown(code)).isFalse();
        assertThat(CloseCodes.meaning(code)).isEqualTo("unknown");
    }

    @Test
    @DisplayName("section 4: ErrorCodes.ALL lists exactly the eleven codes of section 4")
    void errorCodes() {
        assertThat(ErrorCodes.ALL)
                .containsExactlyInAnyOrder(
                        "bad_request",
                        "unknown_type",
                        "unauthorized",
                        "forbidden",
                        "not_found",
                        "conflict",
                        "rate_limited",
                        "too_many",
                        "unavailable",
                        "session_replaced",
                        "internal");
    }
}
