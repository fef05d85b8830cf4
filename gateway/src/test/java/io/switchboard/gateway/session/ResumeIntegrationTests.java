package io.switchboard.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Resume after a dropped connection (docs/protocol.md sections 2 and 5): the same identity, and the inbox replayed
 * after {@code inboxSince}. {@link #gateways} is overridden to resume on another instance through Redis.
 */
class ResumeIntegrationTests {
    static final Duration T = TestGateway.TIMEOUT;
    protected final List<TestGateway> started = new ArrayList<>();

    @AfterEach
    void stop() {
        started.forEach(TestGateway::close);
    }

    /** Where the first and the resumed connection go: the same instance here. */
    protected List<TestGateway> gateways(Map<String, String> env) {
        TestGateway gw = TestGateway.start(env);
        started.add(gw);
        return List.of(gw, gw);
    }

    private static ServerFrame.Welcome resume(
            SwitchboardClient c, String token, ServerFrame.Welcome previous, StreamPosition since) {
        return c.hello(new ClientFrame.Hello(1, token, previous.resume(), since, "test"))
                .block(T);
    }

    @Test
    @DisplayName("section 2: a guest that drops resumes its user id and gets the direct messages it missed, in order")
    void guestResumesAndRecovers() {
        List<TestGateway> gw = gateways(Map.of());
        SwitchboardClient a = gw.get(0).connect();
        ServerFrame.Welcome first = a.welcome();
        assertThat(first.resume()).isNotBlank();
        EventRecorder events = EventRecorder.of(a);
        SwitchboardClient sender = gw.get(0).connect(Tokens.user("u_sender"));
        sender.send(first.user(), "1").block(T);
        ServerFrame.Direct seen = events.next(ServerFrame.Direct.class);

        a.abort();
        Await.until(
                "the drop to be noticed",
                T,
                () -> gw.get(0).gateway().registry().local(first.user()) == null);
        for (int i = 2; i <= 4; i++) {
            assertThat(sender.send(first.user(), String.valueOf(i)).block(T).delivered())
                    .as("a resumable user counts as delivered")
                    .isTrue();
        }

        SwitchboardClient again = gw.get(1).open();
        EventRecorder againEvents = EventRecorder.of(again);
        ServerFrame.Welcome w = resume(again, null, first, new StreamPosition(seen.offset(), seen.epoch()));
        assertThat(w.user()).isEqualTo(first.user());
        assertThat(w.guest()).isTrue();
        assertThat(w.resumed()).isTrue();
        assertThat(w.recovered()).isTrue();
        assertThat(w.session()).isNotEqualTo(first.session());
        assertThat(againEvents.next(ServerFrame.Direct.class, 3))
                .extracting(ServerFrame.Direct::data)
                .containsExactly("2", "3", "4");
    }

    @Test
    @DisplayName("section 2: a token user resumes with its token; recovered is false when inboxSince is too old")
    void tokenUserResumes() {
        List<TestGateway> gw = gateways(Map.of("SWITCHBOARD_HISTORY_SIZE", "2"));
        String token = Tokens.user("u_tina");
        SwitchboardClient a = gw.get(0).connect(token);
        ServerFrame.Welcome first = a.welcome();
        a.abort();
        Await.until(
                "the drop to be noticed",
                T,
                () -> gw.get(0).gateway().registry().local("u_tina") == null);
        SwitchboardClient sender = gw.get(0).connect();
        for (int i = 1; i <= 5; i++) {
            sender.send("u_tina", String.valueOf(i)).block(T);
        }
        SwitchboardClient again = gw.get(1).open();
        ServerFrame.Welcome w = resume(again, token, first, first.inbox());
        assertThat(w.user()).isEqualTo("u_tina");
        assertThat(w.resumed()).isTrue();
        assertThat(w.recovered()).as("history holds only the last 2 of 5").isFalse();
    }

    @Test
    @DisplayName(
            "section 2: a resume token that is tampered with, or of another user, is not an error but a fresh start")
    void badResumeIsFreshStart() {
        List<TestGateway> gw = gateways(Map.of());
        SwitchboardClient a = gw.get(0).connect();
        ServerFrame.Welcome first = a.welcome();
        a.abort();
        String tampered = first.resume().substring(0, first.resume().length() - 3) + "abc";
        SwitchboardClient b = gw.get(1).open();
        ServerFrame.Welcome w =
                b.hello(new ClientFrame.Hello(1, null, tampered, null, "t")).block(T);
        assertThat(w.resumed()).isFalse();
        assertThat(w.user()).isNotEqualTo(first.user()).startsWith("g_");

        SwitchboardClient c = gw.get(1).open();
        ServerFrame.Welcome asToken = resume(c, Tokens.user("u_other"), first, null);
        assertThat(asToken.resumed())
                .as("a guest's token does not resume a token user")
                .isFalse();
        assertThat(asToken.user()).isEqualTo("u_other");
    }

    @Test
    @DisplayName("section 2: after resumeGrace the identity is gone: resumed false, a fresh guest id")
    void resumeAfterGraceFails() {
        List<TestGateway> gw = gateways(Map.of("SWITCHBOARD_RESUME_GRACE_MS", "1000"));
        SwitchboardClient a = gw.get(0).connect();
        ServerFrame.Welcome first = a.welcome();
        SwitchboardClient sender = gw.get(0).connect();
        a.abort();
        Await.until(
                "the drop to be noticed",
                T,
                () -> gw.get(0).gateway().registry().local(first.user()) == null);
        Await.until(
                "the grace to run out",
                T,
                () -> Boolean.FALSE.equals(
                        sender.send(first.user(), "1").block(T).delivered()));
        SwitchboardClient again = gw.get(1).open();
        ServerFrame.Welcome w = resume(again, null, first, first.inbox());
        assertThat(w.resumed()).isFalse();
        assertThat(w.recovered()).isFalse();
        assertThat(w.user()).isNotEqualTo(first.user());
    }

    @Test
    @DisplayName("section 8: a normal close (1000) leaves nothing to resume")
    void normalCloseIsNotResumable() {
        List<TestGateway> gw = gateways(Map.of());
        SwitchboardClient a = gw.get(0).connect();
        ServerFrame.Welcome first = a.welcome();
        a.close();
        Await.until(
                "the close to be noticed",
                T,
                () -> gw.get(0).gateway().registry().local(first.user()) == null);
        ServerFrame.Welcome w = resume(gw.get(1).open(), null, first, null);
        assertThat(w.resumed()).isFalse();
    }

    @Test
    @DisplayName("section 2: resuming while the old connection still looks alive replaces it")
    void resumeReplacesHalfDeadConnection() {
        List<TestGateway> gw = gateways(Map.of());
        SwitchboardClient a = gw.get(0).connect();
        ServerFrame.Welcome first = a.welcome();
        SwitchboardClient again = gw.get(1).open();
        ServerFrame.Welcome w = resume(again, null, first, null);
        assertThat(w.resumed()).isTrue();
        assertThat(w.user()).isEqualTo(first.user());
        assertThat(a.closed().block(T).code()).isEqualTo(4002);
    }
}
