package io.switchboard.loadtest.gatling;

import static io.gatling.javaapi.core.CoreDsl.details;
import static io.gatling.javaapi.core.CoreDsl.global;
import static io.gatling.javaapi.core.CoreDsl.rampUsers;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.ws;

import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Simulation;
import java.time.Duration;

/**
 * A reconnect storm: ramps {@code users} guests up, waits until all are connected, then drops every connection
 * at the same moment and reconnects each at once with a {@code hello} carrying the {@code resume} token of its
 * first welcome. The new welcome must say {@code resumed:true} and give the same user id back (docs/protocol.md
 * section 2). Measures the reconnect (check {@value #RESUMED}: from the hello to the resumed welcome, and the
 * connect time) with every client arriving together.
 *
 * <p>The drop is a client close with 1001 (going away, as a browser leaving the page), after which the gateway
 * keeps the session resumable for {@code resumeGrace}; a 1000 close would end it for good (section 8). Gatling
 * cannot cut a TCP connection without a close frame, which the gateway treats the same way (1006).
 *
 * <p>System properties (defaults; quick defaults with {@code -Dquick=true}):
 * <ul>
 *   <li>{@code gateway}: the gateway's base URL ({@value SimulationProperties#DEFAULT_GATEWAY})</li>
 *   <li>{@code users}: connections (2000; quick 200)</li>
 *   <li>{@code ramp}: seconds over which they first connect (20; quick 3)</li>
 * </ul>
 *
 * <p>Assertions: no failed request or check; exactly {@code users} resumed welcomes.
 */
public class ReconnectStormSimulation extends Simulation {
    /** The check of the welcome after the reconnect. */
    public static final String RESUMED = "resumed welcome";
    /** Close code of the drop: 1001, after which the gateway lets the session resume. */
    static final int DROP_CODE = 1001;

    /**
     * @param wsBase the gateway's WebSocket base URL
     * @param users connections
     * @param ramp time over which they first connect
     */
    record Settings(String wsBase, int users, Duration ramp) {
        static Settings from(SimulationProperties p) {
            Settings s = new Settings(
                    p.webSocketBase(),
                    p.integer("users", 2000, 200, 1, 1_000_000),
                    p.seconds("ramp", 20, 3, 0, 86_400));
            p.check(ReconnectStormSimulation.class.getSimpleName());
            return s;
        }
    }

    private final Settings settings = Settings.from(SimulationProperties.fromSystem());

    {
        ScenarioBuilder storm = scenario("reconnect storm")
                .exec(GatewayDsl.connectAsGuest("connect"))
                .rendezVous(settings.users())
                .exec(ws("drop").close(DROP_CODE, "going away"))
                .exec(GatewayDsl.reconnectResuming("reconnect"))
                .exec(ws("close").close());

        setUp(storm.injectOpen(rampUsers(settings.users()).during(settings.ramp())))
                .protocols(GatewayDsl.protocol(settings.wsBase(), 0))
                .maxDuration(settings.ramp().plusMinutes(3))
                .assertions(
                        global().failedRequests().count().is(0L),
                        details(RESUMED).successfulRequests().count().is((long) settings.users()));
    }
}
