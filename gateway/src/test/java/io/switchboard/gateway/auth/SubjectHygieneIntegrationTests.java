package io.switchboard.gateway.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardException;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * A JWT {@code sub} is a user id of the documented characters and never a guest's (docs/protocol.md section 2): a
 * token with anything else is refused with {@code unauthorized} and close 4001.
 */
class SubjectHygieneIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private TestGateway gw;

    @BeforeEach
    void start() {
        gw = TestGateway.start();
    }

    @AfterEach
    void stop() {
        gw.close();
    }

    private void assertRefusedWith4001(String token, String reason) {
        SwitchboardClient c = gw.open();
        EventRecorder events = EventRecorder.of(c);
        assertThatThrownBy(() -> TestGateway.hello(c, token))
                .isInstanceOf(SwitchboardException.class)
                .satisfies(e -> {
                    assertThat(((SwitchboardException) e).code()).isEqualTo(ErrorCodes.UNAUTHORIZED);
                    assertThat(e.getMessage()).contains(reason);
                });
        assertThat(c.closed().block(T).code()).isEqualTo(CloseCodes.UNAUTHORIZED);
        assertThat(events.drain()).noneMatch(f -> f instanceof ServerFrame.Welcome);
    }

    @Test
    @DisplayName("section 2: a token whose sub holds a newline is refused with unauthorized and close 4001")
    void subWithANewlineIsRefused() {
        assertRefusedWith4001(Tokens.user("u_x\ngw-test"), "U+000A");
        assertRefusedWith4001(Tokens.user("u_x\r\n"), "U+000D");
        assertRefusedWith4001(Tokens.user("u x"), "U+0020");
    }

    @Test
    @DisplayName("section 2: a token whose sub is a live guest's id is refused with 4001, and the guest keeps its"
            + " connection and its directs")
    void subOfALiveGuestIsRefused() {
        SwitchboardClient guest = gw.connect();
        EventRecorder guestEvents = EventRecorder.of(guest);
        String id = guest.welcome().user();

        assertRefusedWith4001(Tokens.user(id), "g_");
        SwitchboardClient sender = gw.connect(Tokens.user("u_sender"));

        assertThat(sender.send(id, "\"still yours\"").block(T).delivered()).isTrue();
        ServerFrame.Direct direct = guestEvents.next(ServerFrame.Direct.class);
        assertThat(direct.data()).isEqualTo("\"still yours\"");
        assertThat(guest.isClosed()).isFalse();
    }

    @Test
    @DisplayName("section 2: a sub of the documented characters, | included, is the user id")
    void subOfTheDocumentedCharactersIsAccepted() {
        SwitchboardClient c = gw.connect(Tokens.user("auth0|5f7c:team.a-b_c@x"));
        assertThat(c.welcome().user()).isEqualTo("auth0|5f7c:team.a-b_c@x");
        assertThat(c.welcome().guest()).isFalse();
    }
}
