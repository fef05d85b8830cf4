package io.switchboard.loadtest.gatling;

import static io.gatling.javaapi.core.CoreDsl.bodyString;
import static io.gatling.javaapi.core.CoreDsl.details;
import static io.gatling.javaapi.core.CoreDsl.doIf;
import static io.gatling.javaapi.core.CoreDsl.doIfOrElse;
import static io.gatling.javaapi.core.CoreDsl.exec;
import static io.gatling.javaapi.core.CoreDsl.global;
import static io.gatling.javaapi.core.CoreDsl.pause;
import static io.gatling.javaapi.core.CoreDsl.rampUsers;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.ws;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gatling.http.action.ws.WsInboundMessage;
import io.gatling.javaapi.core.ChainBuilder;
import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Session;
import io.gatling.javaapi.core.Simulation;
import io.gatling.javaapi.http.WsFrameCheck;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiPredicate;

/**
 * Random-connect churn (docs/protocol.md section 6): every guest loops through {@code match.join}, its
 * {@code match.found}, one {@code match.signal} to the partner and the partner's one back, a conversation of
 * {@code talk}, then {@code match.next} (with probability {@code nextRatio}: straight into the next match) or
 * {@code match.leave} and a new join, for {@code duration}. Measures time to match (request {@value #TIME_TO_MATCH}: from the join or
 * next to the first frame of the new match), the signal's ack ({@value #SIGNAL_ACK}) and the time until the
 * partner's signal arrived ({@value #PARTNER_SIGNAL}), and the leave's ack.
 *
 * <p>Both partners signal as soon as they know of the match and wait for each other's signal, so nobody has to
 * wait for a frame without having sent anything; both then end the match themselves (a second end is a no-op
 * for the gateway, and the {@code match.ended} it causes is not waited for). {@code match.join} and
 * {@code match.next} carry no id, so their answer is the {@code match.found} alone and no ack can interleave with
 * it; an error frame instead is caught. The gateway may deliver the partner's signal before the user's own
 * {@code match.found}, so the first frame of a new match is either (the match id comes from the signal then).
 * Frames that arrive while no check waits are kept by Gatling and read just before the next send, in the same
 * step, so none is lost; frames of earlier matches are ignored.
 *
 * <p>The checks here only wait and capture; each step's verdict (the right frame types, match ids, partner,
 * acks for the request ids) is recorded through {@link GatlingStats} as an OK or KO request with the reason. At
 * the end of {@code duration} nobody joins any more, so a user still queued stops waiting without an error.
 *
 * <p>System properties (defaults; quick defaults with {@code -Dquick=true}):
 * <ul>
 *   <li>{@code gateway}: the gateway's base URL ({@value SimulationProperties#DEFAULT_GATEWAY})</li>
 *   <li>{@code users}: guests (200; quick 20); with fewer than the gateway's {@code avoidRecent} + 2 (5 by
 *       default) some could never be matched again</li>
 *   <li>{@code ramp}: seconds over which they connect (10; quick 2)</li>
 *   <li>{@code duration}: seconds of joining, from the end of the ramp (60; quick 6)</li>
 *   <li>{@code talk}: milliseconds a match lasts after the signals were exchanged (2000; quick 500)</li>
 *   <li>{@code nextRatio}: share of matches ended with {@code match.next} rather than leave and join (0.5)</li>
 *   <li>{@code matchTimeout}: longest wait for a partner while the run goes on (10 s; quick 5)</li>
 * </ul>
 *
 * <p>Assertions: no failed request or check, and at least one match.
 */
public class RandomConnectChurnSimulation extends Simulation {
    public static final String TIME_TO_MATCH = "time to match";
    public static final String SIGNAL_ACK = "match.signal ack";
    public static final String PARTNER_SIGNAL = "partner's match.signal";
    public static final String LEAVE_ACK = "match.leave ack";
    /** After the last join, how long a pairing already under way may still take to arrive. */
    static final Duration END_GRACE = Duration.ofSeconds(1);
    /** The most frames kept between two sends: a ping, a stale match.found, a match.ended, the partner's signal. */
    static final int UNMATCHED_BUFFER = 1000;

    private static final String MATCH = "match";
    private static final String PARTNER = "partner";
    /** Recent match ids, space separated, newest first: their late frames are ignored. */
    private static final String PAST_MATCHES = "pastMatches";

    private static final int PAST_MATCHES_KEPT = 8;
    private static final String HAVE_PARTNER_SIGNAL = "havePartnerSignal";
    private static final String WAIT_START = "waitStart";
    private static final String SIGNAL_START = "signalStart";
    private static final String DONE = "done";
    private static final String USE_NEXT = "useNext";
    private static final String INBOX = "unmatched";
    private static final String FIRST = "first";
    private static final String SECOND = "second";

    /**
     * @param wsBase the gateway's WebSocket base URL
     * @param users guests
     * @param ramp time over which they connect
     * @param duration time of joining after the ramp
     * @param talk how long a match lasts after the signals were exchanged
     * @param nextRatio share of matches ended with match.next
     * @param matchTimeout longest wait for a partner while the run goes on
     */
    record Settings(
            String wsBase,
            int users,
            Duration ramp,
            Duration duration,
            Duration talk,
            double nextRatio,
            Duration matchTimeout) {
        static Settings from(SimulationProperties p) {
            Settings s = new Settings(
                    p.webSocketBase(),
                    p.integer("users", 200, 20, 2, 1_000_000),
                    p.seconds("ramp", 10, 2, 0, 86_400),
                    p.seconds("duration", 60, 6, 1, 86_400),
                    Duration.ofMillis(p.integer("talk", 2000, 500, 0, 3_600_000)),
                    p.fraction("nextRatio", 0.5),
                    p.seconds("matchTimeout", 10, 5, 1, 3_600));
            p.check(RandomConnectChurnSimulation.class.getSimpleName());
            return s;
        }
    }

    private final Settings settings = Settings.from(SimulationProperties.fromSystem());
    private final GatlingStats stats = new GatlingStats();
    /** When joining stops, on Gatling's clock: set by the first user, {@code ramp + duration} after it started. */
    private final AtomicLong deadline = new AtomicLong();

    {
        ScenarioBuilder churn = scenario("random connect churn")
                .exec(stats.step("start", (st, s) -> {
                    deadline.compareAndSet(
                            0,
                            st.now() + settings.ramp().plus(settings.duration()).toMillis());
                    return s.set(PAST_MATCHES, "").set(DONE, false);
                }))
                .exec(GatewayDsl.connectAsGuest("connect"))
                // a failure (recorded by a check or a verdict) ends the user's loop: what follows would only
                // repeat it, and its partner reports its own wait
                .asLongAs(s -> !s.getBoolean(DONE) && !s.isFailed())
                .on(
                        doIf(s -> !s.contains(MATCH)).then(join()),
                        doIf(s -> s.contains(MATCH) && !s.getBoolean(DONE)).then(signalAndEnd()))
                .exec(ws("close").close());

        setUp(churn.injectOpen(rampUsers(settings.users()).during(settings.ramp())))
                .protocols(GatewayDsl.protocol(settings.wsBase(), UNMATCHED_BUFFER))
                .maxDuration(settings.ramp()
                        .plus(settings.duration())
                        .plus(settings.matchTimeout())
                        .plusMinutes(2))
                .assertions(
                        global().failedRequests().count().is(0L),
                        details(TIME_TO_MATCH).successfulRequests().count().gt(0L));
    }

    /** Joins unless the run is over; waits for the first frame of a match. */
    private ChainBuilder join() {
        return exec(stats.step(
                        "join or stop",
                        (st, s) -> st.now() >= deadline.get() ? s.set(DONE, true) : s.set(WAIT_START, st.now())))
                .doIf(s -> !s.getBoolean(DONE))
                .then(
                        exec(ws("match.join")
                                .sendText(Frames.matchJoin())
                                .await(this::matchWait)
                                .on(capture(FIRST, this::opensNewMatch))),
                        exec(stats.step("matched", this::matched)));
    }

    /** Signals the partner, waits for its signal, then ends the match by next or leave. */
    private ChainBuilder signalAndEnd() {
        return exec(ws.processUnmatchedMessages((messages, s) -> s.set(INBOX, messages)))
                .exec(stats.step("kept frames", this::keptFrames))
                .exec(GatewayDsl.nextRequestId())
                .exec(stats.step("signal start", (st, s) -> s.set(SIGNAL_START, st.now())))
                .doIfOrElse(s -> s.getBoolean(HAVE_PARTNER_SIGNAL))
                .then(exec(ws("match.signal")
                        .sendText(this::signalFrame)
                        .await(GatewayDsl.REPLY_TIMEOUT)
                        .on(capture(FIRST, this::answersSignal))))
                .orElse(exec(ws("match.signal")
                        .sendText(this::signalFrame)
                        .await(GatewayDsl.REPLY_TIMEOUT)
                        .on(capture(FIRST, this::answersSignal), capture(SECOND, this::answersSignal))))
                .exec(stats.step("signalled", this::signalled))
                .doIf(s -> !s.getBoolean(DONE))
                .then(
                        // the partner may end the match meanwhile: its match.ended is kept, and ignored
                        pause(settings.talk()),
                        exec(stats.step(
                                "end match",
                                (st, s) -> s.set(PAST_MATCHES, remember(s))
                                        .set(WAIT_START, st.now())
                                        .set(
                                                USE_NEXT,
                                                st.now() < deadline.get()
                                                        && ThreadLocalRandom.current()
                                                                        .nextDouble()
                                                                < settings.nextRatio()))),
                        exec(session -> session.remove(MATCH).remove(PARTNER)),
                        doIfOrElse(s -> s.getBoolean(USE_NEXT))
                                .then(
                                        exec(ws("match.next")
                                                .sendText(Frames.matchNext())
                                                .await(this::matchWait)
                                                .on(capture(FIRST, this::opensNewMatch))),
                                        exec(stats.step("matched", this::matched)))
                                .orElse(
                                        GatewayDsl.nextRequestId(),
                                        exec(ws("match.leave")
                                                .sendText(s -> Frames.matchLeave(s.getLong(GatewayDsl.REQUEST_ID)))
                                                .await(GatewayDsl.REPLY_TIMEOUT)
                                                .on(GatewayDsl.ack(LEAVE_ACK)))));
    }

    /**
     * Up to {@code matchTimeout} while the run goes on; at its end only until the last pairings have had
     * {@link #END_GRACE} to arrive, since nobody joins after it.
     */
    private Duration matchWait(Session session) {
        long untilEnd = deadline.get() + END_GRACE.toMillis() - stats.now();
        long wait = Math.min(settings.matchTimeout().toMillis(), Math.max(untilEnd, END_GRACE.toMillis()));
        return Duration.ofMillis(wait);
    }

    /**
     * A silent check that waits for one frame that {@code relevant} accepts and saves it under {@code key}, with
     * its arrival time on Gatling's clock in front. Silent: its timeout is not a failure by itself; the step
     * after it decides and records the verdict.
     */
    private WsFrameCheck.Text capture(String key, BiPredicate<JsonNode, Session> relevant) {
        return ws.checkTextMessage(key)
                .silent()
                .matching(bodyString()
                        .transformWithSession((body, s) -> relevant.test(Frames.read(body), s))
                        .is(true))
                .check(bodyString().transform(body -> stats.now() + " " + body).saveAs(key));
    }

    /** The first frame of a match that is not one of the user's past ones, or an error. */
    private boolean opensNewMatch(JsonNode frame, Session session) {
        String type = Frames.type(frame);
        if ("error".equals(type)) {
            return true;
        }
        return ("match.found".equals(type) || "match.signal".equals(type))
                && !isPast(session, frame.path("match").asText());
    }

    /** The ack or error for the signal's id, or the partner's signal in the current match. */
    private boolean answersSignal(JsonNode frame, Session session) {
        String type = Frames.type(frame);
        if ("ack".equals(type) || "error".equals(type)) {
            return frame.path("id").asLong(-1) == session.getLong(GatewayDsl.REQUEST_ID);
        }
        return "match.signal".equals(type)
                && session.getString(MATCH).equals(frame.path("match").asText());
    }

    private static boolean isPast(Session session, String match) {
        return (" " + session.getString(PAST_MATCHES) + " ").contains(" " + match + " ");
    }

    private static String remember(Session session) {
        String past = session.getString(MATCH) + " " + session.getString(PAST_MATCHES);
        String[] ids = past.strip().split(" ");
        return String.join(" ", List.of(ids).subList(0, Math.min(ids.length, PAST_MATCHES_KEPT)));
    }

    /** Verdict on the wait after a join or next: a new match, an error, or the end of the run. */
    private Session matched(GatlingStats st, Session session) {
        long start = session.getLong(WAIT_START);
        long now = st.now();
        Captured first = Captured.take(session, FIRST);
        session = session.remove(FIRST);
        if (first == null) {
            if (now >= deadline.get()) {
                // joining has stopped: nobody is left to be matched with
                return session.set(DONE, true);
            }
            return fail(
                    st,
                    session,
                    TIME_TO_MATCH,
                    start,
                    now,
                    "no match.found within " + settings.matchTimeout().toSeconds() + " s");
        }
        JsonNode f = first.frame();
        String type = Frames.type(f);
        String me = session.getString(GatewayDsl.USER);
        String partner;
        boolean havePartnerSignal;
        if ("match.found".equals(type)) {
            partner = f.path("partner").asText("");
            havePartnerSignal = false;
            if (!f.path("initiator").isBoolean() || f.path("match").asText("").isEmpty()) {
                return fail(
                        st,
                        session,
                        TIME_TO_MATCH,
                        start,
                        now,
                        "match.found without match or initiator: " + Frames.excerpt(first.text()));
            }
        } else if ("match.signal".equals(type)) {
            partner = f.path("from").asText("");
            havePartnerSignal = true;
        } else {
            return fail(
                    st, session, TIME_TO_MATCH, start, now, "instead of match.found: " + Frames.excerpt(first.text()));
        }
        if (partner.isEmpty() || partner.equals(me)) {
            return fail(
                    st,
                    session,
                    TIME_TO_MATCH,
                    start,
                    now,
                    "partner '" + partner + "' for user " + me + " in " + Frames.excerpt(first.text()));
        }
        st.ok(session, TIME_TO_MATCH, start, first.at());
        return session.set(MATCH, f.path("match").asText())
                .set(PARTNER, partner)
                .set(HAVE_PARTNER_SIGNAL, havePartnerSignal);
    }

    /** Frames kept while no check waited: the partner's signal may be among them. */
    private Session keptFrames(GatlingStats st, Session session) {
        List<WsInboundMessage> messages = session.get(INBOX);
        session = session.remove(INBOX);
        for (WsInboundMessage m : messages) {
            if (m instanceof WsInboundMessage.Text text && !Frames.isPing(text.message())) {
                JsonNode f = Frames.read(text.message());
                if ("match.signal".equals(Frames.type(f))
                        && session.getString(MATCH).equals(f.path("match").asText())) {
                    if (!session.getString(PARTNER).equals(f.path("from").asText())) {
                        long now = st.now();
                        return fail(
                                st,
                                session,
                                PARTNER_SIGNAL,
                                now,
                                now,
                                "signal in " + session.getString(MATCH) + " from "
                                        + f.path("from").asText() + ", expected " + session.getString(PARTNER));
                    }
                    session = session.set(HAVE_PARTNER_SIGNAL, true);
                } else if ("error".equals(Frames.type(f))) {
                    long now = st.now();
                    return fail(
                            st, session, PARTNER_SIGNAL, now, now, "error frame: " + Frames.excerpt(text.message()));
                }
            }
        }
        return session;
    }

    private String signalFrame(Session session) {
        ObjectNode data = Frames.object();
        data.put("from", session.getString(GatewayDsl.USER));
        data.put("sdp", "v=0 o=- 1 1 IN IP4 127.0.0.1 s=gatling-churn");
        return Frames.matchSignal(session.getLong(GatewayDsl.REQUEST_ID), session.getString(MATCH), data);
    }

    /** Verdict on the signal: its ack, and the partner's signal unless it had come before. */
    private Session signalled(GatlingStats st, Session session) {
        long start = session.getLong(SIGNAL_START);
        long now = st.now();
        List<Captured> replies = new ArrayList<>();
        for (String key : List.of(FIRST, SECOND)) {
            Captured c = Captured.take(session, key);
            if (c != null) {
                replies.add(c);
            }
            session = session.remove(key);
        }
        Captured ack = null;
        Captured partnerSignal = null;
        for (Captured c : replies) {
            String type = Frames.type(c.frame());
            if ("ack".equals(type)) {
                ack = c;
            } else if ("match.signal".equals(type)) {
                String from = c.frame().path("from").asText();
                if (!session.getString(PARTNER).equals(from)) {
                    return fail(
                            st,
                            session,
                            PARTNER_SIGNAL,
                            start,
                            c.at(),
                            "signal in " + session.getString(MATCH) + " from " + from + ", expected "
                                    + session.getString(PARTNER));
                }
                partnerSignal = c;
            } else {
                return fail(
                        st, session, SIGNAL_ACK, start, c.at(), "match.signal answered " + Frames.excerpt(c.text()));
            }
        }
        if (ack == null) {
            return fail(
                    st,
                    session,
                    SIGNAL_ACK,
                    start,
                    now,
                    "no ack for match.signal id " + session.getLong(GatewayDsl.REQUEST_ID) + " within "
                            + GatewayDsl.REPLY_TIMEOUT.toSeconds() + " s");
        }
        st.ok(session, SIGNAL_ACK, start, ack.at());
        if (!session.getBoolean(HAVE_PARTNER_SIGNAL)) {
            if (partnerSignal == null) {
                return fail(
                        st,
                        session,
                        PARTNER_SIGNAL,
                        start,
                        now,
                        "no match.signal from partner "
                                + session.getString(PARTNER) + " in " + session.getString(MATCH) + " within "
                                + GatewayDsl.REPLY_TIMEOUT.toSeconds() + " s");
            }
            st.ok(session, PARTNER_SIGNAL, start, partnerSignal.at());
        }
        return session;
    }

    private static Session fail(GatlingStats st, Session session, String request, long start, long end, String reason) {
        st.ko(session, request, start, end, reason);
        return session.set(DONE, true).markAsFailed();
    }

    /** A frame saved by {@link #capture}: its arrival time and text. */
    private record Captured(long at, String text) {
        static Captured take(Session session, String key) {
            if (!session.contains(key)) {
                return null;
            }
            String saved = session.getString(key);
            int space = saved.indexOf(' ');
            return new Captured(Long.parseLong(saved.substring(0, space)), saved.substring(space + 1));
        }

        JsonNode frame() {
            return Frames.read(text);
        }
    }
}
