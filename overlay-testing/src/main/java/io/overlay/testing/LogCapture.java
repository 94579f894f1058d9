package io.overlay.testing;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.slf4j.LoggerFactory;

/**
 * Captures what a logger and the loggers below it log, through the real SLF4J and logback (the tests' logging
 * backend), for assertions on messages and levels: open it around the code under test, close it after. By default it
 * listens at {@code io.overlay}, so it sees every class of the project whichever class a message moves to. Events at
 * DEBUG and above are recorded as far as {@code logback-test.xml} lets them through (it sets {@code io.overlay} to
 * DEBUG).
 *
 * <pre>{@code
 * try (LogCapture log = new LogCapture()) {
 *     allocator.acquire(...);
 *     assertThat(log.warnings()).anyMatch(m -> m.contains("reusing"));
 * }
 * }</pre>
 */
public final class LogCapture implements AutoCloseable {
    private final Logger logger;
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

    /** Captures every logger under {@code io.overlay}. */
    public LogCapture() {
        this("io.overlay");
    }

    /**
     * Captures one logger and those below it.
     *
     * @param loggerName e.g. a package or a class name
     */
    public LogCapture(final String loggerName) {
        logger = (Logger) LoggerFactory.getLogger(loggerName);
        appender.start();
        logger.addAppender(appender);
    }

    /**
     * Returns the formatted messages at WARN or above.
     *
     * @return the messages, oldest first
     */
    public List<String> warnings() {
        return messagesAtLeast(Level.WARN);
    }

    /**
     * Returns the messages at ERROR, each followed by {@code " | "} and its exception's class and message when it has
     * one.
     *
     * @return the messages, oldest first
     */
    public List<String> errors() {
        return events(e -> e.getLevel().isGreaterOrEqual(Level.ERROR)).stream()
            .map(e -> e.getFormattedMessage() + (e.getThrowableProxy() == null ? ""
                : " | " + e.getThrowableProxy().getClassName() + ": " + e.getThrowableProxy().getMessage()))
            .collect(Collectors.toList());
    }

    /**
     * Returns how many messages at any level contain {@code text}.
     *
     * @param text the text to look for
     * @return the count
     */
    public long count(final String text) {
        return events(e -> e.getFormattedMessage().contains(text)).size();
    }

    /**
     * Returns every formatted message at INFO or above.
     *
     * @return the messages, oldest first
     */
    public List<String> messages() {
        return messagesAtLeast(Level.INFO);
    }

    private List<String> messagesAtLeast(final Level level) {
        return events(e -> e.getLevel().isGreaterOrEqual(level)).stream().map(ILoggingEvent::getFormattedMessage)
            .collect(Collectors.toList());
    }

    /** A snapshot: other threads may still be logging. */
    private List<ILoggingEvent> events(final Predicate<ILoggingEvent> filter) {
        synchronized (appender) {
            return appender.list.stream().filter(filter).collect(Collectors.toList());
        }
    }

    /** Stops capturing. */
    @Override
    public void close() {
        logger.detachAppender(appender);
        appender.stop();
    }
}
