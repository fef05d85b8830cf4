package io.switchboard.gateway.health.spi;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.test.scheduler.VirtualTimeScheduler;

/** The shared dependency probe, on virtual time: what it keeps, what it counts, and what it logs once. */
class DependencyProbeUnitTests {
    private static final Duration PERIOD = Duration.ofSeconds(1);
    private static final Duration TIMEOUT = Duration.ofMillis(300);

    private final VirtualTimeScheduler time = VirtualTimeScheduler.create();
    private final Logger logger = (Logger) LoggerFactory.getLogger(DependencyProbeUnitTests.class.getName() + ".dep");
    private final ListAppender<ILoggingEvent> logs = new ListAppender<>();
    /** What the next checks answer: a health, or an error, or never. */
    private final AtomicReference<Mono<DependencyHealth>> answer = new AtomicReference<>(up());

    private final AtomicInteger ups = new AtomicInteger();
    private DependencyProbe probe;

    private static final DependencyProbe.Lines LINES = new DependencyProbe.Lines() {
        @Override
        public String up(DependencyHealth now, boolean first, Duration downFor) {
            return first && downFor == null
                    ? "dep at h:1 is up (" + now.latencyMs() + " ms)"
                    : "dep at h:1 is back after " + (downFor == null ? 0 : downFor.toMillis()) + " ms down";
        }

        @Override
        public String down(String cause) {
            return "dep at h:1 is down: " + cause;
        }

        @Override
        public String partial(DependencyHealth now) {
            return "dep at h:1 answers in part: " + now.detail();
        }
    };

    private static Mono<DependencyHealth> up() {
        return Mono.just(new DependencyHealth(true, 3, null));
    }

    private DependencyProbe probe(DependencyProbe.Builder b) {
        logs.start();
        logger.addAppender(logs);
        probe = b.check(() -> answer.get())
                .cause(e -> e instanceof TimeoutException
                        ? "no answer within " + TIMEOUT.toMillis() + " ms"
                        : e.getClass().getSimpleName() + ": " + e.getMessage())
                .scheduler(time)
                .period(PERIOD)
                .timeout(TIMEOUT)
                .onUp(ups::incrementAndGet)
                .build();
        probe.start();
        return probe;
    }

    private DependencyProbe probe() {
        return probe(DependencyProbe.builder(logger, LINES));
    }

    @AfterEach
    void detach() {
        if (probe != null) {
            probe.dispose();
        }
        logger.detachAppender(logs);
        time.dispose();
    }

    private List<String> lines() {
        return logs.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    }

    @Test
    void beforeTheFirstCheckItIsDownWithTheInitialCauseButNotFoundDown() {
        probe(DependencyProbe.builder(logger, LINES).initialCause("connecting").firstAfter(PERIOD));

        assertThat(probe.health()).isEqualTo(new DependencyHealth(false, -1, "connecting"));
        assertThat(probe.foundDown()).isFalse();
        assertThat(probe.probes()).isZero();
        assertThat(lines()).isEmpty();
    }

    @Test
    void aChangeOfStateIsLoggedOnceNotOncePerCheck() {
        probe();
        time.advanceTimeBy(PERIOD.multipliedBy(3));
        assertThat(lines()).containsExactly("dep at h:1 is up (3 ms)");
        assertThat(probe.health().status()).isEqualTo(DependencyHealth.UP);

        answer.set(Mono.error(new IllegalStateException("connection refused by h:1")));
        time.advanceTimeBy(PERIOD.multipliedBy(5));

        assertThat(lines())
                .containsExactly(
                        "dep at h:1 is up (3 ms)",
                        "dep at h:1 is down: IllegalStateException: connection refused by h:1");
        assertThat(probe.health())
                .isEqualTo(new DependencyHealth(false, -1, "IllegalStateException: connection refused by h:1"));
        assertThat(probe.foundDown()).isTrue();
        assertThat(probe.probes()).isEqualTo(9);
        assertThat(logs.list).allSatisfy(e -> assertThat(e.getThrowableProxy()).isNull());
        assertThat(logs.list.get(1).getLevel()).isEqualTo(Level.WARN);
    }

    @Test
    void aCheckThatHangsTimesOutAndCountsAsDown() {
        probe();
        time.advanceTime();
        answer.set(Mono.never());

        time.advanceTimeBy(PERIOD);
        assertThat(probe.probes()).as("the hanging check has not finished yet").isEqualTo(1);
        time.advanceTimeBy(TIMEOUT);

        assertThat(probe.probes()).isEqualTo(2);
        assertThat(probe.health()).isEqualTo(new DependencyHealth(false, -1, "no answer within 300 ms"));
        assertThat(lines()).last().isEqualTo("dep at h:1 is down: no answer within 300 ms");

        time.advanceTimeBy(PERIOD.multipliedBy(4));
        assertThat(probe.probes()).as("one check at a time, each bounded").isBetween(5L, 6L);
        assertThat(lines()).hasSize(2);
    }

    @Test
    void recoveryIsLoggedOnceWithHowLongItWasDown() {
        probe();
        time.advanceTime();
        answer.set(Mono.error(new IllegalStateException("refused")));
        time.advanceTimeBy(PERIOD.multipliedBy(3));
        answer.set(up());
        time.advanceTimeBy(PERIOD.multipliedBy(3));

        assertThat(lines())
                .containsExactly(
                        "dep at h:1 is up (3 ms)",
                        "dep at h:1 is down: IllegalStateException: refused",
                        "dep at h:1 is back after 3000 ms down");
        assertThat(ups).as("the onUp hook, at first and after the down").hasValue(2);
        assertThat(probe.foundDown()).isFalse();
    }

    @Test
    void eachNewCauseIsLoggedWhenAskedAndAVagueOneWaitsForABetterOne() {
        probe(DependencyProbe.builder(logger, LINES)
                .logEachCause()
                .vagueCauses(why -> why.endsWith(", reconnecting"), Duration.ofSeconds(2)));
        time.advanceTime();
        probe.report(new DependencyHealth(false, -1, "the connection to h:1 was lost, reconnecting"));
        answer.set(Mono.just(new DependencyHealth(false, -1, "the connection to h:1 was lost, reconnecting")));
        time.advanceTimeBy(PERIOD);
        assertThat(lines()).as("a vague cause waits").containsExactly("dep at h:1 is up (3 ms)");

        answer.set(Mono.just(new DependencyHealth(false, -1, "connection refused by h:1")));
        time.advanceTimeBy(PERIOD);
        answer.set(Mono.just(new DependencyHealth(false, -1, "authentication failed")));
        time.advanceTimeBy(PERIOD.multipliedBy(3));

        assertThat(lines())
                .containsExactly(
                        "dep at h:1 is up (3 ms)",
                        "dep at h:1 is down: connection refused by h:1",
                        "dep at h:1 is down: authentication failed");
    }

    @Test
    void aVagueCauseIsLoggedOnceItHasWaited() {
        probe(DependencyProbe.builder(logger, LINES)
                .logEachCause()
                .vagueCauses(why -> why.endsWith(", reconnecting"), Duration.ofSeconds(2)));
        time.advanceTime();
        answer.set(Mono.just(new DependencyHealth(false, -1, "the connection to h:1 was lost, reconnecting")));
        time.advanceTimeBy(PERIOD.multipliedBy(5));

        assertThat(lines())
                .containsExactly(
                        "dep at h:1 is up (3 ms)", "dep at h:1 is down: the connection to h:1 was lost, reconnecting");
    }

    @Test
    void aPartialStateIsLoggedOncePerDetail() {
        probe();
        time.advanceTime();
        answer.set(Mono.just(new DependencyHealth(true, 2, "master h:2 is down", true)));
        time.advanceTimeBy(PERIOD.multipliedBy(3));

        assertThat(lines())
                .containsExactly("dep at h:1 is up (3 ms)", "dep at h:1 answers in part: master h:2 is down");
        assertThat(probe.health().status()).isEqualTo(DependencyHealth.DEGRADED);
    }

    @Test
    void disposeStopsTheChecksAndLaterReportsAreIgnored() {
        probe();
        time.advanceTimeBy(PERIOD.multipliedBy(2));
        long done = probe.probes();

        probe.dispose();
        answer.set(Mono.error(new IllegalStateException("refused")));
        time.advanceTimeBy(PERIOD.multipliedBy(5));
        probe.report(new DependencyHealth(false, -1, "refused"));

        assertThat(probe.isDisposed()).isTrue();
        assertThat(probe.probes()).isEqualTo(done);
        assertThat(probe.health().up()).isTrue();
        assertThat(lines()).containsExactly("dep at h:1 is up (3 ms)");
    }
}
