package io.switchboard.gateway.support;

import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.ConnectionEvent;
import io.switchboard.protocol.client.ReconnectPolicy;
import io.switchboard.protocol.client.ReconnectingClient;
import io.switchboard.protocol.client.SwitchboardClientOptions;
import io.switchboard.testing.Await;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Predicate;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/** A {@link ReconnectingClient} with everything it reported kept in order, to be waited for and checked. */
public final class ClientRecorder implements AutoCloseable {
    private final ReconnectingClient client;
    private final List<ConnectionEvent> events = new CopyOnWriteArrayList<>();
    private final List<Long> eventNanos = new CopyOnWriteArrayList<>();
    private final List<ServerFrame> frames = new CopyOnWriteArrayList<>();

    private ClientRecorder(ReconnectingClient client) {
        this.client = client;
        client.events().subscribe(e -> {
            eventNanos.add(System.nanoTime());
            events.add(e);
        });
        client.frames().subscribe(frames::add);
    }

    /** A recorded client of {@code uri} (not connected yet). */
    public static ClientRecorder of(URI uri, ReconnectPolicy policy) {
        return of(SwitchboardClientOptions.of(uri), policy);
    }

    public static ClientRecorder of(SwitchboardClientOptions options, ReconnectPolicy policy) {
        return new ClientRecorder(ReconnectingClient.create(options, policy));
    }

    /**
     * {@code n} recorded clients of {@code uri}, connected a few at a time, each handed to {@code then} (for
     * instance to subscribe) once connected.
     */
    public static List<ClientRecorder> connectMany(
            URI uri, ReconnectPolicy policy, int n, Consumer<ClientRecorder> then) {
        return Flux.range(0, n)
                .flatMap(
                        i -> Mono.fromCallable(() -> {
                                    ClientRecorder r = of(uri, policy);
                                    r.connect();
                                    then.accept(r);
                                    return r;
                                })
                                .subscribeOn(Schedulers.boundedElastic()),
                        32)
                .collectList()
                .block(Duration.ofSeconds(90));
    }

    /** Closes every client of {@code clients} (those that gave up already are closed). */
    public static void closeAll(List<ClientRecorder> clients) {
        Flux.fromIterable(clients)
                .flatMap(c -> c.client().close(1000, "bye").onErrorResume(e -> Mono.empty()), 256)
                .blockLast(Duration.ofSeconds(30));
    }

    public ReconnectingClient client() {
        return client;
    }

    /** Connects and waits for the first welcome. */
    public ServerFrame.Welcome connect() {
        return client.connect().block(TestGateway.TIMEOUT);
    }

    public List<ConnectionEvent> events() {
        return List.copyOf(events);
    }

    /** The events of {@code type}, in order. */
    public <T extends ConnectionEvent> List<T> events(Class<T> type) {
        return events.stream().filter(type::isInstance).map(type::cast).toList();
    }

    /** {@link System#nanoTime()} at which each event was reported, by index in {@link #events()}. */
    public List<Long> eventNanos() {
        return List.copyOf(eventNanos);
    }

    /** Waits for the {@code n}th (1-based) event of {@code type} and returns it. */
    public <T extends ConnectionEvent> T await(Class<T> type, int n) {
        return await(type, n, TestGateway.TIMEOUT);
    }

    public <T extends ConnectionEvent> T await(Class<T> type, int n, Duration timeout) {
        Await.until(
                n + " " + type.getSimpleName() + " event(s); so far " + events,
                timeout,
                () -> events(type).size() >= n);
        return events(type).get(n - 1);
    }

    /** Every frame the application received, in order. */
    public List<ServerFrame> frames() {
        return List.copyOf(frames);
    }

    public <T extends ServerFrame> List<T> frames(Class<T> type) {
        return frames.stream().filter(type::isInstance).map(type::cast).toList();
    }

    /** Waits until {@code n} frames of {@code type} matching {@code which} arrived. */
    public <T extends ServerFrame> List<T> awaitFrames(Class<T> type, Predicate<T> which, int n, Duration timeout) {
        Await.until(
                n + " " + type.getSimpleName() + " frames",
                timeout,
                () -> frames(type).stream().filter(which).count() >= n);
        return frames(type).stream().filter(which).toList();
    }

    @Override
    public void close() {
        client.close();
    }
}
