package io.switchboard.gateway.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.protocol.client.CloseStatus;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardClientOptions;
import io.switchboard.testing.net.TcpProxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The Java client's I/O (docs/clients.md, "Java: SwitchboardClient"): its own epoll (or NIO) threads, never
 * reactor-netty's io_uring ones, on which a reset connection sometimes went unnoticed until the heartbeat watchdog,
 * 35 s later (about once in 1,650 cuts on this machine; never in 7,100 on epoll).
 */
class ClientTransportIntegrationTests {
    private static final Duration T = TestGateway.TIMEOUT;
    private static final int CUTS = 200;

    @RegisterExtension
    final Closing closing = new Closing();

    @Test
    @DisplayName("the client runs on its own switchboard-client threads")
    void ownThreads() {
        TestGateway gw = closing.keep(TestGateway.start(Map.of()));
        SwitchboardClient c = gw.connect();
        String thread = c.subscribe("public:t")
                .map(ack -> Thread.currentThread().getName())
                .block(T);
        assertThat(thread).startsWith("switchboard-client-");
    }

    @Test
    @DisplayName("section 8: a connection reset while messages flow to it is noticed at once, every time")
    void everyResetNoticed() {
        TestGateway gw =
                closing.keep(TestGateway.start(Map.of("SWITCHBOARD_RATE", "100000", "SWITCHBOARD_BURST", "100000")));
        TcpProxy proxy = closing.keep(TcpProxy.to(gw.port()));
        SwitchboardClient publisher = gw.connect();
        Disposable stream = Flux.interval(Duration.ofMillis(2))
                .onBackpressureDrop()
                .concatMap(i -> publisher.publish("public:cut", "{\"n\":" + i + "}"), 1)
                .subscribe(ack -> {}, e -> {});
        closing.<AutoCloseable>keep(stream::dispose);
        List<Integer> unnoticed = new ArrayList<>();
        for (int i = 0; i < CUTS; i++) {
            SwitchboardClient c = SwitchboardClient.connect(SwitchboardClientOptions.of(proxy.wsUri()))
                    .block(T);
            c.subscribe("public:cut").block(T);
            c.events().next().block(T); // a message is flowing to it
            proxy.cutAll();
            CloseStatus closed =
                    c.closed().timeout(Duration.ofSeconds(5), Mono.empty()).block();
            if (closed == null) {
                unnoticed.add(i);
                c.abort();
            }
        }
        assertThat(unnoticed)
                .as("cuts not noticed within 5 s (of " + CUTS + ")")
                .isEmpty();
    }
}
