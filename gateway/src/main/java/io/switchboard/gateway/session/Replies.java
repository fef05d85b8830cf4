package io.switchboard.gateway.session;

import io.switchboard.gateway.health.spi.DependencyUnavailableException;
import io.switchboard.gateway.hooks.HookRefusal;
import io.switchboard.gateway.metrics.GatewayMetrics;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.LongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * How a session answers a request: acks and errors, and the one way an asynchronous result comes back to the
 * connection's loop. A dependency that is out ({@link DependencyUnavailableException}: Redis, MongoDB) answers
 * {@code unavailable} with {@code retryAfter}; any other failure is a bug, answered {@code internal} and logged
 * at WARN with its cause.
 */
final class Replies {
    private static final Logger log = LoggerFactory.getLogger(Replies.class);
    /** Suggested wait before retrying a request whose feature or dependency is not available. */
    static final long UNAVAILABLE_RETRY_MS = 1_000;

    private final Session session;
    private final Outbound out;
    private final GatewayMetrics metrics;
    private final Scheduler scheduler;
    private final long rate;
    private final long burst;

    Replies(Session session, Outbound out, GatewayMetrics metrics, Scheduler scheduler, long rate, long burst) {
        this.session = session;
        this.out = out;
        this.metrics = metrics;
        this.scheduler = scheduler;
        this.rate = rate;
        this.burst = burst;
    }

    /**
     * Brings {@code result} back to the connection's loop and hands its value to {@code onValue}; a failure runs
     * {@code onFailure} (may be null) and is answered as {@link #failed} says.
     */
    <T> Mono<Void> reply(Long requestId, String what, Mono<T> result, Consumer<T> onValue, Runnable onFailure) {
        return result.publishOn(scheduler)
                .doOnNext(onValue)
                .onErrorResume(e -> {
                    if (onFailure != null) {
                        onFailure.run();
                    }
                    failed(requestId, what, e);
                    return Mono.empty();
                })
                .then();
    }

    <T> Mono<Void> reply(Long requestId, String what, Mono<T> result, Consumer<T> onValue) {
        return reply(requestId, what, result, onValue, null);
    }

    /**
     * Brings {@code result} back to the connection's loop and goes on with {@code next}, which answers the request
     * itself; a failure of {@code result} is answered as {@link #failed} says and {@code next} is not run.
     */
    <T> Mono<Void> then(Long requestId, String what, Mono<T> result, Function<T, Mono<Void>> next) {
        return result.publishOn(scheduler)
                .onErrorResume(e -> {
                    failed(requestId, what, e);
                    return Mono.empty();
                })
                .flatMap(next);
    }

    /** Answers with the refusal of the application's backend. */
    void refused(Long requestId, HookRefusal refusal) {
        error(requestId, refusal.code(), refusal.message(), refusal.retryAfter());
    }

    /** Answers {@code unavailable} for a dependency outage, {@code internal} for anything else. */
    void failed(Long requestId, String what, Throwable cause) {
        if (cause instanceof DependencyUnavailableException) {
            log.debug(
                    "Connection {} of user {}: {} failed: {}", session.id(), session.userId(), what, cause.toString());
            error(
                    requestId,
                    ErrorCodes.UNAVAILABLE,
                    what + " is unavailable right now, try again",
                    UNAVAILABLE_RETRY_MS);
        } else {
            log.warn("Connection {} of user {}: {} failed", session.id(), session.userId(), what, cause);
            error(requestId, ErrorCodes.INTERNAL, "the gateway failed to handle " + what);
        }
    }

    void ack(Long requestId) {
        if (requestId != null) {
            out.write(ServerFrame.Ack.of(requestId));
        }
    }

    /** Writes the ack {@code ack} makes when the request has an id (one without is answered only on error). */
    void ack(Long requestId, LongFunction<ServerFrame.Ack> ack) {
        if (requestId != null) {
            out.write(ack.apply(requestId));
        }
    }

    /** Writes the reply {@code reply} makes when the request has an id; for replies that are not plain acks. */
    void answer(Long requestId, LongFunction<ServerFrame> reply) {
        if (requestId != null) {
            out.write(reply.apply(requestId));
        }
    }

    /** The request came over the rate limit: {@code rate_limited}, to retry after {@code retryAfter} ms. */
    void rateLimited(Long requestId, long retryAfter) {
        error(
                requestId,
                ErrorCodes.RATE_LIMITED,
                "more than " + rate + " frames per second (burst " + burst + ")",
                retryAfter);
    }

    void error(Long requestId, String code, String message) {
        error(requestId, code, message, null);
    }

    void error(Long requestId, String code, String message, Long retryAfter) {
        metrics.error(code);
        out.write(new ServerFrame.Error(requestId, code, message, retryAfter));
    }
}
