/**
 * What the overlay facade and its pluggable parts agree on: the packet engine's {@link io.overlay.core.spi.Counter}s,
 * its {@link io.overlay.core.spi.EngineTuning} and the {@link io.overlay.core.spi.EngineOffloads} it reports.
 */
package io.overlay.core.spi;
