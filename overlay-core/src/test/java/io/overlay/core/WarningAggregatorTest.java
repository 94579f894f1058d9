package io.overlay.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * {@link WarningAggregator} through the real SLF4J and logback, on a hand-moved ticker (overlay-testing's LogCapture
 * depends on this module, so a logback appender is attached here directly).
 */
class WarningAggregatorTest {
    private static final long MINUTE = Duration.ofMinutes(1).toNanos();
    private final AtomicLong now = new AtomicLong(1_000);
    private final WarningAggregator agg = new WarningAggregator(
        LoggerFactory.getLogger("io.overlay.test.aggregator"), "warnings about keys", 3, Duration.ofMinutes(1),
        now::get);

    /** Captures the WARN lines of the test logger. */
    private static final class LogCapture implements AutoCloseable {
        private final Logger logger = (Logger) LoggerFactory.getLogger("io.overlay.test.aggregator");
        private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

        LogCapture(final String ignored) {
            appender.start();
            logger.addAppender(appender);
        }

        List<String> warnings() {
            synchronized (appender) {
                return appender.list.stream().filter(e -> e.getLevel() == Level.WARN)
                    .map(ILoggingEvent::getFormattedMessage).toList();
            }
        }

        @Override
        public void close() {
            logger.detachAppender(appender);
        }
    }

    @Test
    void logsTheFirstExamplesThenOneSummaryPerInterval() {
        try (LogCapture log = new LogCapture("io.overlay.test.aggregator")) {
            for (int i = 0; i < 10_000; i++) {
                agg.warn("bad key " + i);
            }
            assertThat(log.warnings()).containsExactly("bad key 0", "bad key 1", "bad key 2");
            agg.flush();
            assertThat(log.warnings()).hasSize(3);
            now.addAndGet(MINUTE);
            agg.flush();
            assertThat(log.warnings()).hasSize(4).last().isEqualTo("9997 more warnings about keys in the last 60 s "
                + "not logged one by one (the first 3 were); the last: bad key 9999");
            agg.flush();
            assertThat(log.warnings()).hasSize(4);
            assertThat(agg.suppressed()).isEqualTo(9997);

            // a new interval starts with the next warning; one without left-out warnings ends silently
            agg.warn("bad key A");
            now.addAndGet(MINUTE);
            agg.warn("bad key B");
            assertThat(log.warnings()).hasSize(6).endsWith("bad key A", "bad key B");
        }
    }

    @Test
    void aWarningAfterTheIntervalEndsItWithoutAFlush() {
        try (LogCapture log = new LogCapture("io.overlay.test.aggregator")) {
            for (int i = 0; i < 5; i++) {
                agg.warn("k" + i);
            }
            now.addAndGet(MINUTE + 1);
            agg.warn("k5");
            assertThat(log.warnings()).containsExactly("k0", "k1", "k2", "2 more warnings about keys in the last 60 s "
                + "not logged one by one (the first 3 were); the last: k4", "k5");
        }
    }

    @Test
    void rejectsNonsense() {
        assertThatThrownBy(() -> new WarningAggregator(LoggerFactory.getLogger("x"), "w", 0, Duration.ofSeconds(1),
            System::nanoTime)).hasMessageContaining("examples");
        assertThatThrownBy(() -> new WarningAggregator(LoggerFactory.getLogger("x"), "w", 1, Duration.ZERO,
            System::nanoTime)).hasMessageContaining("interval");
    }
}
