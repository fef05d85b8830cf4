package io.switchboard.loadtest.scenario;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.switchboard.loadtest.cluster.LocalCluster;
import io.switchboard.loadtest.result.BenchmarkException;
import io.switchboard.loadtest.result.Results;
import io.switchboard.loadtest.wire.WireClient;
import io.switchboard.loadtest.wire.WireClient.Conn;
import io.switchboard.loadtest.wire.WireClient.Dialect;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * Reconnect storm, on two gateways sharing Redis: {@code clients} subscribers of {@code channels} channels, all on
 * the first gateway, while one publisher per channel (on the second) publishes at a steady rate. Then every
 * subscriber's connection is dropped at once (TCP reset, no close frame, as a network loss) and each reconnects to
 * the <em>other</em> gateway as the protocol's clients do: full-jitter backoff from 500 ms, {@code hello} with
 * {@code resume} and {@code inboxSince}, then {@code subscribe} with {@code since}. Measured: the time from the
 * drop until every client has {@code resumed:true} and every channel {@code recovered:true}; then, once the
 * publishers stopped, every subscriber must hold every offset of its channel exactly once: what is missing is
 * lost (must be 0).
 */
final class Storm {
    static final long BASE_DELAY_MS = 500;
    static final long MAX_DELAY_MS = 20_000;
    static final int MAX_ATTEMPTS = 10;
    /**
     * Channel history kept by the gateways: enough for every message published while the clients are away, so that
     * they can all recover (the default 100 is a deployment's choice; what a storm needs is rate times outage).
     */
    static final int HISTORY_SIZE = 2000;
    /** After the publishers stop, how long subscribers may receive nothing before what they lack counts as lost. */
    static final Duration CATCH_UP_QUIET = Duration.ofSeconds(5);

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One client across its connections; touched on its current connection's event loop. */
    static final class Client {
        final int index;
        final int channel;
        volatile String resume;
        volatile String user;
        String inboxEpoch = "";
        long inboxOffset;
        volatile String epoch;
        long lastOffset;
        long received;
        long gaps;
        long duplicates;
        volatile boolean resumed;
        volatile boolean recovered;
        volatile long recoveredAt;
        final AtomicInteger attempts = new AtomicInteger();
        volatile Conn current;
        volatile long openedAt;
        volatile long welcomedAt;

        Client(int index, int channel) {
            this.index = index;
            this.channel = channel;
        }
    }

    private final RunContext ctx;
    private final int clients;
    private final int channels;
    private final int ratePerChannel;
    private final Duration before;

    Storm(RunContext ctx, int clients, int channels, int ratePerChannel, Duration before) {
        this.ctx = ctx;
        this.clients = clients;
        this.channels = channels;
        this.ratePerChannel = ratePerChannel;
        this.before = before;
    }

    Map<String, Object> run() throws BenchmarkException {
        LocalCluster.Spec spec = new LocalCluster.Spec(
                LocalCluster.Target.SWITCHBOARD,
                2,
                true,
                ctx.heap(),
                ctx.serverEnv(Map.of("SWITCHBOARD_HISTORY_SIZE", Integer.toString(HISTORY_SIZE))));
        ctx.say("reconnect storm on " + spec.describe() + ": " + clients + " subscribers of " + channels
                + " channels dropped at once, " + ratePerChannel + " messages/s per channel");
        LongAdder subscribeAcks = new LongAdder();
        LongAdder publishAcks = new LongAdder();
        AtomicInteger recoveredCount = new AtomicInteger();
        AtomicInteger notRecovered = new AtomicInteger();
        AtomicInteger notResumed = new AtomicInteger();
        AtomicInteger gaveUp = new AtomicInteger();
        Recorder recoverMicros = new Recorder(3);
        AtomicLong droppedAt = new AtomicLong();
        AtomicReference<URI> reconnectTo = new AtomicReference<>();
        AtomicReference<WireClient> wire = new AtomicReference<>();
        AtomicReference<String> firstNotResumed = new AtomicReference<>();
        LongAdder subscribeRetries = new LongAdder();
        LongAdder publishRefused = new LongAdder();
        Load load = new Load() {
            @Override
            public String hello(Conn c) {
                Client cl = (Client) c.attachment;
                if (cl == null || cl.resume == null) {
                    return super.hello(c);
                }
                return "{\"type\":\"hello\",\"v\":1,\"client\":\"switchboard-bench\",\"resume\":\"" + cl.resume
                        + "\",\"inboxSince\":{\"offset\":" + cl.inboxOffset + ",\"epoch\":\"" + cl.inboxEpoch
                        + "\"}}";
            }

            @Override
            void onReady(Conn c, String text) {
                Client cl = (Client) c.attachment;
                if (cl == null) {
                    return;
                }
                JsonNode w = parse(text);
                boolean again = cl.resume != null;
                cl.user = w.path("user").asText();
                cl.resume = w.path("resume").asText();
                cl.inboxOffset = w.path("inbox").path("offset").asLong();
                cl.inboxEpoch = w.path("inbox").path("epoch").asText();
                if (again) {
                    cl.welcomedAt = System.nanoTime();
                    cl.resumed = w.path("resumed").asBoolean();
                    if (!cl.resumed && notResumed.incrementAndGet() == 1) {
                        firstNotResumed.set(text);
                    }
                    c.send(resubscribe(cl));
                } else {
                    c.send("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"public:storm-" + cl.channel + "\"}");
                }
            }

            @Override
            public void replied(Conn c, long id, boolean error, String text) {
                Client cl = (Client) c.attachment;
                if (error && cl != null && id == 2) {
                    JsonNode e = parse(text);
                    if ("unavailable".equals(e.path("code").asText())) {
                        // Back-pressure, as docs/protocol.md section 4 has it: ask again after retryAfter.
                        subscribeRetries.increment();
                        wire.get()
                                .schedule(
                                        () -> c.send(resubscribe(cl)),
                                        e.path("retryAfter").asLong(1000));
                        return;
                    }
                }
                if (cl == null) {
                    // A publisher: a publish refused with unavailable was never accepted, so nothing of it can be
                    // lost; it is counted apart. Its ack stands in for it in the count of answers awaited.
                    if (!error) {
                        publishAcks.increment();
                    } else if ("unavailable".equals(parse(text).path("code").asText())) {
                        publishRefused.increment();
                        publishAcks.increment();
                    } else {
                        super.replied(c, id, error, text);
                        publishAcks.increment();
                    }
                    return;
                }
                super.replied(c, id, error, text);
                if (error) {
                    return;
                }
                JsonNode a = parse(text);
                if (id == 1) {
                    cl.epoch = a.path("epoch").asText();
                    cl.lastOffset = Math.max(cl.lastOffset, a.path("offset").asLong());
                    subscribeAcks.increment();
                } else if (id == 2) {
                    cl.recovered = a.path("recovered").asBoolean();
                    if (!cl.recovered) {
                        notRecovered.incrementAndGet();
                    }
                    cl.recoveredAt = System.nanoTime();
                    recoverMicros.recordValue(Math.max(0, (cl.recoveredAt - droppedAt.get()) / 1000));
                    recoveredCount.incrementAndGet();
                }
            }

            @Override
            public void delivered(Conn c, long sentNanos, long offset) {
                Client cl = (Client) c.attachment;
                if (cl == null) {
                    return;
                }
                if (offset <= cl.lastOffset) {
                    cl.duplicates++;
                    return;
                }
                if (offset > cl.lastOffset + 1) {
                    cl.gaps += offset - cl.lastOffset - 1;
                }
                cl.lastOffset = offset;
                cl.received++;
            }

            @Override
            void onClosed(Conn c, boolean wasReady, String cause) {
                Client cl = (Client) c.attachment;
                if (cl == null || droppedAt.get() == 0 || cl.recoveredAt != 0) {
                    return;
                }
                int attempt = cl.attempts.incrementAndGet();
                if (attempt > MAX_ATTEMPTS) {
                    gaveUp.incrementAndGet();
                    return;
                }
                reconnect(wire.get(), reconnectTo.get(), cl, attempt);
            }
        };
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("setup", spec.describe());
        r.put("clients", clients);
        r.put("channels", channels);
        r.put("messagesPerSecondPerChannel", ratePerChannel);
        r.put("historySize", HISTORY_SIZE);
        try (LocalCluster cluster = LocalCluster.start(ctx.repo(), ctx.logDir(), spec);
                WireClient client =
                        new WireClient(Dialect.SWITCHBOARD, ctx.clientThreads(), ctx.nextSourceBlock(), load)) {
            wire.set(client);
            r.put(
                    "client",
                    ctx.clientName(client) + "; reconnects with full jitter from " + BASE_DELAY_MS + " ms, at most "
                            + MAX_ATTEMPTS + " attempts");
            URI first = cluster.serverUris().get(0);
            URI second = cluster.serverUris().get(1);
            reconnectTo.set(second);
            List<Conn> subs = load.connectAll(
                    client,
                    List.of(first),
                    clients,
                    0,
                    RunContext.CONNECT_CONCURRENCY,
                    i -> new Client(i, i % channels),
                    120);
            FanOut.awaitCount(subscribeAcks, clients, "subscribe acks", load);
            List<Conn> pubs = load.connectAll(
                    client, List.of(second), channels, 0, RunContext.CONNECT_CONCURRENCY, i -> null, 60);
            List<ScheduledFuture<?>> tasks = new ArrayList<>();
            AtomicLong published = new AtomicLong();
            long period = Math.max(1, 1_000_000 / ratePerChannel);
            for (int p = 0; p < pubs.size(); p++) {
                Conn pub = pubs.get(p);
                int channel = p;
                tasks.add(pub.channel()
                        .eventLoop()
                        .scheduleAtFixedRate(
                                () -> {
                                    pub.send("{\"type\":\"publish\",\"id\":" + published.incrementAndGet()
                                            + ",\"channel\":\"public:storm-" + channel + "\",\"data\":{\"t\":"
                                            + System.nanoTime()
                                            + ",\"p\":\"storm\"}}");
                                },
                                0,
                                period,
                                TimeUnit.MICROSECONDS));
            }
            RunContext.pause(before);
            load.expectCloses = true;
            droppedAt.set(System.nanoTime());
            subs.forEach(Conn::cut);
            long deadline = droppedAt.get() + TimeUnit.SECONDS.toNanos(120);
            while (recoveredCount.get() + gaveUp.get() < clients && System.nanoTime() - deadline < 0) {
                RunContext.pause(Duration.ofMillis(20));
            }
            long allRecoveredAt = System.nanoTime();
            boolean complete = recoveredCount.get() == clients;
            RunContext.pause(Duration.ofSeconds(1));
            tasks.forEach(t -> t.cancel(false));
            // The publishers stopped: wait for their last acks, then for every subscriber to reach its channel's end.
            long sent = published.get();
            FanOut.awaitCount(publishAcks, sent, "publish answers", load);
            Map<Integer, Long> ends = channelEnds(ctx, cluster, channels);
            List<Client> all = subs.stream().map(c -> (Client) c.attachment).toList();
            // Subscribers may lag behind (a loaded machine): wait while they make progress, so that what is
            // counted as lost is what stopped coming, not what is still on its way.
            long quietSince = System.nanoTime();
            long lastTotal = -1;
            while (!all.stream().allMatch(c -> c.lastOffset >= ends.getOrDefault(c.channel, 0L))
                    && System.nanoTime() - quietSince < CATCH_UP_QUIET.toNanos()) {
                long total = all.stream().mapToLong(c -> c.received).sum();
                if (total != lastTotal) {
                    lastTotal = total;
                    quietSince = System.nanoTime();
                }
                RunContext.pause(Duration.ofMillis(50));
            }
            r.put("allCaughtUpAfterMs", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - allRecoveredAt));
            long lost = 0;
            long duplicates = 0;
            List<String> lossSamples = new ArrayList<>();
            Histogram toOpen = new Histogram(3);
            Histogram toWelcome = new Histogram(3);
            Histogram toRecovered = new Histogram(3);
            for (Client c : all) {
                if ((c.gaps > 0 || c.lastOffset < ends.getOrDefault(c.channel, 0L)) && lossSamples.size() < 5) {
                    lossSamples.add("client " + c.index + " of channel " + c.channel + ": " + c.gaps
                            + " skipped, last offset " + c.lastOffset + " of " + ends.get(c.channel) + ", resumed "
                            + c.resumed + ", recovered " + c.recovered);
                }
                if (c.recoveredAt != 0) {
                    toOpen.recordValue(Math.max(0, (c.openedAt - droppedAt.get()) / 1000));
                    toWelcome.recordValue(Math.max(0, (c.welcomedAt - c.openedAt) / 1000));
                    toRecovered.recordValue(Math.max(0, (c.recoveredAt - c.welcomedAt) / 1000));
                }
                lost += c.gaps + Math.max(0, ends.getOrDefault(c.channel, 0L) - c.lastOffset);
                duplicates += c.duplicates;
            }
            r.put(
                    "allResumedAfterMs",
                    complete ? TimeUnit.NANOSECONDS.toMillis(allRecoveredAt - droppedAt.get()) : null);
            r.put("dropToRecoveredMs", Results.percentiles(recoverMicros.getIntervalHistogram()));
            r.put("resumed", recoveredCount.get() - notResumed.get());
            r.put("notResumed", notResumed.get());
            r.put("firstNotResumedWelcome", firstNotResumed.get());
            // Where the time went, client by client: the backoff drawn, then socket to welcome, then the recovery.
            r.put("dropToReconnectMs", Results.percentiles(toOpen));
            r.put("reconnectToWelcomeMs", Results.percentiles(toWelcome));
            r.put("welcomeToRecoveredMs", Results.percentiles(toRecovered));
            r.put("channelsNotRecovered", notRecovered.get());
            r.put("subscribesRetriedAfterUnavailable", subscribeRetries.sum());
            r.put("gaveUp", gaveUp.get());
            r.put("attempts", all.stream().mapToInt(c -> c.attempts.get()).sum());
            r.put("published", sent);
            r.put("publishesRefusedUnavailable", publishRefused.sum());
            r.put("lost", lost);
            r.put("lossSamples", lossSamples);
            r.put("duplicates", duplicates);
            r.put("requestErrors", load.errors.get());
            r.put("firstRequestError", load.firstError.get());
            r.put("deadProcess", cluster.deadProcess());
            ctx.say(String.format(
                    "  %d of %d resumed on the other gateway %s ms after the drop (p50 %s ms);"
                            + " %d messages published, lost %d, duplicates %d",
                    recoveredCount.get() - notResumed.get(),
                    clients,
                    r.get("allResumedAfterMs"),
                    ((Map<?, ?>) r.get("dropToRecoveredMs")).get("p50"),
                    sent,
                    lost,
                    duplicates));
            pubs.forEach(Conn::closeGracefully);
            all.forEach(c -> {
                Conn now = c.current;
                if (now != null) {
                    now.closeGracefully();
                }
            });
        }
        return r;
    }

    private static String resubscribe(Client cl) {
        return "{\"type\":\"subscribe\",\"id\":2,\"channel\":\"public:storm-" + cl.channel + "\",\"since\":{\"offset\":"
                + cl.lastOffset + ",\"epoch\":\"" + cl.epoch + "\"}}";
    }

    /** Attempt {@code attempt} (from 1) waits a random delay in [0, min(max, base * 2^(attempt-1))], then connects. */
    private static void reconnect(WireClient client, URI server, Client cl, int attempt) {
        long bound = Math.min(MAX_DELAY_MS, BASE_DELAY_MS << Math.min(20, attempt - 1));
        long delay = ThreadLocalRandom.current().nextLong(bound + 1);
        client.schedule(
                () -> {
                    cl.openedAt = System.nanoTime();
                    cl.current = client.open(cl.index, server, cl);
                },
                delay);
    }

    /** The latest offset of every storm channel, read with a subscribe from a fresh connection. */
    private static Map<Integer, Long> channelEnds(RunContext ctx, LocalCluster cluster, int channels)
            throws BenchmarkException {
        Map<Integer, Long> ends = new ConcurrentHashMap<>();
        LongAdder acks = new LongAdder();
        Load load = new Load() {
            @Override
            public void replied(Conn c, long id, boolean error, String text) {
                super.replied(c, id, error, text);
                if (!error) {
                    ends.put((int) id - 1, parse(text).path("offset").asLong());
                    acks.increment();
                }
            }
        };
        try (WireClient client = new WireClient(Dialect.SWITCHBOARD, 1, ctx.nextSourceBlock(), load)) {
            Conn c = load.connectAll(client, cluster.serverUris(), 1, 0, 1, null, 30)
                    .get(0);
            for (int i = 0; i < channels; i++) {
                c.send("{\"type\":\"subscribe\",\"id\":" + (i + 1) + ",\"channel\":\"public:storm-" + i + "\"}");
            }
            FanOut.awaitCount(acks, channels, "subscribe acks", load);
            load.expectCloses = true;
            c.closeGracefully();
        }
        return ends;
    }

    static JsonNode parse(String text) {
        try {
            return JSON.readTree(text);
        } catch (IOException e) {
            return JSON.createObjectNode();
        }
    }
}
