package io.switchboard.gateway.match;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardException;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** block on the wire (docs/protocol.md section 6): a user id, and at most SWITCHBOARD_MAX_BLOCKS of them. */
class BlockLimitsIntegrationTests {
    private TestGateway gw;

    @AfterEach
    void stop() {
        gw.close();
    }

    @Test
    @DisplayName("section 6: block of a non user id is bad_request naming user; beyond SWITCHBOARD_MAX_BLOCKS too_many")
    void blockLimits() {
        gw = TestGateway.start(Map.of("SWITCHBOARD_MAX_BLOCKS", "2"));
        SwitchboardClient a = gw.connect(Tokens.user("u_a"));
        assertThatThrownBy(() ->
                        a.request(id -> new ClientFrame.Block(id, "u_x\nnode")).block(TestGateway.TIMEOUT))
                .isInstanceOf(SwitchboardException.class)
                .satisfies(e -> assertThat(((SwitchboardException) e).code()).isEqualTo(ErrorCodes.BAD_REQUEST))
                .hasMessageContaining("field 'user'");
        a.request(id -> new ClientFrame.Block(id, "u_1")).block(TestGateway.TIMEOUT);
        a.request(id -> new ClientFrame.Block(id, "u_2")).block(TestGateway.TIMEOUT);
        a.request(id -> new ClientFrame.Block(id, "u_2")).block(TestGateway.TIMEOUT);
        assertThatThrownBy(
                        () -> a.request(id -> new ClientFrame.Block(id, "u_3")).block(TestGateway.TIMEOUT))
                .isInstanceOf(SwitchboardException.class)
                .satisfies(e -> assertThat(((SwitchboardException) e).code()).isEqualTo(ErrorCodes.TOO_MANY));
    }
}
