/**
 * The UDP encapsulation engine, wire-compatible with flannel's udp backend: {@link io.overlay.udp.UdpPacketEngine}
 * (created by {@link io.overlay.udp.UdpPacketEngineFactory}, found through ServiceLoader) carries IPv4 packets between
 * a TUN device and raw-IPv4-in-UDP datagrams on Netty 4.2 epoll loops. Packet logic that needs no kernel is public and
 * unit-tested: {@link io.overlay.udp.Ipv4Header} (flyweight and validation), {@link io.overlay.udp.Checksums}
 * (RFC 1071/1624) and {@link io.overlay.udp.IcmpUnreachable}.
 */
package io.overlay.udp;
