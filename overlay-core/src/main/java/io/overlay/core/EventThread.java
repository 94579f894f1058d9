package io.overlay.core;

import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The overlay's one event thread ({@code overlay-events}): allocator events, re-configuration retries, the
 * unknown-sender timer and every listener call run here, one at a time, so they need no locks between them.
 *
 * <p>Once the overlay is {@link Readiness#closed() closed}, queued and scheduled tasks are dropped and the listener
 * is not called again. A task's exception is logged and never ends the thread.
 */
final class EventThread {
    private static final Logger LOG = LoggerFactory.getLogger(Overlay.class);
    /** How long {@link #shutdown()} waits for a running handler. */
    private static final long SHUTDOWN_WAIT_SECONDS = 5;

    private final ScheduledThreadPoolExecutor executor;
    private final Readiness readiness;
    private final OverlayListener listener;
    private volatile Thread thread;

    /**
     * Creates the thread's executor; the thread starts with the first task.
     *
     * @param readiness whose {@link Readiness#closed()} stops every task and listener call
     * @param listener the user's listener
     */
    EventThread(final Readiness readiness, final OverlayListener listener) {
        this.readiness = readiness;
        this.listener = listener;
        this.executor = new ScheduledThreadPoolExecutor(1, r -> {
            final Thread t = new Thread(r, "overlay-events");
            t.setDaemon(true);
            thread = t;
            return t;
        });
        executor.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        executor.setContinueExistingPeriodicTasksAfterShutdownPolicy(false);
        executor.setRemoveOnCancelPolicy(true);
    }

    /**
     * Runs a task on the event thread, after those already queued, unless closed by then.
     *
     * @param task the task
     */
    void post(final Runnable task) {
        try {
            executor.execute(() -> runUnlessClosed(task));
        } catch (RejectedExecutionException closing) {
            // closed: no more events
        }
    }

    /**
     * Runs a task on the event thread after a delay, unless closed by then.
     *
     * @param task the task
     * @param delayMillis the delay in milliseconds
     */
    void later(final Runnable task, final long delayMillis) {
        try {
            executor.schedule(() -> runUnlessClosed(task), delayMillis, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException closing) {
            // closed: nothing more to do
        }
    }

    /**
     * Runs a task on the event thread every {@code period} (first after one period) until closed.
     *
     * @param task the task
     * @param period the delay between the end of one run and the start of the next
     */
    void every(final Runnable task, final Duration period) {
        final long millis = period.toMillis();
        try {
            executor.scheduleWithFixedDelay(() -> runUnlessClosed(task), millis, millis, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException closing) {
            // closed meanwhile: no timer
        }
    }

    /**
     * Event thread: calls the user's listener unless closed; its exceptions are logged, never propagated.
     *
     * @param event the call to make
     */
    void tell(final Consumer<OverlayListener> event) {
        runUnlessClosed(() -> event.accept(listener));
    }

    /**
     * Stops taking tasks and drops the queued ones. Waits up to 5 s for a running task to finish, except when called
     * on the event thread itself (from a listener), which must not wait for itself.
     */
    void shutdown() {
        executor.shutdown();
        if (Thread.currentThread() == thread) {
            return;
        }
        try {
            if (!executor.awaitTermination(SHUTDOWN_WAIT_SECONDS, TimeUnit.SECONDS)) {
                LOG.warn("An overlay event handler is still running after {} s; closing anyway",
                    SHUTDOWN_WAIT_SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void runUnlessClosed(final Runnable task) {
        if (readiness.closed()) {
            return;
        }
        try {
            task.run();
        } catch (RuntimeException e) {
            LOG.warn("Overlay event handler threw; ignored", e);
        }
    }
}
