/**
 * overlay's model and contracts: IPv4 prefixes ({@link io.overlay.core.Ipv4Prefix}), flannel's network config,
 * leases and {@code subnet.env}, the route table the packet path reads ({@link io.overlay.core.RouteTable}), and the
 * small interfaces the other modules implement: {@link io.overlay.core.TunDevice} ({@code overlay-tun}),
 * {@link io.overlay.core.PacketEngine} ({@code overlay-udp}) and the subnet allocator ({@code overlay-etcd}).
 */
package io.overlay.core;
