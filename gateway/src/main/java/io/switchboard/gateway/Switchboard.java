package io.switchboard.gateway;

import io.switchboard.gateway.config.ConfigException;
import io.switchboard.gateway.config.GatewayConfig;
import java.time.Duration;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The command-line entry point: configuration from the environment, start, and stop on SIGTERM. */
public final class Switchboard {
    private static final Logger log = LoggerFactory.getLogger(Switchboard.class);

    private Switchboard() {}

    public static void main(String[] args) {
        GatewayConfig config;
        try {
            config = GatewayConfig.fromEnvironment(System.getenv());
        } catch (ConfigException e) {
            System.err.println("switchboard: cannot start, the configuration has "
                    + e.problems().size() + " problem(s):");
            e.problems().forEach(p -> System.err.println("  " + p));
            System.exit(2);
            return;
        }
        log.info(
                "Starting Switchboard node {} in {} mode with:",
                config.nodeId(),
                config.clustered() ? "cluster" : "embedded");
        for (Map.Entry<String, String> e : config.describe().entrySet()) {
            log.info("  {}={}", e.getKey(), e.getValue());
        }
        if (!config.apiEnabled()) {
            log.info("SWITCHBOARD_API_KEY is not set: the HTTP API (/api/*) is disabled and answers 401");
        }
        if (!config.tokensEnabled()) {
            log.info(
                    "SWITCHBOARD_JWT_SECRET is not set: tokens are refused{}",
                    config.guests() ? ", guests are accepted" : " and guests are disabled: nobody can connect");
        }
        Gateway gateway;
        try {
            gateway = Gateway.start(config);
        } catch (RuntimeException e) {
            log.error("Cannot listen on {}:{}: {}", config.host(), config.port(), rootMessage(e));
            System.exit(1);
            return;
        }
        // SIGTERM drains and exits 0; any other shutdown (SIGINT, System.exit) just closes
        Runtime.getRuntime().addShutdownHook(new Thread(gateway::close, "switchboard-shutdown"));
        Gateway running = gateway;
        sun.misc.Signal.handle(
                new sun.misc.Signal("TERM"),
                signal -> new Thread(
                                () -> {
                                    log.info("SIGTERM: draining over {} ms", config.drainMs());
                                    running.drain(Duration.ofMillis(config.drainMs()));
                                    System.exit(0);
                                },
                                "switchboard-drain")
                        .start());
        log.info(
                "Switchboard node {} listening on http://{}:{} (WebSocket at /ws)",
                config.nodeId(),
                config.host(),
                gateway.port());
        gateway.onDispose().block();
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName() + ": " + t.getMessage();
    }
}
