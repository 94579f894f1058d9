package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import sun.misc.Signal;

/** {@link TerminationSignals} with a real SIGTERM raised in this JVM (its handler installed, so the JVM stays). */
class TerminationSignalsTest {

    /**
     * Once the launcher's main thread left its wait and runs the shutdown, a first signal (say SIGTERM after a failure
     * already began it) is recorded but must not interrupt that thread: an interrupt would cut short the wait for the
     * event thread or the removal of the host rules.
     */
    @Test
    void aSignalAfterTheWaitIsOverIsRecordedButDoesNotInterruptTheShutdown() throws Exception {
        try (TerminationSignals signals = TerminationSignals.install(Thread.currentThread())) {
            signals.stopInterrupting();
            Signal.raise(new Signal("TERM"));
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!signals.requested() && System.nanoTime() < deadline) {
                Thread.onSpinWait(); // no sleep: an interrupt must be seen, not consumed
            }
            assertThat(signals.requested()).isTrue();
            assertThat(signals.received()).isEqualTo("SIGTERM");
            assertThat(Thread.interrupted()).as("the shutdown's thread interrupted").isFalse();
        } finally {
            Thread.interrupted();
        }
    }

    /** While the thread still waits (start-up, or the run), the first signal interrupts it, as before. */
    @Test
    void aSignalDuringTheWaitInterruptsTheThread() throws Exception {
        try (TerminationSignals signals = TerminationSignals.install(Thread.currentThread())) {
            Signal.raise(new Signal("INT"));
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!Thread.currentThread().isInterrupted() && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertThat(Thread.interrupted()).isTrue();
            assertThat(signals.received()).isEqualTo("SIGINT");
        } finally {
            Thread.interrupted();
        }
    }
}
