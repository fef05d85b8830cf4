package io.switchboard.gateway.transport;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** Refusals are logged once a minute per kind, with the count of those left out (STYLE: one line per episode). */
class EpisodeLogUnitTests {
    private long now = 1_000_000_000L;

    @Test
    @DisplayName("a flood of one kind makes one line a minute, with the count since the last; kinds are apart")
    void oneLineAMinutePerKind() {
        Logger logger = (Logger) LoggerFactory.getLogger("test.EpisodeLog");
        ListAppender<ILoggingEvent> logs = new ListAppender<>();
        logs.start();
        logger.addAppender(logs);
        try {
            EpisodeLog episodes = new EpisodeLog(logger, () -> now);

            for (int i = 0; i < 3_000; i++) { // 90 s
                episodes.info("a", "kind a");
                episodes.warn("b", "kind b");
                now += TimeUnit.MILLISECONDS.toNanos(30);
            }
            now += TimeUnit.MINUTES.toNanos(1);
            episodes.info("a", "kind a");

            List<String> lines =
                    logs.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
            assertThat(lines)
                    .containsExactly(
                            "kind a (at most one such line a minute)",
                            "kind b (at most one such line a minute)",
                            "kind a (and 1999 more like it since the last such line)",
                            "kind b (and 1999 more like it since the last such line)",
                            "kind a (and 999 more like it since the last such line)");
        } finally {
            logger.detachAppender(logs);
        }
    }
}
