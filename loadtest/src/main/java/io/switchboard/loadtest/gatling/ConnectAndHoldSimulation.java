package io.switchboard.loadtest.gatling;

import static io.gatling.javaapi.core.CoreDsl.details;
import static io.gatling.javaapi.core.CoreDsl.global;
import static io.gatling.javaapi.core.CoreDsl.rampUsers;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.ws;

import io.gatling.http.action.ws.WsInboundMessage;
import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Session;
import io.gatling.javaapi.core.Simulation;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * Many idle connections: ramps {@code users} guests up (each {@code hello} answered by a checked
 * {@code welcome}), waits until all of them are connected, holds them all for {@code hold}, then proves that
 * each is still open with a request that must be acked, and closes them. Measures connect and welcome times and
 * whether the gateway keeps that many connections alive; correctness only is asserted.
 *
 * <p>The gateway pings every {@code ping.interval} and closes with 4003 a connection silent for
 * {@code ping.interval + ping.timeout} (docs/protocol.md section 3). Pongs are sent by Gatling itself
 * ({@code wsAutoReplyTextFrame}, see {@link GatewayDsl#protocol}) the moment a ping arrives, while the virtual
 * user is paused; nothing else is sent during the hold. ({@code ws.processUnmatchedMessages} could not answer
 * them: it reads the kept frames only when the user acts next, after the hold.) This was checked against a
 * gateway pinging every 2 s with a 1 s timeout: with the auto-reply switched off every connection was closed
 * and both verdicts below failed. After the hold each user counts the pings it received
 * (frames that arrive while no check waits are kept by Gatling and read with
 * {@code ws.processUnmatchedMessages}) and records request {@value #HEARTBEAT}: KO when a frame other than a ping
 * arrived, or when fewer than {@code hold / ping.interval - 1} pings did. With the gateway's default interval
 * (25 s) a quick run is shorter than a heartbeat timeout and exercises the pongs only if the gateway is started
 * with a short interval, for instance {@code SWITCHBOARD_PING_INTERVAL_MS=2000 SWITCHBOARD_PING_TIMEOUT_MS=1000};
 * the summary printed at the end says which it was.
 *
 * <p>System properties (defaults; quick defaults with {@code -Dquick=true}):
 * <ul>
 *   <li>{@code gateway}: the gateway's base URL ({@value SimulationProperties#DEFAULT_GATEWAY})</li>
 *   <li>{@code users}: connections (1000; quick 50)</li>
 *   <li>{@code ramp}: seconds over which they connect (30; quick 3)</li>
 *   <li>{@code hold}: seconds all of them are held open once connected (60; quick 8)</li>
 * </ul>
 *
 * <p>Assertions: no failed request or check; {@value #HEARTBEAT} and {@value #STILL_OPEN} succeeded once per user.
 */
public class ConnectAndHoldSimulation extends Simulation {
    /** Request recorded per user after the hold: the pings it got, and nothing else. */
    public static final String HEARTBEAT = "heartbeat";
    /** The check of the ack to the request sent after the hold. */
    public static final String STILL_OPEN = "still open ack";
    /** A channel nobody subscribes to: unsubscribing from it is acked and changes nothing (section 5). */
    static final String PROBE_CHANNEL = "public:gatling-hold-probe";
    /** The most frames kept between two reads of the unmatched buffer: pings only, a few per minute. */
    static final int UNMATCHED_BUFFER = 1000;

    private static final String INBOX = "unmatched";
    private static final String HOLD_START = "holdStart";

    /**
     * @param wsBase the gateway's WebSocket base URL
     * @param users connections
     * @param ramp time over which they connect
     * @param hold time all of them are held once connected
     */
    record Settings(String wsBase, int users, Duration ramp, Duration hold) {
        static Settings from(SimulationProperties p) {
            Settings s = new Settings(
                    p.webSocketBase(),
                    p.integer("users", 1000, 50, 1, 1_000_000),
                    p.seconds("ramp", 30, 3, 0, 86_400),
                    p.seconds("hold", 60, 8, 0, 86_400));
            p.check(ConnectAndHoldSimulation.class.getSimpleName());
            return s;
        }
    }

    private final Settings settings = Settings.from(SimulationProperties.fromSystem());
    private final GatlingStats stats = new GatlingStats();
    private final LongAdder pingsSeen = new LongAdder();
    private final LongAdder heartbeatsOk = new LongAdder();
    private final AtomicLong pingInterval = new AtomicLong();
    private final AtomicLong pingTimeout = new AtomicLong();

    {
        ScenarioBuilder hold = scenario("connect and hold")
                .exec(GatewayDsl.connectAsGuest("connect"))
                .rendezVous(settings.users())
                .exec(stats.step("hold start", (st, s) -> s.set(HOLD_START, st.now())))
                .pause(settings.hold())
                .exec(ws.processUnmatchedMessages((messages, s) -> s.set(INBOX, messages)))
                .exec(stats.step("heartbeat verdict", this::heartbeat))
                .exec(GatewayDsl.nextRequestId())
                .exec(ws("still open")
                        .sendText(s -> Frames.unsubscribe(s.getLong(GatewayDsl.REQUEST_ID), PROBE_CHANNEL))
                        .await(GatewayDsl.REPLY_TIMEOUT)
                        .on(GatewayDsl.ack(STILL_OPEN)))
                .exec(ws("close").close());

        setUp(hold.injectOpen(rampUsers(settings.users()).during(settings.ramp())))
                .protocols(GatewayDsl.protocol(settings.wsBase(), UNMATCHED_BUFFER))
                .maxDuration(settings.ramp().plus(settings.hold()).plusMinutes(2))
                .assertions(
                        global().failedRequests().count().is(0L),
                        details(HEARTBEAT).successfulRequests().count().is((long) settings.users()),
                        details(STILL_OPEN).successfulRequests().count().is((long) settings.users()));
    }

    private Session heartbeat(GatlingStats st, Session session) {
        long start = session.getLong(HOLD_START);
        long end = st.now();
        List<WsInboundMessage> messages = session.contains(INBOX) ? session.get(INBOX) : List.of();
        if (!session.contains(GatewayDsl.PING_INTERVAL)) {
            // no welcome: the failed check already says why
            st.ko(session, HEARTBEAT, start, end, "no welcome, so no heartbeat to check");
            return session.remove(INBOX).markAsFailed();
        }
        long interval = session.getLong(GatewayDsl.PING_INTERVAL);
        pingInterval.set(interval);
        pingTimeout.set(session.getLong(GatewayDsl.PING_TIMEOUT));
        int pings = 0;
        List<String> unexpected = new ArrayList<>();
        for (WsInboundMessage m : messages) {
            if (m instanceof WsInboundMessage.Text t && Frames.isPing(t.message())) {
                pings++;
            } else {
                unexpected.add(m instanceof WsInboundMessage.Text t ? Frames.excerpt(t.message()) : "a binary frame");
            }
        }
        pingsSeen.add(pings);
        // one interval of slack: the last ping may be due just as the hold ends, and timers run late under load
        long expected = Math.max(0, (end - start) / interval - 1);
        if (!unexpected.isEmpty()) {
            st.ko(
                    session,
                    HEARTBEAT,
                    start,
                    end,
                    unexpected.size() + " frame(s) other than pings while idle, first: " + unexpected.get(0));
            return session.remove(INBOX).markAsFailed();
        }
        if (pings < expected) {
            st.ko(
                    session,
                    HEARTBEAT,
                    start,
                    end,
                    pings + " ping(s) in a hold of " + settings.hold().toSeconds() + " s at an interval of " + interval
                            + " ms: expected at least " + expected);
            return session.remove(INBOX).markAsFailed();
        }
        st.ok(session, HEARTBEAT, start, end);
        heartbeatsOk.increment();
        return session.remove(INBOX);
    }

    @Override
    public void after() {
        long interval = pingInterval.get();
        long limit = interval + pingTimeout.get();
        long holdMs = settings.hold().toMillis();
        String exercised = interval == 0
                ? "no welcome was received"
                : holdMs > limit
                        ? "the hold was longer than ping.interval + ping.timeout = " + limit + " ms: a connection that"
                                + " answered '" + STILL_OPEN + "' was kept open by its pongs"
                        : "the hold was within ping.interval + ping.timeout = " + limit
                                + " ms, so pongs were not needed;"
                                + " start the gateway with a shorter SWITCHBOARD_PING_INTERVAL_MS to exercise them";
        System.out.println("connect-and-hold: " + heartbeatsOk.sum() + " of " + settings.users() + " heartbeats OK, "
                + pingsSeen.sum() + " pings received and answered while idle (waiting for all to connect, then a"
                + " hold of " + holdMs + " ms); " + exercised);
    }
}
