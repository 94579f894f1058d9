package io.overlay.etcd;

/**
 * The pause before re-reading after a watch found etcd's store behind the revision the caller had seen
 * ({@link SubnetRegistry.WatchSink#onStoreBehind}): none the first time (a wiped or restored store is followed at
 * once), then {@link EtcdSettings#backoffMin()} doubling to {@link EtcdSettings#backoffMax()} while detections keep
 * coming (a member that lags the one the read came from answers behind again and again; re-reading at once each time
 * would be a loop of reads and watches). An episode ends when the watch delivers ({@link #reset}) or after a quiet
 * spell of twice the cap with no detection, counted from when the last re-read was due (on a quiet cluster the watch
 * may deliver nothing for a long time, and a slow listing must not end an episode).
 * Control thread only.
 */
final class BehindBackoff {
    private final EtcdSettings settings;
    private long next;
    /** When the last detection's re-read was due: the quiet spell counts from there, not from the detection. */
    private long due;

    BehindBackoff(final EtcdSettings settings) {
        this.settings = settings;
    }

    /**
     * Records a detection and returns the pause before acting on it.
     *
     * @return nanoseconds to wait, 0 for at once
     */
    long onBehind() {
        final long now = settings.ticker().getAsLong();
        if (next != 0 && now - due > 2 * settings.backoffMax().toNanos()) {
            next = 0;
        }
        final long delay = next;
        due = now + delay;
        next = delay == 0 ? settings.backoffMin().toNanos() : Math.min(delay * 2, settings.backoffMax().toNanos());
        return delay;
    }

    /** The watch delivered: the next detection is acted on at once. */
    void reset() {
        next = 0;
    }
}
