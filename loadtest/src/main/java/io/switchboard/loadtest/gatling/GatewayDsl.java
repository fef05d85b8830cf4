package io.switchboard.loadtest.gatling;

import static io.gatling.javaapi.core.CoreDsl.exec;
import static io.gatling.javaapi.core.CoreDsl.jsonPath;
import static io.gatling.javaapi.http.HttpDsl.http;
import static io.gatling.javaapi.http.HttpDsl.ws;

import io.gatling.javaapi.core.ChainBuilder;
import io.gatling.javaapi.http.HttpProtocolBuilder;
import io.gatling.javaapi.http.WsFrameCheck;
import java.time.Duration;

/**
 * The Gatling pieces every simulation shares: the protocol (the gateway's pings answered), connecting with
 * {@code hello} and its {@code welcome}, and the check of a request's {@code ack}. The session keys it writes
 * are the constants below.
 */
final class GatewayDsl {
    /** Offered on connect (docs/protocol.md section 1). */
    static final String SUBPROTOCOL = "switchboard.v1";
    /** The longest wait for the reply to a request, or for the welcome. */
    static final Duration REPLY_TIMEOUT = Duration.ofSeconds(10);

    /** Session keys: from the welcome, the user id, the resume token and the heartbeat settings. */
    static final String USER = "user";

    static final String RESUME = "resume";
    static final String PING_INTERVAL = "pingInterval";
    static final String PING_TIMEOUT = "pingTimeout";
    /** Session key: the id of the user's latest request (section 4), counting from 1 on each connection. */
    static final String REQUEST_ID = "requestId";

    private GatewayDsl() {}

    /**
     * WebSockets at {@code wsBase}. Every {@code {"type":"ping"}} is answered with a pong at once, from Gatling's
     * frame handler, whatever the virtual user is doing (paused, or waiting for another frame), and is never
     * seen by a check. Frames that arrive while no check waits are kept, up to {@code unmatchedBuffer} (0: none),
     * for {@code ws.processUnmatchedMessages}. The HTTP warm-up request, which Gatling sends to its own web site
     * by default, is off.
     */
    static HttpProtocolBuilder protocol(String wsBase, int unmatchedBuffer) {
        return http.disableWarmUp()
                .wsBaseUrl(wsBase)
                .wsAutoReplyTextFrame(Frames::pongFor)
                .wsUnmatchedInboundMessageBufferSize(unmatchedBuffer);
    }

    /** Opens the WebSocket (request {@code name}) and says hello as a new guest; the welcome is checked. */
    static ChainBuilder connectAsGuest(String name) {
        return exec(ws(name).connect(SimulationProperties.WS_PATH).subprotocol(SUBPROTOCOL))
                .exec(ws("hello").sendText(Frames.hello()).await(REPLY_TIMEOUT).on(welcome("welcome", false)))
                .exec(session -> session.set(REQUEST_ID, 0L));
    }

    /**
     * Opens the WebSocket again and says hello with the resume token of the previous welcome; the welcome must
     * say {@code resumed:true} and give the same user id back (section 2).
     */
    static ChainBuilder reconnectResuming(String name) {
        return exec(ws(name).connect(SimulationProperties.WS_PATH).subprotocol(SUBPROTOCOL))
                .exec(ws("hello with resume")
                        .sendText(session -> Frames.helloResuming(session.getString(RESUME)))
                        .await(REPLY_TIMEOUT)
                        .on(ws.checkTextMessage("resumed welcome")
                                .check(
                                        jsonPath("$.code").notExists(),
                                        jsonPath("$.type").is("welcome"),
                                        jsonPath("$.resumed").ofBoolean().is(true),
                                        jsonPath("$.user").isEL("#{" + USER + "}"),
                                        jsonPath("$.resume").saveAs(RESUME))))
                .exec(session -> session.set(REQUEST_ID, 0L));
    }

    /**
     * The first frame after hello (pings aside) is a welcome with {@code resumed} as given; an error frame
     * instead fails with its code. Saves the user id, the resume token and the heartbeat settings.
     */
    static WsFrameCheck.Text welcome(String name, boolean resumed) {
        return ws.checkTextMessage(name)
                .check(
                        jsonPath("$.code").notExists(),
                        jsonPath("$.type").is("welcome"),
                        jsonPath("$.resumed").ofBoolean().is(resumed),
                        jsonPath("$.user").saveAs(USER),
                        jsonPath("$.resume").saveAs(RESUME),
                        jsonPath("$.ping.interval").ofLong().saveAs(PING_INTERVAL),
                        jsonPath("$.ping.timeout").ofLong().saveAs(PING_TIMEOUT));
    }

    /** Counts the next request: its id is in {@link #REQUEST_ID}. */
    static ChainBuilder nextRequestId() {
        return exec(session -> session.set(REQUEST_ID, session.getLong(REQUEST_ID) + 1));
    }

    /**
     * The reply to the request whose id is in {@link #REQUEST_ID}: an ack; an error frame fails with its code.
     * Frames without that id (messages, events) do not match and are left alone.
     */
    static WsFrameCheck.Text ack(String name) {
        return ws.checkTextMessage(name)
                .matching(jsonPath("$.id").ofLong().isEL("#{" + REQUEST_ID + "}"))
                .check(jsonPath("$.code").notExists(), jsonPath("$.type").is("ack"));
    }
}
