package io.switchboard.loadtest.gatling;

import io.gatling.commons.stats.KO$;
import io.gatling.commons.stats.OK$;
import io.gatling.commons.stats.Status;
import io.gatling.commons.util.Clock;
import io.gatling.commons.validation.Success;
import io.gatling.commons.validation.Validation;
import io.gatling.core.CoreComponents;
import io.gatling.core.action.SessionHook;
import io.gatling.core.stats.StatsEngine;
import io.gatling.javaapi.core.ActionBuilder;
import io.gatling.javaapi.core.Session;
import java.util.function.BiFunction;
import scala.Function1;
import scala.Option;

/**
 * Measurements and verdicts that no Gatling request or check can express, written into Gatling's own statistics
 * so that they appear in the console, the HTML report and the assertions like any request: a fan-out message
 * from its publisher's send to one subscriber's receipt, or the verdict that a subscriber saw every offset of
 * its channel. Each record is a request of the given name with a start, an end and OK or KO.
 *
 * <p>Gatling's Java DSL has no door to the statistics engine, so {@link #step} builds a plain
 * {@link SessionHook} through Gatling's Scala API ({@code io.gatling.core}), which hands over the run's
 * {@link StatsEngine} and {@link Clock}. Those are Gatling internals: this class is the one place to look at
 * when a Gatling upgrade breaks the build. One instance belongs to one simulation; it is bound when Gatling
 * builds the first scenario that contains one of its steps, before any virtual user starts.
 */
final class GatlingStats {
    private volatile StatsEngine engine;
    private volatile Clock clock;

    /**
     * An action that applies {@code step} to the virtual user's session, with this object bound to the run's
     * statistics. An exception in the step is recorded as a failed request {@code name} and fails the session.
     */
    ActionBuilder step(String name, BiFunction<GatlingStats, Session, Session> step) {
        io.gatling.core.action.builder.ActionBuilder scala = (ctx, next) -> {
            bind(ctx.coreComponents());
            Function1<io.gatling.core.session.Session, Validation<io.gatling.core.session.Session>> f = s -> {
                Session session = new Session(s);
                try {
                    return new Success<>(step.apply(this, session).asScala());
                } catch (RuntimeException e) {
                    long now = now();
                    ko(session, name, now, now, "crashed: " + e);
                    return new Success<>(session.markAsFailed().asScala());
                }
            };
            return new SessionHook(f, name, ctx.coreComponents().statsEngine(), next);
        };
        return () -> scala;
    }

    private void bind(CoreComponents core) {
        engine = core.statsEngine();
        clock = core.clock();
    }

    /** Gatling's clock, in epoch milliseconds: the one it stamps requests and received WebSocket frames with. */
    long now() {
        Clock c = clock;
        if (c == null) {
            throw new IllegalStateException("GatlingStats is not bound yet: use one of its steps in a scenario");
        }
        return c.nowMillis();
    }

    /** Records a successful request {@code name} from {@code start} to {@code end} (Gatling clock). */
    void ok(Session session, String name, long start, long end) {
        log(session, name, start, end, OK$.MODULE$, null);
    }

    /** Records a failed request {@code name}, with the reason shown in the console and the report. */
    void ko(Session session, String name, long start, long end, String reason) {
        log(session, name, start, end, KO$.MODULE$, reason);
    }

    private void log(Session session, String name, long start, long end, Status status, String reason) {
        StatsEngine e = engine;
        if (e == null) {
            throw new IllegalStateException("GatlingStats is not bound yet: use one of its steps in a scenario");
        }
        e.logResponse(
                session.scenario(),
                session.asScala().groups(),
                name,
                start,
                Math.max(start, end),
                status,
                Option.empty(),
                Option.apply(reason));
    }
}
