package io.overlay.examples;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.LayoutBase;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.time.Instant;

/**
 * {@code --log-format=json}: one JSON object per event on one line, e.g.
 * <pre>{@code
 * {"time":"2026-11-29T22:01:15.123Z","level":"INFO","logger":"io.overlay.core.Overlay","thread":"main",
 *  "message":"Acquired lease 100.64.3.0/24 (PublicIP 198.18.0.1)"}
 * }</pre>
 * (shown on two lines here). {@code time} is ISO-8601 in UTC, {@code logger} the full logger name; an event with a
 * throwable adds {@code exception}, its stack trace as one string (newlines escaped, so the object stays on one line).
 */
final class JsonLineLayout extends LayoutBase<ILoggingEvent> {
    private static final JsonFactory JSON = new JsonFactory();

    @Override
    public String doLayout(final ILoggingEvent event) {
        final StringWriter out = new StringWriter(256);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            g.writeStringField("time", Instant.ofEpochMilli(event.getTimeStamp()).toString());
            g.writeStringField("level", event.getLevel().toString());
            g.writeStringField("logger", event.getLoggerName());
            g.writeStringField("thread", event.getThreadName());
            g.writeStringField("message", event.getFormattedMessage());
            final IThrowableProxy thrown = event.getThrowableProxy();
            if (thrown != null) {
                g.writeStringField("exception", ThrowableProxyUtil.asString(thrown));
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not fail
        }
        return out.append('\n').toString();
    }
}
