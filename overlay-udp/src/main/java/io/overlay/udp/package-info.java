/**
 * The UDP encapsulation engine, wire-compatible with flannel's udp backend: {@link io.overlay.udp.UdpPacketEngine}
 * (created by {@link io.overlay.udp.UdpPacketEngineFactory}, found through ServiceLoader) carries IPv4 packets between
 * a TUN device and raw-IPv4-in-UDP datagrams on Netty 4.2 epoll loops. These two classes are the module's API.
 *
 * <p>Inside, one {@code ForwardingLoop} per event loop reads like flannel's proxy loop: a {@code TunPort}
 * ({@code PlainTunPort}, or {@code VnetTunPort} which hides the {@code virtio_net_hdr}, software segmentation and TCP
 * coalescing) hands it plain IPv4 packets in batches, {@link io.overlay.udp.PacketProcessor} decides each one, a
 * {@code UdpPort} sends and receives them in batches ({@code sendmmsg}/{@code recvmmsg} with UDP GSO and GRO), and an
 * {@code IcmpResponder} answers packets without a route. Netty serves only as the epoll loop for the two raw fds;
 * the TUN is read with Netty's JNI {@code FileDescriptor}, the socket with JNA (see {@code LinuxUdp} for why).
 *
 * <p>{@link io.overlay.udp.PacketProcessor}, the codecs of {@code io.overlay.udp.wire} and the offload blocks of
 * {@code io.overlay.udp.offload} are public only for the benchmarks; they are internal, not a supported API.
 */
package io.overlay.udp;
