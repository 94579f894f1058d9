/**
 * Offload building blocks for TUN devices opened with {@code IFF_VNET_HDR} (issue 8), pure logic over direct
 * buffers, allocation-free per packet and checked byte for byte against the Linux kernel:
 * {@link io.overlay.udp.offload.VirtioNetHdr} (the 10-byte {@code virtio_net_hdr} flyweight and its validation),
 * {@link io.overlay.udp.offload.GsoSegmenter} (TUN → wire: a GSO super-packet cut into MTU-sized IPv4 packets as the
 * kernel would cut it, into a {@link io.overlay.udp.offload.SegmentBatch}) and
 * {@link io.overlay.udp.offload.TcpCoalescer} (wire → TUN: in-order TCP segments merged into a GSO super-packet for a
 * {@link io.overlay.udp.offload.TunFrameSink}). Problems are reported as
 * {@link io.overlay.udp.offload.OffloadVerdict} values for the engine to count. The wire format never changes: every
 * UDP datagram still carries one inner IPv4 packet of at most the TUN MTU, as flannel's udp backend does.
 */
package io.overlay.udp.offload;
