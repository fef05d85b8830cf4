package io.switchboard.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.nimbusds.jose.JWSAlgorithm;
import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.Limits;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.CloseStatus;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardException;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The hello handshake and one live connection per user (docs/protocol.md section 2). */
class HandshakeIntegrationTests {
    private TestGateway gw;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
    }

    private static CloseStatus closed(SwitchboardClient c) {
        return c.closed().block(TestGateway.TIMEOUT);
    }

    @Test
    @DisplayName("section 2: a guest gets a welcome with a fresh g_ user id, its inbox position, ping and limits")
    void guestGetsWelcome() {
        gw = TestGateway.start();
        SwitchboardClient a = gw.connect();
        SwitchboardClient b = gw.connect();
        ServerFrame.Welcome w = a.welcome();
        assertThat(w.session()).startsWith("s_");
        assertThat(w.user()).startsWith("g_");
        assertThat(w.guest()).isTrue();
        assertThat(w.resumed()).isFalse();
        assertThat(w.recovered()).isFalse();
        assertThat(w.inbox().offset()).isZero();
        assertThat(w.inbox().epoch()).isNotEmpty();
        assertThat(w.pingInterval()).isEqualTo(25_000);
        assertThat(w.pingTimeout()).isEqualTo(10_000);
        assertThat(w.limits()).isEqualTo(Limits.DEFAULTS);
        assertThat(w.node()).isEqualTo("gw-test");
        assertThat(b.welcome().user()).isNotEqualTo(w.user());
        assertThat(b.welcome().session()).isNotEqualTo(w.session());
    }

    @Test
    @DisplayName("section 2: a valid HS256 token makes sub the user id, not a guest")
    void tokenGivesIdentity() {
        gw = TestGateway.start();
        SwitchboardClient c = gw.connect(Tokens.user("u_alice"));
        assertThat(c.welcome().user()).isEqualTo("u_alice");
        assertThat(c.welcome().guest()).isFalse();
    }

    private void assertRefusedWith4001(String token) {
        SwitchboardClient c = gw.open();
        EventRecorder events = EventRecorder.of(c);
        assertThatThrownBy(() -> TestGateway.hello(c, token))
                .isInstanceOf(SwitchboardException.class)
                .satisfies(e -> assertThat(((SwitchboardException) e).code()).isEqualTo(ErrorCodes.UNAUTHORIZED));
        assertThat(closed(c).code()).isEqualTo(CloseCodes.UNAUTHORIZED);
        assertThat(events.drain()).noneMatch(f -> f instanceof ServerFrame.Welcome);
    }

    @Test
    @DisplayName("section 2: an expired token gets unauthorized and close 4001")
    void expiredToken() {
        gw = TestGateway.start();
        assertRefusedWith4001(
                Tokens.hs256(TestGateway.JWT_SECRET, "u_x", Instant.now().minusSeconds(60), List.of(), List.of()));
    }

    @Test
    @DisplayName("section 2: a token signed with another secret gets unauthorized and close 4001")
    void wronglySignedToken() {
        gw = TestGateway.start();
        assertRefusedWith4001(Tokens.hs256(
                "another-secret-another-secret-another-secret",
                "u_x",
                Instant.now().plusSeconds(60),
                List.of(),
                List.of()));
    }

    @Test
    @DisplayName("section 2: an unsigned (alg none) token gets unauthorized and close 4001")
    void unsignedToken() {
        gw = TestGateway.start();
        assertRefusedWith4001(Tokens.unsigned("u_x"));
    }

    @Test
    @DisplayName("section 2: an HS256 token with its signature stripped gets unauthorized and close 4001")
    void strippedSignature() {
        gw = TestGateway.start();
        String token = Tokens.user("u_x");
        assertRefusedWith4001(token.substring(0, token.lastIndexOf('.') + 1));
    }

    @Test
    @DisplayName("section 2: a token signed with HS512 instead of HS256 gets unauthorized and close 4001")
    void otherAlgorithm() {
        gw = TestGateway.start();
        assertRefusedWith4001(Tokens.sign(
                JWSAlgorithm.HS512,
                TestGateway.JWT_SECRET + TestGateway.JWT_SECRET,
                Tokens.claims("u_x", Instant.now().plusSeconds(60), List.of(), List.of())));
    }

    @Test
    @DisplayName("section 2: text that is not a JWT gets unauthorized and close 4001")
    void garbageToken() {
        gw = TestGateway.start();
        assertRefusedWith4001("not-a-token");
    }

    @Test
    @DisplayName("section 2: with guests disabled, a hello without token gets unauthorized and close 4001")
    void guestsDisabled() {
        gw = TestGateway.start(Map.of("SWITCHBOARD_GUESTS", "false"));
        assertRefusedWith4001(null);
        assertThat(gw.connect(Tokens.user("u_ok")).welcome().user()).isEqualTo("u_ok");
    }

    @Test
    @DisplayName("section 2: protocol version other than 1 gets bad_request and close 4000")
    void wrongVersion() {
        gw = TestGateway.start();
        SwitchboardClient c = gw.open();
        assertThatThrownBy(() ->
                        c.hello(new ClientFrame.Hello(2, null, null, null, "t")).block(TestGateway.TIMEOUT))
                .satisfies(e -> assertThat(((SwitchboardException) e).code()).isEqualTo(ErrorCodes.BAD_REQUEST));
        assertThat(closed(c).code()).isEqualTo(CloseCodes.PROTOCOL_ERROR);
    }

    @Test
    @DisplayName("section 2: a frame other than hello first closes with 4000")
    void frameBeforeHello() {
        gw = TestGateway.start();
        SwitchboardClient c = gw.open();
        EventRecorder events = EventRecorder.of(c);
        c.sendText("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"public:a\"}");
        ServerFrame.Error e = events.next(ServerFrame.Error.class);
        assertThat(e.code()).isEqualTo(ErrorCodes.BAD_REQUEST);
        assertThat(e.id()).isEqualTo(1L);
        assertThat(closed(c).code()).isEqualTo(CloseCodes.PROTOCOL_ERROR);
    }

    @Test
    @DisplayName("section 2: unreadable text before hello closes with 4000")
    void malformedBeforeHello() {
        gw = TestGateway.start();
        SwitchboardClient c = gw.open();
        c.sendText("{not json");
        assertThat(closed(c).code()).isEqualTo(CloseCodes.PROTOCOL_ERROR);
    }

    @Test
    @DisplayName("section 2: a second hello closes with 4000")
    void secondHello() {
        gw = TestGateway.start();
        SwitchboardClient c = gw.connect();
        c.sendFrame(new ClientFrame.Hello(1, null, null, null, "again"));
        assertThat(closed(c).code()).isEqualTo(CloseCodes.PROTOCOL_ERROR);
    }

    @Test
    @DisplayName("section 2: no hello within helloTimeout closes with 4005")
    void helloTimeout() {
        gw = TestGateway.start(Map.of("SWITCHBOARD_HELLO_TIMEOUT_MS", "200"));
        SwitchboardClient c = gw.open();
        long start = System.nanoTime();
        assertThat(closed(c).code()).isEqualTo(CloseCodes.HELLO_TIMEOUT);
        assertThat((System.nanoTime() - start) / 1_000_000).isGreaterThanOrEqualTo(150);
    }

    @Test
    @DisplayName("section 2: a newer connection of the same user replaces the older: session_replaced, close 4002")
    void sessionReplaced() {
        gw = TestGateway.start();
        String token = Tokens.user("u_bob");
        SwitchboardClient older = gw.connect(token);
        EventRecorder olderEvents = EventRecorder.of(older);
        SwitchboardClient newer = gw.connect(token);
        ServerFrame.Error e = olderEvents.next(ServerFrame.Error.class);
        assertThat(e.code()).isEqualTo(ErrorCodes.SESSION_REPLACED);
        assertThat(closed(older).code()).isEqualTo(CloseCodes.SESSION_REPLACED);
        assertThat(newer.subscribe("public:after").block(TestGateway.TIMEOUT).channel())
                .isEqualTo("public:after");
        SwitchboardClient sender = gw.connect();
        assertThat(sender.send("u_bob", "1").block(TestGateway.TIMEOUT).delivered())
                .isTrue();
    }

    @Test
    @DisplayName("section 2: guests are unique per connection: two guests never replace each other")
    void guestsDoNotReplaceEachOther() {
        gw = TestGateway.start();
        SwitchboardClient a = gw.connect();
        SwitchboardClient b = gw.connect();
        assertThat(a.subscribe("public:x").block(TestGateway.TIMEOUT)).isNotNull();
        assertThat(b.subscribe("public:x").block(TestGateway.TIMEOUT)).isNotNull();
        assertThat(a.isClosed()).isFalse();
    }
}
