/**
 * The facade: {@link io.overlay.core.Overlay} and its builder compose a subnet allocator, a TUN device and a packet
 * engine into one running overlay host, and report progress through {@link io.overlay.core.OverlayListener} and
 * {@link io.overlay.core.OverlayStatus}. Inside the package, {@code Overlay} keeps composition and lifecycle and hands
 * the other jobs to package-private classes: {@code OverlayConfig} (the settings, fixed at {@code build()}),
 * {@code HostConfigurator} (TUN, {@code subnet.env}, bridge), {@code LeaseFollower} (lease events into routes, engine
 * and host), {@code Readiness}, {@code UnknownSenderMonitor} and {@code EventThread}.
 *
 * <p>The rest of the module is split by concern:
 * <ul>
 *   <li>{@link io.overlay.core.spi}: the small interfaces the other modules implement (TUN device, packet engine,
 *       subnet allocator, bridge, interface addresses) and the values that cross them (settings, counters);</li>
 *   <li>{@link io.overlay.core.flannel}: flannel's formats and rules (network config, lease and its attributes,
 *       lease keys, {@code subnet.env}, MTU and address rules, underlay interface choice);</li>
 *   <li>{@link io.overlay.core.net}: IPv4 value types and the route table the packet path reads.</li>
 * </ul>
 */
package io.overlay.core;
