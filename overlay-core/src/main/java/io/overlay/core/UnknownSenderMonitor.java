package io.overlay.core;

import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.PacketEngine;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * Warns when datagrams from unknown senders were dropped: with {@link Overlay.Builder#acceptOnlyKnownPeers} on, a
 * peer behind NAT (whose datagrams come from another address than its lease's PublicIP) is otherwise silently
 * unreachable. Run by a control-plane timer on the event thread, never on the packet path: one warning per interval
 * in which the {@link DropReason#UNKNOWN_SENDER} count grew.
 */
final class UnknownSenderMonitor implements Runnable {
    private final PacketEngine engine;
    private final Duration interval;
    private final Consumer<String> warning;
    /** The count at the last check (event thread only). */
    private long seen;

    /**
     * Creates the monitor.
     *
     * @param engine the engine whose drop counter is read
     * @param interval how often {@link #run()} is called, for the message
     * @param warning receives the warning text
     */
    UnknownSenderMonitor(final PacketEngine engine, final Duration interval, final Consumer<String> warning) {
        this.engine = engine;
        this.interval = interval;
        this.warning = warning;
    }

    /** Checks the counter once; warns if it grew since the last check. */
    @Override
    public void run() {
        final long now = engine.counters().drops(DropReason.UNKNOWN_SENDER);
        final long dropped = now - seen;
        seen = now;
        if (dropped > 0) {
            warning.accept(dropped + " datagrams from unknown senders dropped in the last " + format(interval)
                + "; if peers send from an address other than their PublicIP (NAT), set acceptOnlyKnownPeers(false) / "
                + "--accept-any-sender");
        }
    }

    /** Formats the interval: whole seconds as {@code "30 s"}, anything else in milliseconds. */
    private static String format(final Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }
}
