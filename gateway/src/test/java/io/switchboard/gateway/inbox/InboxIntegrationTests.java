package io.switchboard.gateway.inbox;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** Direct messages through the inbox (docs/protocol.md section 5, Inbox). */
class InboxIntegrationTests {
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

    @Test
    @DisplayName("section 5: send to a connected user is delivered as direct with from, offset and epoch")
    void sendToConnectedUser() {
        SwitchboardClient alice = gw.connect(Tokens.user("u_alice"));
        SwitchboardClient bob = gw.connect(Tokens.user("u_bob"));
        EventRecorder bobEvents = EventRecorder.of(bob);
        ServerFrame.Ack ack = alice.send("u_bob", "{\"text\":\"psst\"}").block(T);
        assertThat(ack.delivered()).isTrue();
        alice.send("u_bob", "2").block(T);
        List<ServerFrame.Direct> got = bobEvents.next(ServerFrame.Direct.class, 2);
        assertThat(got.get(0).from()).isEqualTo("u_alice");
        assertThat(got.get(0).data()).isEqualTo("{\"text\":\"psst\"}");
        assertThat(got).extracting(ServerFrame.Direct::offset).containsExactly(1L, 2L);
        assertThat(got)
                .extracting(ServerFrame.Direct::epoch)
                .containsOnly(bob.welcome().inbox().epoch());
    }

    @Test
    @DisplayName("section 5: send to a user with no live or resumable connection says delivered false and stores"
            + " nothing: the user's inbox starts empty")
    void sendToAbsentUserStoresNothing() {
        SwitchboardClient alice = gw.connect(Tokens.user("u_alice"));
        assertThat(alice.send("u_carol", "1").block(T).delivered()).isFalse();
        assertThat(alice.send("u_carol", "2").block(T).delivered()).isFalse();
        SwitchboardClient carol = gw.connect(Tokens.user("u_carol"));
        assertThat(carol.welcome().inbox().offset()).isZero();
    }

    @Test
    @DisplayName("section 5: send to ids that never existed leaves no inbox behind, only the sender's own")
    void sendToRandomIdsLeavesNoInbox() {
        SwitchboardClient alice = gw.connect(Tokens.user("u_alice"));
        for (int i = 0; i < 50; i++) {
            assertThat(alice.send("u_nobody_" + i, "1").block(T).delivered()).isFalse();
        }
        assertThat(alice.send("not a user id\n", "1").block(T).delivered()).isFalse();

        assertThat(gw.gateway().metrics().scrape())
                .as("alice's inbox only")
                .contains("switchboard_history_channels 1.0");
    }

    @Test
    @DisplayName("section 5: guests have inboxes too; a guest can send to a guest")
    void guestsSendToGuests() {
        SwitchboardClient a = gw.connect();
        SwitchboardClient b = gw.connect();
        EventRecorder bEvents = EventRecorder.of(b);
        assertThat(a.send(b.welcome().user(), "\"hi\"").block(T).delivered()).isTrue();
        ServerFrame.Direct d = bEvents.next(ServerFrame.Direct.class);
        assertThat(d.from()).isEqualTo(a.welcome().user());
        assertThat(d.data()).isEqualTo("\"hi\"");
    }

    @Test
    @DisplayName("section 5: after a user's connection closes, send says delivered false")
    void deliveredFalseAfterDisconnect() {
        SwitchboardClient alice = gw.connect(Tokens.user("u_alice"));
        SwitchboardClient dave = gw.connect(Tokens.user("u_dave"));
        assertThat(alice.send("u_dave", "1").block(T).delivered()).isTrue();
        dave.close();
        Await.until("dave's session to end", T, () -> gw.gateway().registry().local("u_dave") == null);
        assertThat(alice.send("u_dave", "2").block(T).delivered()).isFalse();
    }
}
