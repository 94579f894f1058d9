package io.overlay.etcd;

import io.overlay.core.spi.LeaseListener;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The allocator's thread (package-private): {@code overlay-etcd-control}, which makes every etcd request after
 * {@code start}, owns the state of {@link LeaseKeeper} and {@link PeerWatch}, and calls the {@link LeaseListener}
 * itself, one call at a time, in order. Calling the listener here rather than on a thread of its own saves every lease
 * event a hand-off; the listener contract (return quickly, never block) keeps renewals on time. The overlay's
 * listener applies peer changes to its route table and hands everything else to its own event thread.
 *
 * <p>Every control task is guarded: an unexpected exception is logged at ERROR with the task's name and its
 * {@code recovery} runs, which reschedules the task's chain (renewal, re-acquisition, watch, listing), so nothing dies
 * silently in a future nobody reads. After {@link #close()} new tasks are dropped.
 */
final class ControlThread {
    private static final Logger LOG = LoggerFactory.getLogger(EtcdSubnetAllocator.class);

    private final ScheduledExecutorService control;
    private volatile boolean closed;
    private volatile LeaseListener listener;

    ControlThread() {
        this.control = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "overlay-etcd-control"));
    }

    private static Thread daemon(final Runnable r, final String name) {
        final Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /** Returns whether {@link #close()} was called. */
    boolean closed() {
        return closed;
    }

    /** Sets the listener {@link #emit} calls (from start(), before any event). */
    void listener(final LeaseListener l) {
        this.listener = l;
    }

    /** Runs a guarded task on the control thread, after the tasks queued before it; dropped when closing. */
    void execute(final String what, final Runnable task, final Runnable recovery) {
        try {
            control.execute(guarded(what, task, recovery));
        } catch (RejectedExecutionException e) {
            // closing
        }
    }

    /**
     * Schedules a guarded task on the control thread.
     *
     * @return its future, or null when closing
     */
    ScheduledFuture<?> later(final String what, final Runnable task, final long delayNanos, final Runnable recovery) {
        try {
            return control.schedule(guarded(what, task, recovery), delayNanos, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            return null;
        }
    }

    /** Runs a guarded task every {@code periodNanos}, the first time after one period. */
    void every(final String what, final Runnable task, final long periodNanos, final Runnable recovery) {
        try {
            control.scheduleWithFixedDelay(guarded(what, task, recovery), periodNanos, periodNanos,
                TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // closing
        }
    }

    private Runnable guarded(final String what, final Runnable task, final Runnable recovery) {
        return () -> {
            try {
                task.run();
            } catch (RuntimeException | LinkageError | AssertionError e) {
                if (closed) {
                    return;
                }
                LOG.error("Unexpected error in the etcd control task '{}'; recovering", what, e);
                try {
                    recovery.run();
                } catch (RuntimeException | LinkageError | AssertionError again) {
                    LOG.error("Recovering from the error in '{}' failed too", what, again);
                }
            }
        };
    }

    /**
     * Calls the listener now, on the calling thread (the control thread); a listener that throws is logged and never
     * stops the caller. Nothing is called once closing.
     */
    void emit(final Consumer<LeaseListener> call) {
        final LeaseListener l = listener;
        if (l == null || closed) {
            return;
        }
        try {
            call.accept(l);
        } catch (RuntimeException | LinkageError | AssertionError e) {
            LOG.error("Lease listener threw", e);
        }
    }

    /** Stops the control thread, waiting up to 10 s for the running task (and a listener call it makes). */
    void stopControl() {
        closed = true;
        control.shutdownNow();
        try {
            if (!control.awaitTermination(10, TimeUnit.SECONDS)) {
                LOG.warn("etcd control thread did not stop within 10 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

}
