package io.switchboard.loadtest.scenario;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.switchboard.loadtest.cluster.LocalCluster;
import io.switchboard.loadtest.cluster.LocalCluster.Target;
import io.switchboard.loadtest.match.MatchBenchmark;
import io.switchboard.loadtest.result.BenchmarkException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The scenarios of the benchmark runner, one method each; every one starts what it measures ({@link LocalCluster}),
 * measures, stops it, and returns its part of {@code result.json}, or throws a {@link BenchmarkException} with a
 * line a person can act on. What each measures is in the comment of its class ({@link Connections},
 * {@link FanOut}, {@link Storm}, {@link Presence}, {@link Hooks}, {@link GatlingScenarios}, {@link MatchBenchmark}).
 */
public final class Scenarios {
    /** Idle connections opened before the baseline of memory is read: {@code idle} needs more than this. */
    public static final int IDLE_BASELINE = Connections.IDLE_BASELINE;
    /** Connections opened and closed before the connection rate is measured. */
    public static final int CONNECT_WARM_UP = Connections.WARM_UP;

    private static final ObjectMapper JSON = new ObjectMapper();

    private final RunContext ctx;
    private final Connections connections;

    /**
     * @param repo the Switchboard repository (holds the gateway jar and the Socket.IO server)
     * @param outDir where the scenarios write (match.json, gatling/) and log ({@code logs/})
     * @param quick whether this is the small run ({@code --quick})
     * @param heap the gateways' heap, such as {@code 1g}
     * @param clientThreads event-loop threads of the load generator
     * @param jfr whether every gateway records a Flight Recorder profile
     * @param gatewayEnv settings given to every gateway started (SWITCHBOARD_*, JAVA_TOOL_OPTIONS)
     * @param out the console
     */
    public Scenarios(
            Path repo,
            Path outDir,
            boolean quick,
            String heap,
            int clientThreads,
            boolean jfr,
            Map<String, String> gatewayEnv,
            PrintStream out) {
        this.ctx = new RunContext(repo, outDir, quick, heap, clientThreads, jfr, gatewayEnv, out);
        this.connections = new Connections(ctx);
    }

    public Path logDir() {
        return ctx.logDir();
    }

    public void say(String line) {
        ctx.say(line);
    }

    /** Installs the Socket.IO server's packages with npm when they are missing. */
    public void installSocketIo() throws BenchmarkException {
        LocalCluster.installSocketIo(ctx.repo(), ctx.logDir(), ctx::say);
    }

    /** {@code idle}: {@code n} connections held for {@code hold}, memory per connection. */
    public Map<String, Object> idle(Target target, int n, Duration hold) throws BenchmarkException {
        return connections.idle(target, n, hold);
    }

    /** {@code connect}: {@code n} connections opened, connections per second. */
    public Map<String, Object> connect(Target target, int n) throws BenchmarkException {
        return connections.rate(target, n);
    }

    /**
     * {@code fanout}: deliveries per second and publish-to-receive latency, one step per offered rate, on
     * {@code servers} server processes (more than one share a Redis).
     */
    public Map<String, Object> fanOut(
            Target target,
            int servers,
            int subscribers,
            int channels,
            List<Long> rates,
            Duration firstWarmup,
            Duration warmup,
            Duration measure)
            throws BenchmarkException {
        FanOut.FanOutOptions o = new FanOut.FanOutOptions(subscribers, channels, rates, firstWarmup, warmup, measure);
        return new FanOut(ctx, target, servers, o).run();
    }

    /** {@code storm}: a reconnect storm between two gateways on Redis; nothing may be lost. */
    public Map<String, Object> storm(int clients, int channels, int ratePerChannel, Duration before)
            throws BenchmarkException {
        return new Storm(ctx, clients, channels, ratePerChannel, before).run();
    }

    /**
     * {@code presence}: join/leave churn of {@code users} on a shared channel for {@code seconds}, then a storm of
     * {@code stormUsers} in one channel, on two gateways sharing Redis ({@link Presence}).
     */
    public Map<String, Object> presence(int users, int seconds, int stormUsers) throws BenchmarkException {
        // Every join and leave of the churn is told (the cap is at least its users); the storm's channel is above
        // the cap, as a big channel is. --quick lowers the cap so that its small storm meets it too.
        int eventsMax = ctx.quick() ? Math.max(users, stormUsers / 4) : Math.max(1000, users);
        Duration closeWait = ctx.quick() ? Duration.ofSeconds(3) : Duration.ofSeconds(35);
        return new Presence(
                        ctx, new Presence.Options(users, Duration.ofSeconds(seconds), stormUsers, eventsMax, closeWait))
                .run();
    }

    static final int EVENT_CONNECTS_PER_SECOND = 500;
    static final int EVENT_SECONDS = 5;
    static final int QUICK_EVENT_CONNECTS_PER_SECOND = 25;
    static final int QUICK_EVENT_SECONDS = 2;
    /** How long the backend may take to have every event once the last connection closed. */
    static final Duration EVENTS_WAIT = Duration.ofSeconds(60);

    /**
     * {@code hooks}: the cost of the publish hook on fan-out ({@link Hooks}): one gateway, {@code subscribers} over
     * {@code channels}, one step per offered publish rate, without hooks, with them, and with a backend answering
     * {@code slowDelayMs} late (none when 0); then the webhook events' throughput ({@link HookEvents}), embedded and
     * cluster: {@value #EVENT_CONNECTS_PER_SECOND} connections/s opened and closed for
     * {@value #EVENT_SECONDS} s ({@code --quick}: {@value #QUICK_EVENT_CONNECTS_PER_SECOND}/s for
     * {@value #QUICK_EVENT_SECONDS} s, a check only).
     */
    public Map<String, Object> hooks(
            int subscribers,
            int channels,
            List<Long> publishRates,
            long slowDelayMs,
            Duration firstWarmup,
            Duration warmup,
            Duration measure)
            throws BenchmarkException {
        HookEvents.Options events = ctx.quick()
                ? new HookEvents.Options(
                        QUICK_EVENT_CONNECTS_PER_SECOND, Duration.ofSeconds(QUICK_EVENT_SECONDS), EVENTS_WAIT)
                : new HookEvents.Options(EVENT_CONNECTS_PER_SECOND, Duration.ofSeconds(EVENT_SECONDS), EVENTS_WAIT);
        return new Hooks(
                        ctx,
                        new Hooks.Options(
                                subscribers, channels, publishRates, slowDelayMs, firstWarmup, warmup, measure, events))
                .run();
    }

    /** {@code gatling}: every Gatling simulation against one gateway, small under {@code --quick}. */
    public Map<String, Object> gatling() throws BenchmarkException {
        return GatlingScenarios.run(ctx);
    }

    /** {@code match}: random connect through Redis ({@link MatchBenchmark}), read back from its JSON. */
    public Map<String, Object> match(int users, int seconds) throws BenchmarkException {
        Path file = ctx.outDir().resolve("match.json");
        List<String> args = new ArrayList<>(List.of("--repo", ctx.repo().toString(), "--out", file.toString()));
        if (ctx.quick()) {
            args.add("--quick");
        } else {
            args.addAll(List.of("--users", Integer.toString(users), "--seconds", Integer.toString(seconds)));
        }
        ctx.say("random connect through Redis: MatchBenchmark " + String.join(" ", args));
        int code = MatchBenchmark.run(args.toArray(String[]::new), ctx.out(), ctx.out());
        if (code != 0) {
            throw new BenchmarkException("MatchBenchmark exited with " + code + " (its lines above say why)");
        }
        try {
            return JSON.readValue(file.toFile(), new TypeReference<LinkedHashMap<String, Object>>() {});
        } catch (IOException e) {
            throw new BenchmarkException("cannot read " + file + ": " + e.getMessage());
        }
    }
}
