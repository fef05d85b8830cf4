package io.switchboard.loadtest.gatling;

import static io.gatling.javaapi.core.CoreDsl.details;
import static io.gatling.javaapi.core.CoreDsl.exec;
import static io.gatling.javaapi.core.CoreDsl.global;
import static io.gatling.javaapi.core.CoreDsl.jsonPath;
import static io.gatling.javaapi.core.CoreDsl.pace;
import static io.gatling.javaapi.core.CoreDsl.pause;
import static io.gatling.javaapi.core.CoreDsl.rampUsers;
import static io.gatling.javaapi.core.CoreDsl.repeat;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.ws;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gatling.http.action.ws.WsInboundMessage;
import io.gatling.javaapi.core.ChainBuilder;
import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Session;
import io.gatling.javaapi.core.Simulation;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Fan-out of channel messages: {@code subscribersPerChannel} guests subscribe to each of {@code channels}
 * channels {@code public:fan-<i>}; once all are subscribed, {@code publishersPerChannel} guests per channel
 * publish {@code rate} messages a second each for {@code duration}, every message's data carrying its send time
 * on Gatling's clock. Measures, for every message at every subscriber, the time from its publish to its receipt
 * (request {@value #LATENCY}), and the publish-to-ack time (check {@value #PUBLISH_ACK}).
 *
 * <p>How the latency is recorded: a Gatling check times a reply from a frame the same virtual user sent, but a
 * subscriber sends nothing and receives what others publish. Making each subscriber publish and time its own
 * echo would measure one subscriber per message and multiply the publish load by the audience. Instead Gatling
 * stamps every frame on arrival (on its clock, in its frame handler, whatever the user is doing) and keeps the
 * ones no check waits for; each subscriber reads them with {@code ws.processUnmatchedMessages} every
 * {@value #DRAIN_MILLIS} ms and records one request per message, from the send time in its data to that arrival
 * stamp, through {@link GatlingStats} into Gatling's own statistics: the console, the HTML report and the
 * assertions see them like any request. Publisher and subscribers share one JVM and one clock, and how often the
 * buffer is read changes when a message is noticed, not its recorded time (millisecond resolution, as Gatling's).
 *
 * <p>Correctness, per subscriber (request {@value #SUBSCRIBER_COMPLETE}, KO with the reason): every offset
 * after the one its subscribe ack gave, up to the last offset acked to a publisher of its channel, arrives
 * exactly once and in order, on its channel, with no other frame than pings, within {@code receiveTimeout} after
 * the last publisher finished (docs/protocol.md section 5). All users run one scenario (subscribers first, then
 * publishers) so that a rendezvous can hold the publishers until every subscriber has its ack.
 *
 * <p>System properties (defaults; quick defaults with {@code -Dquick=true}):
 * <ul>
 *   <li>{@code gateway}: the gateway's base URL ({@value SimulationProperties#DEFAULT_GATEWAY})</li>
 *   <li>{@code channels}: channels (10; quick 2)</li>
 *   <li>{@code subscribersPerChannel}: subscribers of each channel (100; quick 10)</li>
 *   <li>{@code publishersPerChannel}: publishers to each channel (1; quick 1)</li>
 *   <li>{@code rate}: messages a second per publisher (10; quick 20)</li>
 *   <li>{@code duration}: seconds of publishing (60; quick 5); each publisher sends {@code rate * duration}</li>
 *   <li>{@code ramp}: seconds over which all users connect (20; quick 2)</li>
 *   <li>{@code receiveTimeout}: seconds a subscriber waits for the rest after the last publish ack (10; quick 5)</li>
 * </ul>
 *
 * <p>Assertions: no failed request or check; exactly {@code channels * subscribersPerChannel *
 * publishersPerChannel * rate * duration} messages received; every subscriber complete; every publish acked.
 */
public class FanOutSimulation extends Simulation {
    /** One request per message per subscriber: from its publisher's send to that subscriber's receipt. */
    public static final String LATENCY = "publish to receive";
    /** One request per subscriber: its verdict on offsets and frames. */
    public static final String SUBSCRIBER_COMPLETE = "subscriber complete";

    public static final String PUBLISH_ACK = "publish ack";
    /** How often a subscriber reads the frames Gatling kept for it. */
    static final long DRAIN_MILLIS = 250;
    /**
     * The most frames Gatling keeps per connection between two reads; the oldest are dropped beyond it, which
     * the subscriber reports (a gap). At the defaults a subscriber gets 10 messages a second.
     */
    static final int UNMATCHED_BUFFER = 100_000;

    static final String CHANNEL_PREFIX = "public:fan-";

    private static final String ROLE_INDEX = "roleIndex";
    private static final String LAST_OFFSET = "lastOffset";
    private static final String OFFSET = "offset";
    private static final String INBOX = "unmatched";
    private static final String RECEIVE_START = "receiveStart";
    private static final String RECEIVED = "received";
    private static final String DONE = "done";
    private static final String PUBLISHERS_DONE_AT = "publishersDoneAt";

    /**
     * @param wsBase the gateway's WebSocket base URL
     * @param channels channels
     * @param subscribersPerChannel subscribers of each channel
     * @param publishersPerChannel publishers to each channel
     * @param rate messages a second per publisher
     * @param duration time of publishing
     * @param ramp time over which all users connect
     * @param receiveTimeout how long a subscriber waits for the rest after the last publisher finished
     */
    record Settings(
            String wsBase,
            int channels,
            int subscribersPerChannel,
            int publishersPerChannel,
            int rate,
            Duration duration,
            Duration ramp,
            Duration receiveTimeout) {
        static Settings from(SimulationProperties p) {
            Settings s = new Settings(
                    p.webSocketBase(),
                    p.integer("channels", 10, 2, 1, 100_000),
                    p.integer("subscribersPerChannel", 100, 10, 1, 1_000_000),
                    p.integer("publishersPerChannel", 1, 1, 1, 10_000),
                    p.integer("rate", 10, 20, 1, 10_000),
                    p.seconds("duration", 60, 5, 1, 86_400),
                    p.seconds("ramp", 20, 2, 0, 86_400),
                    p.seconds("receiveTimeout", 10, 5, 1, 3_600));
            p.check(FanOutSimulation.class.getSimpleName());
            return s;
        }

        int subscribers() {
            return channels * subscribersPerChannel;
        }

        int publishers() {
            return channels * publishersPerChannel;
        }

        long messagesPerPublisher() {
            return rate * duration.toSeconds();
        }

        long deliveries() {
            return (long) subscribers() * publishersPerChannel * messagesPerPublisher();
        }
    }

    private final Settings settings = Settings.from(SimulationProperties.fromSystem());
    private final GatlingStats stats = new GatlingStats();
    /** Tells this run's messages from any other publisher's on the same channels. */
    private final String run = Long.toString(ThreadLocalRandom.current().nextLong() >>> 1, 36);

    private final AtomicInteger arrivals = new AtomicInteger();
    private final AtomicInteger publishersFinished = new AtomicInteger();
    /** Per channel, the highest offset acked to a publisher of this run. */
    private final AtomicLongArray lastPublished = new AtomicLongArray(settings.channels());

    {
        int users = settings.subscribers() + settings.publishers();
        ScenarioBuilder fanOut = scenario("fan-out")
                .exec(session -> session.set(ROLE_INDEX, arrivals.getAndIncrement()))
                .exec(GatewayDsl.connectAsGuest("connect"))
                .doIf(this::isSubscriber)
                .then(subscribe())
                .rendezVous(users)
                .doIfOrElse(this::isSubscriber)
                .then(receive())
                .orElse(publish())
                .exec(ws("close").close());

        setUp(fanOut.injectOpen(rampUsers(users).during(settings.ramp())))
                .protocols(GatewayDsl.protocol(settings.wsBase(), UNMATCHED_BUFFER))
                .maxDuration(settings.ramp()
                        .plus(settings.duration())
                        .plus(settings.receiveTimeout())
                        .plusMinutes(2))
                .assertions(
                        global().failedRequests().count().is(0L),
                        details(LATENCY).successfulRequests().count().is(settings.deliveries()),
                        details(SUBSCRIBER_COMPLETE)
                                .successfulRequests()
                                .count()
                                .is((long) settings.subscribers()),
                        details(PUBLISH_ACK)
                                .successfulRequests()
                                .count()
                                .is(settings.publishers() * settings.messagesPerPublisher()));
    }

    private boolean isSubscriber(Session session) {
        return session.getInt(ROLE_INDEX) < settings.subscribers();
    }

    /** The channel of a subscriber or a publisher, by its arrival index. */
    private int channel(Session session) {
        int index = session.getInt(ROLE_INDEX);
        return index < settings.subscribers()
                ? index % settings.channels()
                : (index - settings.subscribers()) % settings.channels();
    }

    private static String channelName(int channel) {
        return CHANNEL_PREFIX + channel;
    }

    private ChainBuilder subscribe() {
        return GatewayDsl.nextRequestId()
                .exec(ws("subscribe")
                        .sendText(s -> Frames.subscribe(s.getLong(GatewayDsl.REQUEST_ID), channelName(channel(s))))
                        .await(GatewayDsl.REPLY_TIMEOUT)
                        .on(GatewayDsl.ack("subscribe ack")
                                .check(jsonPath("$.offset").ofLong().saveAs(LAST_OFFSET))));
    }

    private ChainBuilder publish() {
        Duration interval = Duration.ofNanos(1_000_000_000L / settings.rate());
        return repeat((int) settings.messagesPerPublisher(), "n")
                .on(
                        pace(interval),
                        GatewayDsl.nextRequestId(),
                        exec(ws("publish")
                                .sendText(this::publishFrame)
                                .await(GatewayDsl.REPLY_TIMEOUT)
                                .on(GatewayDsl.ack(PUBLISH_ACK)
                                        .check(jsonPath("$.offset").ofLong().saveAs(OFFSET)))),
                        exec(session -> {
                            if (session.contains(OFFSET)) {
                                lastPublished.accumulateAndGet(channel(session), session.getLong(OFFSET), Math::max);
                            }
                            return session.remove(OFFSET);
                        }))
                .exec(session -> {
                    publishersFinished.incrementAndGet();
                    return session;
                });
    }

    /** Built when Gatling sends it, so {@code t} is the send time. */
    private String publishFrame(Session session) {
        ObjectNode data = Frames.object();
        data.put("run", run);
        data.put("t", stats.now());
        data.put("publisher", session.getInt(ROLE_INDEX) - settings.subscribers());
        data.put("n", session.getInt("n"));
        return Frames.publish(session.getLong(GatewayDsl.REQUEST_ID), channelName(channel(session)), data);
    }

    private ChainBuilder receive() {
        return exec(stats.step(
                        "receive start",
                        (st, s) ->
                                s.set(RECEIVE_START, st.now()).set(RECEIVED, 0L).set(DONE, !s.contains(LAST_OFFSET))))
                .asLongAs(s -> !s.getBoolean(DONE))
                .on(
                        pause(Duration.ofMillis(DRAIN_MILLIS)),
                        exec(ws.processUnmatchedMessages((messages, s) -> s.set(INBOX, messages))),
                        exec(stats.step("deliveries", this::deliveries)));
    }

    /**
     * Records the messages that arrived since the last read and decides whether this subscriber is done: all
     * offsets up to the channel's last published one seen, or a problem, or the wait after the last publisher
     * ran out.
     */
    private Session deliveries(GatlingStats st, Session session) {
        List<WsInboundMessage> messages = session.get(INBOX);
        session = session.remove(INBOX);
        int channel = channel(session);
        String name = channelName(channel);
        long last = session.getLong(LAST_OFFSET);
        long received = session.getLong(RECEIVED);
        String problem = null;
        if (messages.size() >= UNMATCHED_BUFFER) {
            problem = messages.size() + " frames between two reads: Gatling's buffer of " + UNMATCHED_BUFFER
                    + " may have dropped some";
        }
        for (WsInboundMessage m : messages) {
            if (!(m instanceof WsInboundMessage.Text text)) {
                problem = problem != null ? problem : "a binary frame";
                continue;
            }
            if (Frames.isPing(text.message())) {
                continue;
            }
            JsonNode frame = Frames.read(text.message());
            if (!"message".equals(Frames.type(frame))
                    || !name.equals(frame.path("channel").asText())) {
                problem = problem != null ? problem : "unexpected frame: " + Frames.excerpt(text.message());
                continue;
            }
            long offset = frame.path("offset").asLong(-1);
            if (offset != last + 1 && problem == null) {
                problem = "offset " + offset + " after " + last + " on " + name + ": expected " + (last + 1);
            }
            last = Math.max(last, offset);
            JsonNode data = frame.path("data");
            if (run.equals(data.path("run").asText())) {
                st.ok(session, LATENCY, data.path("t").asLong(), text.timestamp());
                received++;
            }
        }
        session = session.set(LAST_OFFSET, last).set(RECEIVED, received);
        long now = st.now();
        long start = session.getLong(RECEIVE_START);
        if (problem != null) {
            st.ko(session, SUBSCRIBER_COMPLETE, start, now, problem);
            return session.set(DONE, true).markAsFailed();
        }
        if (publishersFinished.get() < settings.publishers()) {
            return session;
        }
        long expectedLast = lastPublished.get(channel);
        if (last >= expectedLast) {
            st.ok(session, SUBSCRIBER_COMPLETE, start, now);
            return session.set(DONE, true);
        }
        if (!session.contains(PUBLISHERS_DONE_AT)) {
            return session.set(PUBLISHERS_DONE_AT, now);
        }
        if (now - session.getLong(PUBLISHERS_DONE_AT)
                > settings.receiveTimeout().toMillis()) {
            st.ko(
                    session,
                    SUBSCRIBER_COMPLETE,
                    start,
                    now,
                    "offsets " + (last + 1) + " to " + expectedLast + " of "
                            + name + " not received within "
                            + settings.receiveTimeout().toSeconds()
                            + " s of the last publish ack (" + received + " received)");
            return session.set(DONE, true).markAsFailed();
        }
        return session;
    }
}
