package io.switchboard.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.support.ClientRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.ConnectionEvent;
import io.switchboard.protocol.client.ReconnectPolicy;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import io.switchboard.testing.net.TcpProxy;
import io.switchboard.testing.redis.RedisExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import reactor.core.publisher.Flux;

/**
 * Drain (docs/protocol.md section 8): closes spread over the window, and every reconnecting client resumes on the
 * instance its load balancer (a proxy here) now sends it to.
 */
class DrainIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private static final int CLIENTS = 2000;
    private static final long WINDOW_MS = 4_000;

    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    private static final String CHANNEL = "public:drain";

    private final List<TestGateway> gateways = new ArrayList<>();
    private TcpProxy proxy;
    private List<ClientRecorder> clients = List.of();

    @AfterEach
    void stop() {
        ClientRecorder.closeAll(clients);
        if (proxy != null) {
            proxy.close();
        }
        gateways.forEach(TestGateway::close);
    }

    private TestGateway instance(String node) {
        TestGateway gw = TestGateway.startClustered(
                redis.server().uri(), node, Map.of("SWITCHBOARD_RATE", "100000", "SWITCHBOARD_BURST", "100000"));
        gateways.add(gw);
        return gw;
    }

    @Test
    @DisplayName("section 8: a drain closes 2,000 connections with 1012 spread over the window; the reconnecting"
            + " clients all land on another instance with their identity, and nothing sent meanwhile is lost")
    void drainSpreadsClosesAndClientsResumeElsewhere() {
        TestGateway a = instance("gw-a");
        TestGateway b = instance("gw-b");
        proxy = TcpProxy.to(a.port());
        clients = ClientRecorder.connectMany(
                proxy.wsUri(),
                ReconnectPolicy.DEFAULT,
                CLIENTS,
                r -> r.client().subscribe(CHANNEL).block(T));
        assertThat(clients).hasSize(CLIENTS);
        assertThat(a.post("/api/publish", "{\"channel\":\"" + CHANNEL + "\",\"data\":0}")
                        .statusCode())
                .isEqualTo(200);

        // the load balancer sends new connections to the other instance; then the drain begins
        proxy.retarget(b.port());
        long start = System.nanoTime();
        Thread drainer = new Thread(() -> a.gateway().drain(Duration.ofMillis(WINDOW_MS)));
        drainer.start();
        Await.until("not ready while draining", T, () -> a.get("/health/ready").statusCode() == 503);
        assertThat(a.get("/health").body()).contains("\"status\":\"DOWN\"");
        // messages sent to every user and to the channel during the drain, through the other instance
        SwitchboardClient sender = b.connect();
        Flux.fromIterable(clients)
                .flatMap(c -> sender.send(c.client().welcome().user(), "\"during drain\""), 64)
                .blockLast(T);
        for (int n = 1; n <= 3; n++) {
            assertThat(b.post("/api/publish", "{\"channel\":\"" + CHANNEL + "\",\"data\":" + n + "}")
                            .statusCode())
                    .isEqualTo(200);
        }
        Await.until(
                "every client to recover",
                Duration.ofSeconds(60),
                () -> clients.stream()
                        .allMatch(
                                c -> !c.events(ConnectionEvent.Recovered.class).isEmpty()));

        List<Long> closedAt = new ArrayList<>();
        for (ClientRecorder c : clients) {
            List<ConnectionEvent> events = c.events();
            int i = events.indexOf(c.events(ConnectionEvent.Disconnected.class).get(0));
            closedAt.add(c.eventNanos().get(i));
            assertThat(c.events(ConnectionEvent.Disconnected.class))
                    .singleElement()
                    .satisfies(d -> assertThat(d.status().code()).isEqualTo(CloseCodes.SERVICE_RESTART));
            List<ConnectionEvent.Connected> welcomes = c.events(ConnectionEvent.Connected.class);
            assertThat(welcomes).hasSize(2);
            assertThat(welcomes.get(1).welcome().user())
                    .isEqualTo(welcomes.get(0).welcome().user());
            assertThat(welcomes.get(1).welcome().node()).isEqualTo("gw-b");
            assertThat(c.events(ConnectionEvent.Recovered.class))
                    .singleElement()
                    .satisfies(r -> assertThat(r.recovered()).as("%s", r).isTrue());
        }
        long first = closedAt.stream().min(Long::compare).orElseThrow();
        long last = closedAt.stream().max(Long::compare).orElseThrow();
        assertThat((last - first) / 1_000_000)
                .as("closes spread over the window")
                .isGreaterThan(WINDOW_MS * 7 / 10);
        // Seen by the clients, on a 2-core machine that also runs both instances, Redis and 2,000 reconnects:
        // pauses bunch what the server spread, so the check is on half-second slices (an even spread puts 1/8
        // of the closes in each; all at once would put them all in one).
        int[] slices = new int[(int) (WINDOW_MS / 100) + 40];
        closedAt.forEach(t -> slices[(int) Math.min(slices.length - 1, (t - start) / 100_000_000)]++);
        for (int i = 0; i + 5 <= slices.length; i++) {
            int inHalfSecond = slices[i] + slices[i + 1] + slices[i + 2] + slices[i + 3] + slices[i + 4];
            assertThat(inHalfSecond)
                    .as("no 500 ms holds more than a quarter of the closes; per 100 ms: %s", Arrays.toString(slices))
                    .isLessThanOrEqualTo(CLIENTS / 4);
        }
        // nothing lost: the direct and the channel messages sent during the drain, once each, in order
        for (ClientRecorder c : clients) {
            c.awaitFrames(ServerFrame.Message.class, m -> true, 4, T);
            c.awaitFrames(ServerFrame.Direct.class, d -> true, 1, T);
            assertThat(c.frames(ServerFrame.Message.class))
                    .extracting(ServerFrame.Message::data)
                    .containsExactly("0", "1", "2", "3");
            assertThat(c.frames(ServerFrame.Direct.class))
                    .extracting(ServerFrame.Direct::data)
                    .containsExactly("\"during drain\"");
        }
        assertThat(a.get("/ws").statusCode()).isEqualTo(503);
    }
}
