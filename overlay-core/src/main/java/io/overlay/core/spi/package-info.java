/**
 * The service provider interfaces the facade composes, each implemented by one module and found through
 * {@link java.util.ServiceLoader} or given to {@link io.overlay.core.Overlay.Builder}:
 * {@link io.overlay.core.spi.TunDeviceFactory} and {@link io.overlay.core.spi.BridgeConfigurator} ({@code overlay-tun}),
 * {@link io.overlay.core.spi.PacketEngineFactory} ({@code overlay-udp}) and {@link io.overlay.core.spi.SubnetAllocator}
 * ({@code overlay-etcd}), with the values that cross these boundaries (settings and
 * {@link io.overlay.core.spi.EngineTuning}, {@link io.overlay.core.spi.Counter}s, drop reasons,
 * {@link io.overlay.core.spi.EngineOffloads}).
 */
package io.overlay.core.spi;
