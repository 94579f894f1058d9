/**
 * Wire codecs shared by the packet path and the offloads, with no I/O and no allocation per packet:
 * {@link io.overlay.udp.wire.Ipv4Header} (flyweight and the one IPv4 validation),
 * {@link io.overlay.udp.wire.TcpHeader} (flyweight), {@link io.overlay.udp.wire.InetChecksum} (RFC 1071/1624) and
 * {@link io.overlay.udp.wire.IcmpError} (RFC 792; quoting up to 576 bytes, RFC 1812 §4.3.2.3). A leaf package: it
 * imports nothing else of overlay-udp.
 *
 * <p>Internal to the engine: public so that {@code io.overlay.udp.offload} and the benchmarks can use them; not a
 * supported API and may change without notice.
 */
package io.overlay.udp.wire;
