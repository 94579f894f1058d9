/**
 * Offload building blocks for TUN devices opened with {@code IFF_VNET_HDR}: pure logic over direct buffers,
 * allocation-free per packet, checked byte for byte against the Linux kernel.
 *
 * <ul>
 *   <li>{@link io.overlay.udp.offload.VirtioNetHdr}: the 10-byte {@code virtio_net_hdr} flyweight and its
 *       validation;</li>
 *   <li>{@link io.overlay.udp.offload.GsoSegmenter} (TUN → wire): a GSO super-packet cut into MTU-sized IPv4
 *       packets exactly as the kernel cuts it, into a {@link io.overlay.udp.offload.SegmentBatch};</li>
 *   <li>{@link io.overlay.udp.offload.TcpCoalescer} (wire → TUN): in-order TCP segments merged into a GSO
 *       super-packet, handed to a {@link io.overlay.udp.offload.TunFrameSink} with the number of packets it
 *       carries;</li>
 *   <li>{@link io.overlay.udp.offload.OffloadVerdict}: why a frame was refused, for the engine to count.</li>
 * </ul>
 *
 * <p>The wire format never changes: every UDP datagram still carries one inner IPv4 packet of at most the TUN MTU, as
 * flannel's udp backend does, so hosts with and without offloads interoperate.
 *
 * <p>The engine uses them behind its TUN port for such devices (one set of objects per loop thread, all allocated at
 * start): a frame read from the TUN is {@code segment}ed, or its partial checksum completed
 * ({@code GsoSegmenter.completeChecksum}); each resulting packet goes through the same checks as on a plain TUN and is
 * sent from where it lies (one {@code sendmmsg} entry per packet, runs of equal size as one UDP GSO message). Packets
 * received for the TUN go to {@code TcpCoalescer.add}, and {@code flush} ends the runs after every receive batch.
 *
 * <p>Internal to the engine: public for the benchmarks and tests, not a supported API.
 */
package io.overlay.udp.offload;
