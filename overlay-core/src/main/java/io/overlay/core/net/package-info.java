/**
 * IPv4 value types ({@link io.overlay.core.net.Ipv4}, {@link io.overlay.core.net.Ipv4Prefix},
 * {@link io.overlay.core.net.Peer}) and {@link io.overlay.core.net.RouteTable}, the lock-free table the packet path
 * reads.
 */
package io.overlay.core.net;
