package io.overlay.examples;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * SIGTERM and SIGINT as a request to stop, so the launcher closes in order and exits 0 ("Exiting cleanly", as
 * flanneld does) instead of the JVM's default 143/130 (which {@code systemd}'s {@code Restart=on-failure} counts as a
 * failure). The first signal counts down {@link #await()} and interrupts the thread given (to end a blocking
 * start-up) unless that thread already runs the shutdown ({@link #stopInterrupting()}); a second one while the
 * shutdown runs halts the JVM at once with 128 + the signal number. Uses {@code sun.misc.Signal} (module
 * {@code jdk.unsupported}), the JDK's only signal API.
 */
final class TerminationSignals implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(TerminationSignals.class);
    private static final String[] NAMES = {"TERM", "INT"};

    private final CountDownLatch requested = new CountDownLatch(1);
    private final Thread toInterrupt;
    private final List<Signal> signals = new ArrayList<>();
    private final List<SignalHandler> previous = new ArrayList<>();
    private volatile String received;
    /** Whether a signal interrupts {@link #toInterrupt}; cleared by {@link #stopInterrupting()} (under this). */
    private boolean interrupting = true;

    private TerminationSignals(final Thread toInterrupt) {
        this.toInterrupt = toInterrupt;
    }

    /**
     * Installs the handlers for SIGTERM and SIGINT.
     *
     * @param toInterrupt the thread to interrupt on the first signal (the one starting the overlay)
     * @return the installed handlers; {@link #close()} restores the previous ones
     */
    static TerminationSignals install(final Thread toInterrupt) {
        final TerminationSignals s = new TerminationSignals(toInterrupt);
        for (String name : NAMES) {
            final Signal signal = new Signal(name);
            s.previous.add(Signal.handle(signal, s::handle));
            s.signals.add(signal);
        }
        return s;
    }

    private void handle(final Signal signal) {
        if (received != null) {
            LOG.warn("SIG{} again during the shutdown: exiting at once", signal.getName());
            Runtime.getRuntime().halt(128 + signal.getNumber());
        }
        received = "SIG" + signal.getName();
        requested.countDown();
        synchronized (this) {
            if (interrupting) {
                toInterrupt.interrupt();
            }
        }
    }

    /**
     * Returns whether a signal asked to stop.
     *
     * @return {@code true} once SIGTERM or SIGINT arrived
     */
    boolean requested() {
        return received != null;
    }

    /**
     * Returns the name of the signal that asked to stop.
     *
     * @return e.g. {@code SIGTERM}, or {@code null} if none arrived
     */
    String received() {
        return received;
    }

    /**
     * Waits until SIGTERM or SIGINT arrives.
     *
     * @throws InterruptedException if interrupted (the first signal itself interrupts the thread given to
     *     {@link #install}; then {@link #requested()} is {@code true})
     */
    void await() throws InterruptedException {
        requested.await();
    }

    /**
     * From now on a signal no longer interrupts the thread given to {@link #install} (it is still recorded, and a
     * second one still halts): that thread has left its wait and runs the shutdown, which an interrupt would cut short.
     * A signal handled before this returns has delivered its interrupt, which the caller clears afterwards.
     */
    void stopInterrupting() {
        synchronized (this) {
            interrupting = false;
        }
    }

    /** Restores the handlers that were installed before. */
    @Override
    public void close() {
        for (int i = 0; i < signals.size(); i++) {
            Signal.handle(signals.get(i), previous.get(i));
        }
    }
}
