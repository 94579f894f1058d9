package io.overlay.etcd;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import java.util.stream.Collectors;
import org.slf4j.LoggerFactory;

/** Captures what {@link EtcdSubnetAllocator} logs (through the real slf4j + logback), for assertions on messages. */
final class LogCapture implements AutoCloseable {
    private final Logger logger = (Logger) LoggerFactory.getLogger(EtcdSubnetAllocator.class);
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

    LogCapture() {
        appender.start();
        logger.addAppender(appender);
    }

    /** Returns the formatted messages at WARN or above. */
    List<String> warnings() {
        return appender.list.stream().filter(e -> e.getLevel().isGreaterOrEqual(ch.qos.logback.classic.Level.WARN))
            .map(ILoggingEvent::getFormattedMessage).collect(Collectors.toList());
    }

    /** Returns the messages at ERROR, each followed by " | " and its exception's class and message when it has one. */
    List<String> errors() {
        return appender.list.stream().filter(e -> e.getLevel().isGreaterOrEqual(ch.qos.logback.classic.Level.ERROR))
            .map(e -> e.getFormattedMessage() + (e.getThrowableProxy() == null ? ""
                : " | " + e.getThrowableProxy().getClassName() + ": " + e.getThrowableProxy().getMessage()))
            .collect(Collectors.toList());
    }

    /** Returns how many messages at any level contain {@code text}. */
    long count(final String text) {
        return appender.list.stream().filter(e -> e.getFormattedMessage().contains(text)).count();
    }

    /** Returns every formatted message at INFO or above. */
    List<String> messages() {
        return appender.list.stream().filter(e -> e.getLevel().isGreaterOrEqual(ch.qos.logback.classic.Level.INFO))
            .map(ILoggingEvent::getFormattedMessage).collect(Collectors.toList());
    }

    @Override
    public void close() {
        logger.detachAppender(appender);
        appender.stop();
    }
}
