package io.overlay.core;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The readiness state machine on its own: transitions, and closed as the terminal state. */
class ReadinessTest {
    private final Readiness readiness = new Readiness();

    @Test
    void startsNotReadyAndReportsOnlyChanges() {
        assertThat(readiness.current()).isEqualTo(new Readiness.State(false, "starting", false));
        readiness.progress("acquiring a lease");
        assertThat(readiness.current().reason()).isEqualTo("acquiring a lease");
        assertThat(readiness.transition(true, "")).isTrue();
        assertThat(readiness.transition(true, "")).as("no change, nothing to tell").isFalse();
        assertThat(readiness.transition(false, "lease lost")).isTrue();
        assertThat(readiness.current()).isEqualTo(new Readiness.State(false, "lease lost", false));
    }

    @Test
    void closedIsTerminal() {
        readiness.transition(true, "");
        readiness.close();
        assertThat(readiness.closed()).isTrue();
        assertThat(readiness.current()).isEqualTo(new Readiness.State(false, "closed", true));
        assertThat(readiness.transition(true, "")).isFalse();
        readiness.startFailed("late");
        readiness.close();
        assertThat(readiness.current()).isEqualTo(new Readiness.State(false, "closed", true));
    }

    @Test
    void aFailedStartKeepsItsReasonWhenClosed() {
        readiness.startFailed("bind refused");
        readiness.close();
        assertThat(readiness.current()).isEqualTo(new Readiness.State(false, "start failed: bind refused", true));
    }
}
