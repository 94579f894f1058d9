package io.overlay.testing;

import java.time.Duration;

/**
 * Polls a condition until it holds or a deadline passes, for tests that wait on another process or the kernel (a
 * firewall rule restored, a packet captured). An exception from the condition counts as "not yet"; the last one is
 * the cause of the timeout's error.
 */
public final class Await {
    /** How long to sleep between two checks. */
    private static final long POLL_MILLIS = 100;

    private Await() {
    }

    /** A condition that may throw. */
    @FunctionalInterface
    public interface Check {
        /**
         * Tests the condition.
         *
         * @return whether it holds
         * @throws Exception if it cannot be tested yet
         */
        boolean test() throws Exception;
    }

    /**
     * Waits until {@code check} holds.
     *
     * @param what what is awaited, for the error message
     * @param timeout the longest wait
     * @param check the condition
     * @throws AssertionError naming {@code what} and the timeout if it never held (cause: the last exception)
     * @throws InterruptedException if interrupted
     */
    public static void awaitTrue(final String what, final Duration timeout, final Check check)
        throws InterruptedException {
        final long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try {
                if (check.test()) {
                    return;
                }
            } catch (Exception e) {
                last = e;
            }
            Thread.sleep(POLL_MILLIS);
        }
        throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what, last);
    }
}
