package io.overlay.core;

import java.util.concurrent.atomic.AtomicReference;

/**
 * Whether an {@link Overlay} is ready, and why not: the state {@link Overlay#status()} reports and {@code /readyz}
 * answers from. One atomic reference, so readers take no lock.
 *
 * <p>Transitions: starting ({@code "starting"}, then each start-up step) to ready; ready and not-ready (lease lost,
 * re-configuration failed) back and forth; anything to closed. Closed is terminal: once {@link #close()} ran, no
 * transition changes the state any more, and a failed start keeps its reason ({@code "start failed: ..."}).
 */
final class Readiness {
    /**
     * One state.
     *
     * @param ready whether the overlay forwards for its lease
     * @param reason when not ready, why; empty when ready
     * @param closed whether {@link Overlay#close()} began; terminal
     */
    record State(boolean ready, String reason, boolean closed) {
    }

    private static final String START_FAILED = "start failed: ";

    private final AtomicReference<State> state = new AtomicReference<>(new State(false, "starting", false));

    /**
     * Returns the current state.
     *
     * @return the state; never {@code null}
     */
    State current() {
        return state.get();
    }

    /**
     * Returns whether the overlay is closed (or closing).
     *
     * @return {@code true} once {@link #close()} ran
     */
    boolean closed() {
        return state.get().closed();
    }

    /**
     * Sets the readiness unless closed.
     *
     * @param ready whether ready
     * @param reason why not ready, or empty
     * @return whether the state changed (so listeners are told once per change)
     */
    boolean transition(final boolean ready, final String reason) {
        final State next = new State(ready, reason, false);
        final State prev = state.getAndUpdate(s -> s.closed() ? s : next);
        // fields, not the record's equals: that is bootstrapped through method handles at its first call, at start
        return !prev.closed() && (prev.ready() != ready || !prev.reason().equals(reason));
    }

    /**
     * Records a start-up step ({@code "not-ready <step>"}) unless closed.
     *
     * @param step what start-up does now, e.g. {@code "acquiring a lease"}
     */
    void progress(final String step) {
        transition(false, step);
    }

    /**
     * Records why start-up failed, unless closed; {@link #close()} keeps this reason.
     *
     * @param message the failure's message
     */
    void startFailed(final String message) {
        transition(false, START_FAILED + message);
    }

    /** Closes: not ready, reason {@code "closed"} (or the start-up failure), and no transition after this. */
    void close() {
        state.updateAndGet(s -> s.closed() ? s
            : new State(false, s.reason().startsWith(START_FAILED) ? s.reason() : "closed", true));
    }
}
