package io.switchboard.gateway.match;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.gateway.support.Tokens;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardException;
import io.switchboard.testing.Await;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Random connect over real sockets (docs/protocol.md section 6), in the embedded mode; {@link #gateways} is
 * overridden to run the same tests across two instances through Redis.
 */
class RandomConnectIntegrationTests {
    static final Duration T = TestGateway.TIMEOUT;
    protected final List<TestGateway> started = new ArrayList<>();

    @AfterEach
    void stop() {
        started.forEach(TestGateway::close);
    }

    /** Where the two users connect: the same instance here. */
    protected List<TestGateway> gateways(Map<String, String> env) {
        TestGateway gw = TestGateway.start(env);
        started.add(gw);
        return List.of(gw, gw);
    }

    private List<TestGateway> gateways() {
        return gateways(Map.of());
    }

    static ServerFrame.Ack join(SwitchboardClient c, String... interests) {
        return c.request(id -> new ClientFrame.MatchJoin(id, List.of(interests)))
                .block(T);
    }

    static String code(Throwable e) {
        return ((SwitchboardException) e).code();
    }

    /** Two users matched with each other; returns the match found by the first. */
    static ServerFrame.MatchFound matchPair(
            SwitchboardClient a, EventRecorder aEvents, SwitchboardClient b, EventRecorder bEvents) {
        assertThat(join(a).queued()).isTrue();
        assertThat(join(b).queued()).isTrue();
        ServerFrame.MatchFound fa = aEvents.next(ServerFrame.MatchFound.class);
        ServerFrame.MatchFound fb = bEvents.next(ServerFrame.MatchFound.class);
        assertThat(fa.match()).isEqualTo(fb.match());
        return fa;
    }

    @Test
    @DisplayName("section 6: two users are matched; exactly one is the initiator; each learns the other")
    void twoUsersMatched() {
        List<TestGateway> gw = gateways();
        SwitchboardClient a = gw.get(0).connect(Tokens.user("u_a"));
        SwitchboardClient b = gw.get(1).connect(Tokens.user("u_b"));
        EventRecorder ae = EventRecorder.of(a);
        EventRecorder be = EventRecorder.of(b);
        assertThat(join(a, "music", "chess").queued()).isTrue();
        assertThat(join(b, "chess").queued()).isTrue();
        ServerFrame.MatchFound fa = ae.next(ServerFrame.MatchFound.class);
        ServerFrame.MatchFound fb = be.next(ServerFrame.MatchFound.class);
        assertThat(fa.match()).startsWith("m_").isEqualTo(fb.match());
        assertThat(fa.partner()).isEqualTo("u_b");
        assertThat(fb.partner()).isEqualTo("u_a");
        assertThat(fa.initiator())
                .as("the one who waited longer makes the offer")
                .isTrue();
        assertThat(fb.initiator()).isFalse();
        assertThat(fa.interests()).containsExactly("chess");
        assertThat(fb.interests()).containsExactly("chess");
        assertThat(fa.epoch()).isEqualTo(a.welcome().inbox().epoch());
        assertThat(fa.offset()).isPositive();
    }

    @Test
    @DisplayName("section 6: match.join while queued or matched is a conflict")
    void joinTwiceConflicts() {
        List<TestGateway> gw = gateways();
        SwitchboardClient a = gw.get(0).connect(Tokens.user("u_a"));
        join(a);
        assertThatThrownBy(() -> join(a)).satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.CONFLICT));
        SwitchboardClient b = gw.get(1).connect(Tokens.user("u_b"));
        EventRecorder be = EventRecorder.of(b);
        join(b);
        be.next(ServerFrame.MatchFound.class);
        assertThatThrownBy(() -> join(b)).satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.CONFLICT));
    }

    @Test
    @DisplayName("section 6: match.signal relays any JSON to the partner, in order; another match id is not_found")
    void signalsRelayedInOrder() {
        List<TestGateway> gw = gateways();
        SwitchboardClient a = gw.get(0).connect(Tokens.user("u_a"));
        SwitchboardClient b = gw.get(1).connect(Tokens.user("u_b"));
        EventRecorder ae = EventRecorder.of(a);
        EventRecorder be = EventRecorder.of(b);
        ServerFrame.MatchFound found = matchPair(a, ae, b, be);
        for (int i = 0; i < 20; i++) {
            int n = i;
            a.request(id -> new ClientFrame.MatchSignal(
                            id, found.match(), "{\"sdp\":\"offer-" + n + "\",\"n\":" + n + "}"))
                    .block(T);
        }
        List<ServerFrame.MatchSignal> got = be.next(ServerFrame.MatchSignal.class, 20);
        for (int i = 0; i < 20; i++) {
            assertThat(got.get(i).data()).isEqualTo("{\"sdp\":\"offer-" + i + "\",\"n\":" + i + "}");
            assertThat(got.get(i).from()).isEqualTo("u_a");
            assertThat(got.get(i).match()).isEqualTo(found.match());
        }
        assertThatThrownBy(() -> a.request(id -> new ClientFrame.MatchSignal(id, "m_other", "1"))
                        .block(T))
                .satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.NOT_FOUND));
    }

    @Test
    @DisplayName("section 6: match.next ends the match (partner: ended, reason next) and queues the sender;"
            + " the two are not matched again")
    void nextEndsAndRequeues() {
        List<TestGateway> gw = gateways();
        SwitchboardClient a = gw.get(0).connect(Tokens.user("u_a"));
        SwitchboardClient b = gw.get(1).connect(Tokens.user("u_b"));
        EventRecorder ae = EventRecorder.of(a);
        EventRecorder be = EventRecorder.of(b);
        ServerFrame.MatchFound found = matchPair(a, ae, b, be);
        ServerFrame.Ack ack = a.request(ClientFrame.MatchNext::new).block(T);
        assertThat(ack.queued()).isTrue();
        ServerFrame.MatchEnded ended = be.next(ServerFrame.MatchEnded.class);
        assertThat(ended.match()).isEqualTo(found.match());
        assertThat(ended.reason()).isEqualTo("next");
        join(b);
        SwitchboardClient c = gw.get(1).connect(Tokens.user("u_c"));
        EventRecorder ce = EventRecorder.of(c);
        join(c);
        ServerFrame.MatchFound withC = ce.next(ServerFrame.MatchFound.class);
        assertThat(withC.partner())
                .as("the longest waiting compatible user: a, not b who a just left")
                .isEqualTo("u_a");
    }

    @Test
    @DisplayName("section 6: match.leave ends the match for the partner with reason left")
    void leaveEnds() {
        List<TestGateway> gw = gateways();
        SwitchboardClient a = gw.get(0).connect(Tokens.user("u_a"));
        SwitchboardClient b = gw.get(1).connect(Tokens.user("u_b"));
        EventRecorder ae = EventRecorder.of(a);
        EventRecorder be = EventRecorder.of(b);
        matchPair(a, ae, b, be);
        assertThat(a.request(ClientFrame.MatchLeave::new).block(T).queued()).isNull();
        assertThat(be.next(ServerFrame.MatchEnded.class).reason()).isEqualTo("left");
        assertThat(join(a).queued()).as("a may join again").isTrue();
    }

    @Test
    @DisplayName("section 6: block ends a current match and the two are never matched again")
    void blockNeverMatchedAgain() {
        List<TestGateway> gw = gateways();
        SwitchboardClient a = gw.get(0).connect(Tokens.user("u_a"));
        SwitchboardClient b = gw.get(1).connect(Tokens.user("u_b"));
        EventRecorder ae = EventRecorder.of(a);
        EventRecorder be = EventRecorder.of(b);
        matchPair(a, ae, b, be);
        a.request(id -> new ClientFrame.Block(id, "u_b")).block(T);
        assertThat(be.next(ServerFrame.MatchEnded.class).reason()).isEqualTo("left");
        join(a);
        join(b);
        SwitchboardClient c = gw.get(0).connect(Tokens.user("u_c"));
        EventRecorder ce = EventRecorder.of(c);
        join(c);
        ServerFrame.MatchFound cFound = ce.next(ServerFrame.MatchFound.class);
        assertThat(cFound.partner()).isEqualTo("u_a");
        assertThat(be.drain())
                .noneMatch(f ->
                        f instanceof ServerFrame.MatchFound m && m.partner().equals("u_a"));
        assertThatThrownBy(
                        () -> a.request(id -> new ClientFrame.Block(id, "u_a")).block(T))
                .satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.BAD_REQUEST));
    }

    @Test
    @DisplayName("section 6: a queued user whose connection drops leaves the queue at once: nobody gets a ghost")
    void droppedQueuedUserLeavesQueue() {
        List<TestGateway> gw = gateways();
        SwitchboardClient ghost = gw.get(0).connect(Tokens.user("u_ghost"));
        join(ghost);
        ghost.close();
        SwitchboardClient a = gw.get(1).connect(Tokens.user("u_a"));
        SwitchboardClient b = gw.get(0).connect(Tokens.user("u_b"));
        EventRecorder ae = EventRecorder.of(a);
        EventRecorder be = EventRecorder.of(b);
        join(a);
        join(b);
        assertThat(ae.next(ServerFrame.MatchFound.class).partner()).isEqualTo("u_b");
        assertThat(be.next(ServerFrame.MatchFound.class).partner()).isEqualTo("u_a");
    }

    @Test
    @DisplayName("section 6: a matched user who drops: the partner sees reconnecting, then back when it returns")
    void dropThenBack() {
        List<TestGateway> gw = gateways();
        SwitchboardClient a = gw.get(0).connect(Tokens.user("u_a"));
        SwitchboardClient b = gw.get(1).connect(Tokens.user("u_b"));
        EventRecorder ae = EventRecorder.of(a);
        EventRecorder be = EventRecorder.of(b);
        ServerFrame.MatchFound found = matchPair(a, ae, b, be);
        a.close();
        ServerFrame.MatchPartner reconnecting = be.next(ServerFrame.MatchPartner.class);
        assertThat(reconnecting.match()).isEqualTo(found.match());
        assertThat(reconnecting.state()).isEqualTo("reconnecting");
        SwitchboardClient aAgain = gw.get(1).connect(Tokens.user("u_a"));
        ServerFrame.MatchPartner back = be.next(ServerFrame.MatchPartner.class);
        assertThat(back.state()).isEqualTo("back");
        assertThat(aAgain.request(id -> new ClientFrame.MatchSignal(id, found.match(), "\"still here\""))
                        .block(T))
                .isNotNull();
        assertThat(be.next(ServerFrame.MatchSignal.class).data()).isEqualTo("\"still here\"");
    }

    @Test
    @DisplayName("section 6: a matched user who does not return within the grace: the partner gets ended, disconnected")
    void dropWithoutReturnEnds() {
        List<TestGateway> gw = gateways(Map.of("SWITCHBOARD_RESUME_GRACE_MS", "1000"));
        SwitchboardClient a = gw.get(0).connect(Tokens.user("u_a"));
        SwitchboardClient b = gw.get(1).connect(Tokens.user("u_b"));
        EventRecorder ae = EventRecorder.of(a);
        EventRecorder be = EventRecorder.of(b);
        ServerFrame.MatchFound found = matchPair(a, ae, b, be);
        long start = System.nanoTime();
        a.close();
        assertThat(be.next(ServerFrame.MatchPartner.class).state()).isEqualTo("reconnecting");
        ServerFrame.MatchEnded ended = be.next(ServerFrame.MatchEnded.class);
        assertThat(ended.match()).isEqualTo(found.match());
        assertThat(ended.reason()).isEqualTo("disconnected");
        assertThat((System.nanoTime() - start) / 1_000_000).isGreaterThanOrEqualTo(900);
    }

    @Test
    @DisplayName("section 6: with interests, a sharing partner is preferred; after interestWait anyone will do")
    void interestsPreferredThenAnyone() {
        List<TestGateway> gw = gateways(Map.of("SWITCHBOARD_INTEREST_WAIT_MS", "1000"));
        SwitchboardClient a = gw.get(0).connect(Tokens.user("u_a"));
        SwitchboardClient b = gw.get(1).connect(Tokens.user("u_b"));
        EventRecorder ae = EventRecorder.of(a);
        EventRecorder be = EventRecorder.of(b);
        join(a, "jazz");
        join(b, "golf");
        long start = System.nanoTime();
        ServerFrame.MatchFound fa = ae.next(ServerFrame.MatchFound.class);
        assertThat((System.nanoTime() - start) / 1_000_000)
                .as("only after interestWait")
                .isGreaterThanOrEqualTo(800);
        assertThat(fa.partner()).isEqualTo("u_b");
        assertThat(fa.interests()).isEmpty();
        assertThat(be.next(ServerFrame.MatchFound.class).partner()).isEqualTo("u_a");
    }

    @Test
    @DisplayName("section 6: interests that are too many or malformed are bad_request")
    void badInterests() {
        List<TestGateway> gw = gateways();
        SwitchboardClient a = gw.get(0).connect(Tokens.user("u_a"));
        List<String> many = new ArrayList<>();
        for (int i = 0; i < 17; i++) {
            many.add("i" + i);
        }
        assertThatThrownBy(() -> join(a, many.toArray(String[]::new)))
                .satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.BAD_REQUEST));
        assertThatThrownBy(() -> join(a, "")).satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.BAD_REQUEST));
        assertThatThrownBy(() -> join(a, "x".repeat(65)))
                .satisfies(e -> assertThat(code(e)).isEqualTo(ErrorCodes.BAD_REQUEST));
        assertThat(join(a, "ok").queued()).isTrue();
    }

    @Test
    @DisplayName("issue 4: /metrics has the queue length, matches made, time to match, ends by reason, signals")
    void randomConnectMetrics() {
        List<TestGateway> gw = gateways();
        SwitchboardClient a = gw.get(0).connect(Tokens.user("u_a"));
        SwitchboardClient b = gw.get(1).connect(Tokens.user("u_b"));
        EventRecorder ae = EventRecorder.of(a);
        EventRecorder be = EventRecorder.of(b);
        ServerFrame.MatchFound found = matchPair(a, ae, b, be);
        a.request(id -> new ClientFrame.MatchSignal(id, found.match(), "{}")).block(T);
        b.request(ClientFrame.MatchNext::new).block(T);
        ae.next(ServerFrame.MatchEnded.class);
        Await.until(
                "the queue gauge to show b waiting again",
                T,
                () -> sum(gw.get(0).get("/metrics").body(), "switchboard_match_queue") == 1.0);
        String text = String.join(
                "\n", gw.stream().distinct().map(g -> g.get("/metrics").body()).toList());
        assertThat(sum(text, "switchboard_match_made_total")).isEqualTo(1.0);
        assertThat(sum(text, "switchboard_match_time_to_match_seconds_count")).isEqualTo(2.0);
        assertThat(sum(text, "switchboard_match_ended_total{reason=\"next\"}")).isEqualTo(1.0);
        assertThat(sum(text, "switchboard_match_signals_total")).isEqualTo(1.0);
    }

    /** The sum of the samples named exactly {@code name} (labels included in it when given). */
    private static double sum(String text, String name) {
        double total = 0;
        for (String line : text.split("\n")) {
            if (line.startsWith(name + " ") || (!name.contains("{") && line.startsWith(name + "{"))) {
                total += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return total;
    }

    static Map<String, String> with(Map<String, String> base, String k, String v) {
        Map<String, String> m = new HashMap<>(base);
        m.put(k, v);
        return m;
    }
}
