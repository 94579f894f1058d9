package io.overlay.examples;

import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.SimpleFormatter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hands the records of {@code java.util.logging} to SLF4J, so that they take the launcher's level and format like
 * every other event: gRPC (under jetcd), Guava and the JDK's own classes log there, not through SLF4J, and its default
 * console handler would write two lines of text per record on stderr, breaking {@code --log-format=json}'s one JSON
 * object per line. Installed by {@link LogSetup} as the only handler of the {@code java.util.logging} root logger,
 * whose level follows the launcher's, so that records below it are never built. Levels map SEVERE to ERROR, WARNING
 * to WARN, INFO to INFO, CONFIG and FINE to DEBUG, FINER and FINEST to TRACE, so that {@code --log-level=debug} (JUL
 * level FINE) lets through exactly what maps to DEBUG; this differs from SLF4J's {@code jul-to-slf4j}
 * ({@code SLF4JBridgeHandler}: CONFIG to INFO, FINER to DEBUG, only FINEST to TRACE). The message is formatted as
 * {@code java.util.logging} does ({@code {0}} parameters, resource bundles); the logger name is the record's.
 */
final class JulBridge extends Handler {
    /** The SLF4J logger of a record without a logger name. */
    static final String ANONYMOUS = "java.util.logging.anonymous";
    private static final SimpleFormatter MESSAGE = new SimpleFormatter();

    private JulBridge() {
    }

    /**
     * Makes this bridge the only handler of the {@code java.util.logging} root logger (removing the JDK's console
     * handler) and sets that logger's level to match {@code level}. Idempotent.
     *
     * @param level the launcher's level
     */
    static void install(final ch.qos.logback.classic.Level level) {
        final java.util.logging.Logger root = LogManager.getLogManager().getLogger("");
        boolean installed = false;
        for (Handler h : root.getHandlers()) {
            if (h instanceof JulBridge) {
                installed = true;
            } else {
                root.removeHandler(h);
            }
        }
        if (!installed) {
            root.addHandler(new JulBridge());
        }
        root.setLevel(julLevel(level));
    }

    /** The {@code java.util.logging} level that lets through what {@code level} lets through. */
    static Level julLevel(final ch.qos.logback.classic.Level level) {
        return switch (level.toInt()) {
            case ch.qos.logback.classic.Level.ERROR_INT -> Level.SEVERE;
            case ch.qos.logback.classic.Level.WARN_INT -> Level.WARNING;
            case ch.qos.logback.classic.Level.INFO_INT -> Level.INFO;
            case ch.qos.logback.classic.Level.DEBUG_INT -> Level.FINE;
            default -> Level.ALL;
        };
    }

    @Override
    public void publish(final LogRecord record) {
        if (record == null) {
            return;
        }
        final String name = record.getLoggerName();
        final Logger log = LoggerFactory.getLogger(name == null || name.isEmpty() ? ANONYMOUS : name);
        final int v = record.getLevel().intValue();
        final Throwable thrown = record.getThrown();
        if (v >= Level.SEVERE.intValue()) {
            if (log.isErrorEnabled()) {
                log.error(MESSAGE.formatMessage(record), thrown);
            }
        } else if (v >= Level.WARNING.intValue()) {
            if (log.isWarnEnabled()) {
                log.warn(MESSAGE.formatMessage(record), thrown);
            }
        } else if (v >= Level.INFO.intValue()) {
            if (log.isInfoEnabled()) {
                log.info(MESSAGE.formatMessage(record), thrown);
            }
        } else if (v >= Level.FINE.intValue()) {
            if (log.isDebugEnabled()) {
                log.debug(MESSAGE.formatMessage(record), thrown);
            }
        } else if (log.isTraceEnabled()) {
            log.trace(MESSAGE.formatMessage(record), thrown);
        }
    }

    @Override
    public void flush() {
        // nothing buffered: each record is handed on at once
    }

    @Override
    public void close() {
        // nothing held
    }
}
