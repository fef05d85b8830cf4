package io.switchboard.gateway.events;

import io.github.resilience4j.core.IntervalFunction;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.switchboard.gateway.health.spi.DependencyCheck;
import io.switchboard.gateway.health.spi.DependencyHealth;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.netty.ByteBufMono;
import reactor.netty.http.client.HttpClient;
import reactor.netty.resources.ConnectionProvider;

/**
 * POSTs batches of events to {@code SWITCHBOARD_WEBHOOK_URL}, signed ({@link WebhookSignature}), until the backend
 * answers 2xx: a batch that fails is sent again after a backoff of 1 s doubling to 5 min, and nothing after it in
 * its order goes out before. The HTTP client is reactor-netty's, pooled; nothing here blocks a thread.
 *
 * <p>It is also the {@code webhooks} entry of {@code /health}: {@code DOWN} while deliveries fail (never a reason
 * to stop being ready), with the backlog's size and the age of its oldest event; and it counts and logs what the
 * event logs drop. Each change of state is one log line.
 */
public final class WebhookDelivery implements DependencyCheck, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(WebhookDelivery.class);

    public static final Duration DEFAULT_FIRST_BACKOFF = Duration.ofSeconds(1);
    public static final Duration DEFAULT_MAX_BACKOFF = Duration.ofMinutes(5);
    /** Events per POST at most. */
    public static final int BATCH = 100;
    /** How long the backend may take to answer a POST before it counts as failed. */
    public static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);
    /** Drops stop being an episode (one line when they begin, one when they end) after this long without one. */
    public static final Duration DROPS_QUIET = Duration.ofSeconds(5);
    /** How often the backlog's figures are read for {@code /health} and the metrics. */
    public static final Duration FIGURES_PERIOD = Duration.ofSeconds(1);

    private final URI url;
    private final String where;
    private final WebhookSignature signature;
    private final int backlogBound;
    private final Duration firstBackoff;
    private final Duration maxBackoff;
    private final Scheduler scheduler;
    private final Clock clock;
    private final ConnectionProvider pool;
    private final HttpClient http;
    private final Counter sent;
    private final Counter failed;
    private final Counter dropped;
    private final Timer latency;
    private final AtomicLong acknowledgements = new AtomicLong();
    private volatile Supplier<Mono<EventLog.Backlog>> backlog = () -> Mono.just(EventLog.Backlog.EMPTY);
    private volatile EventLog.Backlog figures = EventLog.Backlog.EMPTY;
    private final Disposable figuresTask;

    // guarded by this
    private boolean failing;
    private String cause;
    private long failingSinceMillis;
    private boolean dropping;
    private long dropsInEpisode;
    private long lastDropMillis;

    public WebhookDelivery(
            URI url,
            String secret,
            int backlogBound,
            Duration firstBackoff,
            Duration maxBackoff,
            MeterRegistry registry,
            Scheduler scheduler,
            Clock clock,
            EventLoopGroup loops) {
        this.url = url;
        this.where = url.getScheme() + "://" + url.getHost() + (url.getPort() < 0 ? "" : ":" + url.getPort())
                + url.getRawPath();
        this.signature = new WebhookSignature(secret);
        this.backlogBound = backlogBound;
        this.firstBackoff = firstBackoff;
        this.maxBackoff = maxBackoff;
        this.scheduler = scheduler;
        this.clock = clock;
        this.pool = ConnectionProvider.builder("switchboard-webhooks")
                .maxConnections(32)
                .pendingAcquireMaxCount(256)
                // under the 5 s keep-alive of common HTTP servers (Node.js): a POST rarely meets a connection the
                // backend is closing, which would count as a failed batch and grow the backoff
                .maxIdleTime(Duration.ofSeconds(4))
                .evictInBackground(Duration.ofSeconds(4))
                .build();
        HttpClient client = HttpClient.create(pool);
        // on the gateway's own I/O loops (its chosen transport), not reactor-netty's global ones (io_uring when
        // the native library is there, which the gateway does not use by default)
        this.http = (loops == null ? client : client.runOn(loops))
                .responseTimeout(REQUEST_TIMEOUT)
                .option(io.netty.channel.ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) REQUEST_TIMEOUT.toMillis())
                .headers(h -> h.set("Content-Type", "application/json").set("User-Agent", "Switchboard-Webhooks/1"));
        sent = Counter.builder("switchboard.webhook.events.sent")
                .description("Events the backend acknowledged (a 2xx to their batch)")
                .register(registry);
        failed = Counter.builder("switchboard.webhook.batches.failed")
                .description("POSTs of a batch of events that failed (no answer, or not 2xx): sent again later")
                .register(registry);
        dropped = Counter.builder("switchboard.webhook.events.dropped")
                .description("Events dropped undelivered, the oldest first, to keep the backlog within"
                        + " SWITCHBOARD_WEBHOOK_BACKLOG")
                .register(registry);
        latency = Timer.builder("switchboard.webhook.delivery.latency")
                .description("From an event's time to the backend's acknowledgement of its batch")
                .publishPercentiles(0.5, 0.99)
                .register(registry);
        Gauge.builder("switchboard.webhook.backlog", this, d -> d.figures.size())
                .description("Events waiting to be acknowledged by the backend (cluster mode: over all instances)")
                .register(registry);
        figuresTask = Flux.interval(Duration.ZERO, FIGURES_PERIOD, scheduler)
                .onBackpressureDrop()
                .concatMap(
                        t -> Mono.defer(() -> backlog.get())
                                .timeout(Duration.ofSeconds(2), scheduler)
                                .doOnNext(b -> figures = b)
                                .onErrorResume(e -> Mono.empty())
                                .then(Mono.fromRunnable(this::dropsQuiet)),
                        1)
                .subscribe();
    }

    /** Where the event log's backlog is read from for {@code /health} and the gauge. */
    void backlogFrom(Supplier<Mono<EventLog.Backlog>> backlog) {
        this.backlog = backlog;
    }

    /** The backlog's figures as last read. */
    public EventLog.Backlog figures() {
        return figures;
    }

    /** How many events a log keeps at most ({@code SWITCHBOARD_WEBHOOK_BACKLOG}). */
    public int backlogBound() {
        return backlogBound;
    }

    /**
     * Sends {@code batch} until the backend acknowledges it: emits true then, or false once {@code keepTrying}
     * says no more (this instance no longer delivers these events, or is closing).
     */
    public Mono<Boolean> deliver(List<WebhookEvent> batch, BooleanSupplier keepTrying) {
        byte[] body = body(batch);
        return attempt(batch, body, 0, keepTrying);
    }

    /**
     * Sends {@code batch} once: emits whether the backend acknowledged it (a failure is counted, logged when it is
     * a change, and to be followed by a wait of {@link #backoff(int)}).
     */
    public Mono<Boolean> sendOnce(List<WebhookEvent> batch) {
        return post(body(batch))
                .map(status -> {
                    if (status >= 200 && status < 300) {
                        acknowledged(batch);
                        return true;
                    }
                    failed.increment();
                    failedBecause("it answered " + status);
                    return false;
                })
                .onErrorResume(e -> {
                    failed.increment();
                    failedBecause(describe(e));
                    return Mono.just(false);
                });
    }

    /** The wait after the {@code failures}-th failure in a row (0 for the first): 1 s doubling to 5 min. */
    public Duration backoff(int failures) {
        return backoff(firstBackoff, maxBackoff, failures);
    }

    private Mono<Boolean> attempt(List<WebhookEvent> batch, byte[] body, int failures, BooleanSupplier keepTrying) {
        if (!keepTrying.getAsBoolean()) {
            return Mono.just(false);
        }
        return post(body)
                .flatMap(status -> {
                    if (status >= 200 && status < 300) {
                        acknowledged(batch);
                        return Mono.just(true);
                    }
                    return retry(batch, body, failures, keepTrying, "it answered " + status);
                })
                .onErrorResume(e -> retry(batch, body, failures, keepTrying, describe(e)));
    }

    private Mono<Boolean> retry(
            List<WebhookEvent> batch, byte[] body, int failures, BooleanSupplier keepTrying, String why) {
        failed.increment();
        failedBecause(why);
        return Mono.delay(backoff(firstBackoff, maxBackoff, failures), scheduler)
                .then(Mono.defer(() -> attempt(batch, body, failures + 1, keepTrying)));
    }

    /** The wait after the {@code failures}-th failure in a row: the first backoff doubled each time, capped. */
    static Duration backoff(Duration first, Duration max, int failures) {
        return Duration.ofMillis(IntervalFunction.ofExponentialBackoff(first.toMillis(), 2.0, max.toMillis())
                .apply(failures + 1));
    }

    private Mono<Integer> post(byte[] body) {
        String sig = signature.sign(clock.millis() / 1000, body);
        return http.headers(h -> h.set(WebhookSignature.HEADER, sig))
                .post()
                .uri(url)
                .send(ByteBufMono.just(Unpooled.wrappedBuffer(body)))
                .responseSingle(
                        (res, content) -> content.then(Mono.just(res.status().code())));
    }

    /** The exact bytes of a POST: {@code {"events":[...]}}. */
    static byte[] body(List<WebhookEvent> batch) {
        StringBuilder b = new StringBuilder(64 + batch.size() * 160).append("{\"events\":[");
        for (int i = 0; i < batch.size(); i++) {
            if (i > 0) {
                b.append(',');
            }
            b.append(batch.get(i).json());
        }
        return b.append("]}").toString().getBytes(StandardCharsets.UTF_8);
    }

    private void acknowledged(List<WebhookEvent> batch) {
        acknowledgements.incrementAndGet();
        long now = clock.millis();
        sent.increment(batch.size());
        for (WebhookEvent e : batch) {
            latency.record(Math.max(0, now - e.atMillis()), TimeUnit.MILLISECONDS);
        }
        synchronized (this) {
            if (failing) {
                failing = false;
                cause = null;
                log.info(
                        "Webhook deliveries to {} work again, after failing for {} ms",
                        where,
                        now - failingSinceMillis);
            }
        }
    }

    private synchronized void failedBecause(String why) {
        if (!failing) {
            failing = true;
            failingSinceMillis = clock.millis();
            log.warn(
                    "Webhook deliveries to {} fail ({}): events are kept and sent again with a backoff of {} s"
                            + " doubling to {} s",
                    where,
                    why,
                    firstBackoff.toSeconds(),
                    maxBackoff.toSeconds());
        }
        cause = why;
    }

    private static String describe(Throwable e) {
        String m = e.getMessage();
        String name = e.getClass().getSimpleName();
        if (e instanceof java.util.concurrent.TimeoutException
                || e.getClass().getName().contains("Timeout")) {
            return "no answer within " + REQUEST_TIMEOUT.toMillis() + " ms";
        }
        return m == null ? name : name + ": " + m;
    }

    /** An event log dropped {@code n} events, the oldest, to stay within the bound. */
    public void dropped(long n) {
        if (n <= 0) {
            return;
        }
        dropped.increment(n);
        synchronized (this) {
            lastDropMillis = clock.millis();
            dropsInEpisode += n;
            if (!dropping) {
                dropping = true;
                log.warn(
                        "Webhook backlog full (SWITCHBOARD_WEBHOOK_BACKLOG={}): the oldest events are dropped"
                                + " undelivered until the backend catches up",
                        backlogBound);
            }
        }
    }

    /** Ends a drop episode after a quiet while: one line saying how many were dropped. */
    private synchronized void dropsQuiet() {
        if (dropping && clock.millis() - lastDropMillis >= DROPS_QUIET.toMillis()) {
            dropping = false;
            log.info("Webhook backlog no longer full: {} events were dropped undelivered", dropsInEpisode);
            dropsInEpisode = 0;
        }
    }

    /** How many batches the backend acknowledged so far: a change says it answers. */
    public long acknowledgements() {
        return acknowledgements.get();
    }

    /** Whether the last POST failed (and none succeeded since). */
    public synchronized boolean failing() {
        return failing;
    }

    @Override
    public String name() {
        return "webhooks";
    }

    @Override
    public boolean requiredForReadiness() {
        return false;
    }

    @Override
    public Mono<DependencyHealth> check() {
        EventLog.Backlog b = figures;
        Map<String, Long> f = new LinkedHashMap<>();
        f.put("backlog", b.size());
        f.put(
                "oldestAgeMs",
                b.size() == 0 || b.oldestAtMillis() == 0 ? 0 : Math.max(0, clock.millis() - b.oldestAtMillis()));
        synchronized (this) {
            return Mono.just(new DependencyHealth(
                    !failing, -1, failing ? "deliveries to " + where + " fail: " + cause : null, false, f));
        }
    }

    @Override
    public void close() {
        figuresTask.dispose();
        pool.disposeLater().subscribe(v -> {}, e -> {});
    }
}
