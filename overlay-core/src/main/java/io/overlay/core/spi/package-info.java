/**
 * The service provider interfaces the facade composes, each implemented by one module and found through
 * {@link java.util.ServiceLoader} or given to {@link io.overlay.core.Overlay.Builder}:
 * {@link io.overlay.core.spi.TunDeviceFactory} and {@link io.overlay.core.spi.BridgeConfigurator} ({@code overlay-tun}),
 * {@link io.overlay.core.spi.PacketEngineFactory} ({@code overlay-udp}) and {@link io.overlay.core.spi.SubnetAllocator}
 * ({@code overlay-etcd}), with the values that cross these boundaries (settings, counters, drop reasons).
 */
package io.overlay.core.spi;
