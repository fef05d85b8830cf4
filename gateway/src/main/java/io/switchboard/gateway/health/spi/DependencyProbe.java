package io.switchboard.gateway.health.spi;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.slf4j.Logger;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * Probes one dependency (Redis, MongoDB) periodically and keeps what it found last for {@code /health}. Each check
 * runs on the given scheduler, one at a time, bounded by a timeout: a check that fails or does not answer in time
 * counts as down. Each change of state is one plain line in the owner's log and the owner's words (no stack trace
 * per retry; the owner words the causes, naming hosts, never credentials).
 *
 * <p>The owner may also {@link #report} what it finds outside the checks (a connection made or lost); a check
 * whose result is empty has reported itself. A check that blocks its thread must bound itself: the timeout
 * cannot take the thread back from it.
 */
public final class DependencyProbe implements Disposable {

    /** The lines a change of state logs, in the owner's words; a null line logs nothing. */
    public interface Lines {
        /**
         * It answers: for the first time ({@code first}), or again. {@code downFor} is how long it was down when
         * that was logged, and null when no down was logged before it.
         */
        String up(DependencyHealth now, boolean first, Duration downFor);

        /** It does not answer, for {@code cause}. */
        String down(String cause);

        /** It answers, but only in part ({@code now.detail()} says what does not); null by default. */
        default String partial(DependencyHealth now) {
            return null;
        }
    }

    private final Logger log;
    private final Lines lines;
    private final Supplier<Mono<DependencyHealth>> check;
    private final Function<Throwable, String> cause;
    private final Duration firstAfter;
    private final Duration period;
    private final Duration timeout;
    private final Scheduler scheduler;
    private final boolean eachCause;
    private final Predicate<String> vague;
    private final Duration vagueWait;
    private final Runnable onUp;
    private final Supplier<Mono<Void>> afterEachUp;
    private final AtomicLong probes = new AtomicLong();

    private volatile DependencyHealth health;
    private volatile boolean foundDown;
    private volatile boolean disposed;
    private Disposable loop;
    // the rest is guarded by this
    private boolean up;
    private boolean everUp;
    private long downSinceNanos;
    private boolean downLogged;
    private String loggedCause;
    private String loggedPartial;

    private DependencyProbe(Builder b) {
        this.log = b.log;
        this.lines = b.lines;
        this.check = Objects.requireNonNull(b.check, "check");
        this.cause = Objects.requireNonNull(b.cause, "cause");
        this.firstAfter = b.firstAfter;
        this.period = Objects.requireNonNull(b.period, "period");
        this.timeout = Objects.requireNonNull(b.timeout, "timeout");
        this.scheduler = Objects.requireNonNull(b.scheduler, "scheduler");
        this.eachCause = b.eachCause;
        this.vague = b.vague;
        this.vagueWait = b.vagueWait;
        this.onUp = b.onUp;
        this.afterEachUp = b.afterEachUp;
        this.health = new DependencyHealth(false, -1, b.initialCause);
    }

    /**
     * A probe that logs to {@code log} in the words of {@code lines}; the check, the scheduler, the period, the
     * timeout and the wording of failures are to be set.
     */
    public static Builder builder(Logger log, Lines lines) {
        return new Builder(log, lines);
    }

    /** Starts the periodic checks: the first after {@link Builder#firstAfter}, then one per period. */
    public synchronized void start() {
        if (loop != null || disposed) {
            return;
        }
        loop = Flux.interval(firstAfter, period, scheduler)
                .onBackpressureDrop()
                .concatMap(tick -> probeOnce(), 1)
                .subscribe();
    }

    private Mono<Void> probeOnce() {
        return Mono.defer(check)
                .timeout(timeout, scheduler)
                .onErrorResume(e -> Mono.just(new DependencyHealth(false, -1, cause.apply(e))))
                .flatMap(h -> {
                    report(h);
                    return h.up() ? afterEachUp.get() : Mono.<Void>empty();
                })
                .onErrorResume(e -> {
                    log.debug("The work after a probe failed: {}", e.toString());
                    return Mono.empty();
                })
                .doFinally(s -> probes.incrementAndGet());
    }

    /** What the last check or report found; before any, down with the initial cause. */
    public DependencyHealth health() {
        return health;
    }

    /** Whether the last check or report found it down (false before any: it is worth trying). */
    public boolean foundDown() {
        return foundDown;
    }

    /** How many checks have finished (for tests that wait for the next one). */
    public long probes() {
        return probes.get();
    }

    /**
     * Records what was found, as a check's result is: logs a change of state once, and runs the {@code onUp}
     * hook when it answers again. A down's {@code detail} is its cause. Ignored once disposed.
     */
    public synchronized void report(DependencyHealth now) {
        if (disposed) {
            return;
        }
        boolean wasDown = foundDown;
        health = now;
        foundDown = !now.up();
        long t = scheduler.now(TimeUnit.NANOSECONDS);
        if (now.up()) {
            reportUp(now, t);
        } else {
            reportDown(now.detail(), t, wasDown);
        }
    }

    private void reportUp(DependencyHealth now, long t) {
        if (!up) {
            up = true;
            if (downLogged || !everUp) {
                info(lines.up(now, !everUp, downLogged ? Duration.ofNanos(t - downSinceNanos) : null));
            }
            everUp = true;
            downLogged = false;
            loggedCause = null;
            onUp.run();
        }
        String partial = now.partial() ? now.detail() : null;
        if (partial != null && !partial.equals(loggedPartial)) {
            warn(lines.partial(now));
        }
        loggedPartial = partial;
    }

    /**
     * A vague cause (one that only says the dependency is being reached again) waits up to {@code vagueWait} for
     * a better one before it is logged; before the dependency first answered there is nothing to wait for.
     */
    private void reportDown(String why, long t, boolean wasDown) {
        if (!wasDown) {
            downSinceNanos = t;
        }
        up = false;
        loggedPartial = null;
        boolean waited = !everUp || t - downSinceNanos >= vagueWait.toNanos();
        boolean news = eachCause ? !why.equals(loggedCause) : !downLogged;
        if (news && (!vague.test(why) || waited && !downLogged)) {
            warn(lines.down(why));
            downLogged = true;
            loggedCause = why;
        }
    }

    private void info(String line) {
        if (line != null) {
            log.info(line);
        }
    }

    private void warn(String line) {
        if (line != null) {
            log.warn(line);
        }
    }

    /** Stops the checks; reports after it are ignored. */
    @Override
    public synchronized void dispose() {
        disposed = true;
        if (loop != null) {
            loop.dispose();
        }
    }

    @Override
    public boolean isDisposed() {
        return disposed;
    }

    /** How a probe checks and says what it found. */
    public static final class Builder {
        private final Logger log;
        private final Lines lines;
        private Supplier<Mono<DependencyHealth>> check;
        private Function<Throwable, String> cause;
        private Duration firstAfter = Duration.ZERO;
        private Duration period;
        private Duration timeout;
        private Scheduler scheduler;
        private String initialCause = "not reached yet";
        private boolean eachCause;
        private Predicate<String> vague = why -> false;
        private Duration vagueWait = Duration.ZERO;
        private Runnable onUp = () -> {};
        private Supplier<Mono<Void>> afterEachUp = Mono::empty;

        private Builder(Logger log, Lines lines) {
            this.log = Objects.requireNonNull(log, "log");
            this.lines = Objects.requireNonNull(lines, "lines");
        }

        /** One check: what it finds, or empty when it reported itself; it may fail. */
        public Builder check(Supplier<Mono<DependencyHealth>> check) {
            this.check = check;
            return this;
        }

        /** A failed or timed-out check's cause, in words a person can act on and without secrets. */
        public Builder cause(Function<Throwable, String> cause) {
            this.cause = cause;
            return this;
        }

        /** The scheduler the checks, their timeouts and the clock of the state changes run on. */
        public Builder scheduler(Scheduler scheduler) {
            this.scheduler = scheduler;
            return this;
        }

        /** One check per {@code period}. */
        public Builder period(Duration period) {
            this.period = period;
            return this;
        }

        /** When the first check runs after {@link #start}; at once by default. */
        public Builder firstAfter(Duration firstAfter) {
            this.firstAfter = firstAfter;
            return this;
        }

        /** How long a check may take before it counts as down. */
        public Builder timeout(Duration timeout) {
            this.timeout = timeout;
            return this;
        }

        /** The cause {@code /health} gives before the first check; "not reached yet" by default. */
        public Builder initialCause(String cause) {
            this.initialCause = cause;
            return this;
        }

        /** Logs each new cause while down, rather than only going down. */
        public Builder logEachCause() {
            this.eachCause = true;
            return this;
        }

        /** Causes that only say the dependency is being reached again wait up to {@code wait} for a better one. */
        public Builder vagueCauses(Predicate<String> vague, Duration wait) {
            this.vague = vague;
            this.vagueWait = wait;
            return this;
        }

        /** Runs each time it answers: the first time and after every down (on the reporting thread). */
        public Builder onUp(Runnable onUp) {
            this.onUp = onUp;
            return this;
        }

        /** Work after each check that finds it up, before the next check; it bounds itself and its errors are its own. */
        public Builder afterEachUp(Supplier<Mono<Void>> work) {
            this.afterEachUp = work;
            return this;
        }

        public DependencyProbe build() {
            return new DependencyProbe(this);
        }
    }
}
