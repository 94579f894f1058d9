package io.overlay.examples;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.PatternLayout;
import ch.qos.logback.classic.jul.JULHelper;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.Layout;
import ch.qos.logback.core.encoder.LayoutWrappingEncoder;
import ch.qos.logback.core.spi.ContextAwareBase;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.LoggerFactory;
import org.slf4j.bridge.SLF4JBridgeHandler;

/**
 * The launcher's logging, on logback (the libraries log only through the SLF4J API). Found by logback through
 * {@code META-INF/services/ch.qos.logback.classic.spi.Configurator}, so every main in this jar starts with the default:
 * one line per event on stderr, {@code 2026-11-29T22:01:15.123Z INFO Overlay - Acquired lease 100.64.3.0/24}, level
 * INFO, Netty at WARN. {@link #apply} changes the level and the format
 * ({@code --log-level}, {@code --log-format}); {@code json} writes one JSON object per line ({@link JsonLineLayout}).
 * What the JDK (its HTTP client, under the etcd client) and other libraries log through {@code java.util.logging}
 * comes the same way: SLF4J's own
 * {@code jul-to-slf4j} bridge ({@code SLF4JBridgeHandler}) is that framework's only handler, and its loggers get the
 * levels set here, so records below them are never built.
 */
public final class LogSetup extends ContextAwareBase implements Configurator {
    /** The text format: ISO-8601 time in the JVM's zone, level, the logger's simple name, message. */
    static final String TEXT_PATTERN = "%d{yyyy-MM-dd'T'HH:mm:ss.SSSX} %level %logger{0} - %msg%n";
    /** Loggers of client libraries kept at WARN (or the chosen level when that is coarser). */
    private static final List<String> QUIET = List.of("io.netty");
    private static final String APPENDER = "stderr";

    /** Log line formats of {@code --log-format}. */
    public enum Format {
        /** One human-readable line per event (the default). */
        TEXT,
        /** One JSON object per line: time, level, logger, thread, message, and exception when there is one. */
        JSON
    }

    /** Called by logback (service loader); use {@link #apply} instead. */
    public LogSetup() {
    }

    @Override
    public ExecutionStatus configure(final LoggerContext context) {
        install(context, Level.INFO, Format.TEXT);
        return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
    }

    /**
     * Reconfigures logging for this process.
     *
     * @param level a level name, {@code trace}, {@code debug}, {@code info}, {@code warn} or {@code error}
     *     (any case)
     * @param format the line format
     * @throws IllegalArgumentException if {@code level} is not one of those names
     * @throws IllegalStateException if SLF4J is not bound to logback (another backend on the class path)
     */
    public static void apply(final String level, final Format format) {
        final Level parsed = parse(level);
        if (!(LoggerFactory.getILoggerFactory() instanceof LoggerContext context)) {
            throw new IllegalStateException("SLF4J is bound to " + LoggerFactory.getILoggerFactory().getClass()
                .getName() + ", not logback; --log-level and --log-format need logback-classic");
        }
        install(context, parsed, format);
    }

    /**
     * Reconfigures logging from the option values.
     *
     * @param level {@code --log-level}, e.g. {@code info}
     * @param format {@code --log-format}, {@code text} or {@code json} (any case)
     * @throws IllegalArgumentException if a value is not accepted (see {@link #problems})
     */
    public static void apply(final String level, final String format) {
        apply(level, Format.valueOf(format.strip().toUpperCase(Locale.ROOT)));
    }

    /**
     * Checks the option values.
     *
     * @param level {@code --log-level}
     * @param format {@code --log-format}
     * @return the problems, each a sentence naming the option; empty when both are valid
     */
    public static List<String> problems(final String level, final String format) {
        final List<String> p = new java.util.ArrayList<>();
        try {
            parse(level);
        } catch (IllegalArgumentException e) {
            p.add(e.getMessage());
        }
        if (format == null || !List.of("text", "json").contains(format.strip().toLowerCase(Locale.ROOT))) {
            p.add("--log-format must be text or json, got " + format);
        }
        return p;
    }

    /**
     * Parses a {@code --log-level} value.
     *
     * @param level the name, any case
     * @return the level
     * @throws IllegalArgumentException naming the accepted values
     */
    static Level parse(final String level) {
        final String l = level == null ? "" : level.strip().toUpperCase(Locale.ROOT);
        return switch (l) {
            case "TRACE", "DEBUG", "INFO", "WARN", "ERROR" -> Level.toLevel(l);
            default -> throw new IllegalArgumentException("--log-level must be trace, debug, info, warn or error, got "
                + level);
        };
    }

    private static void install(final LoggerContext context, final Level level, final Format format) {
        final Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        root.detachAndStopAllAppenders();
        final Layout<ILoggingEvent> layout;
        if (format == Format.JSON) {
            layout = new JsonLineLayout();
        } else {
            final PatternLayout pattern = new PatternLayout();
            pattern.setPattern(TEXT_PATTERN);
            layout = pattern;
        }
        layout.setContext(context);
        layout.start();
        final LayoutWrappingEncoder<ILoggingEvent> encoder = new LayoutWrappingEncoder<>();
        encoder.setContext(context);
        encoder.setLayout(layout);
        encoder.start();
        final ConsoleAppender<ILoggingEvent> appender = new ConsoleAppender<>();
        appender.setContext(context);
        appender.setName(APPENDER);
        appender.setTarget("System.err");
        appender.setEncoder(encoder);
        appender.start();
        root.addAppender(appender);
        root.setLevel(level);
        final Level quiet = level.isGreaterOrEqual(Level.WARN) ? level : Level.WARN;
        for (String name : QUIET) {
            context.getLogger(name).setLevel(quiet);
        }
        bridgeJavaUtilLogging(level, quiet);
    }

    /** The {@code java.util.logging} loggers given a level here: held, as its LogManager holds loggers weakly. */
    private static final List<java.util.logging.Logger> JUL_LEVELS = new CopyOnWriteArrayList<>();

    /**
     * Hands {@code java.util.logging}'s records to SLF4J (the JDK's console handler removed: it would write two lines
     * of plain text per record, past {@code --log-format} and {@code --log-level}), with the levels of the root and the
     * client libraries' loggers as set here ({@code JULHelper}'s mapping), so that records below them are not built.
     */
    private static void bridgeJavaUtilLogging(final Level level, final Level quiet) {
        if (!SLF4JBridgeHandler.isInstalled()) {
            SLF4JBridgeHandler.removeHandlersForRootLogger();
            SLF4JBridgeHandler.install();
        }
        julLevel("", level);
        for (String name : QUIET) {
            julLevel(name, quiet);
        }
    }

    private static void julLevel(final String name, final Level level) {
        final java.util.logging.Logger jul = java.util.logging.Logger.getLogger(name);
        jul.setLevel(JULHelper.asJULLevel(level));
        if (!JUL_LEVELS.contains(jul)) {
            JUL_LEVELS.add(jul);
        }
    }
}
