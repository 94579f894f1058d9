/**
 * Micrometer meters over a running overlay's counters ({@link io.overlay.metrics.OverlayMetrics}), for hosts that
 * already use Micrometer. The rest of overlay does not depend on Micrometer.
 */
package io.overlay.metrics;
