/**
 * Offload building blocks for TUN devices opened with {@code IFF_VNET_HDR} (issue 8): pure logic over direct buffers,
 * allocation-free per packet, checked byte for byte against the Linux kernel.
 *
 * <ul>
 *   <li>{@link io.overlay.udp.offload.VirtioNetHdr}: the 10-byte {@code virtio_net_hdr} flyweight and its
 *       validation;</li>
 *   <li>{@link io.overlay.udp.offload.GsoSegmenter} (TUN → wire): a GSO super-packet cut into MTU-sized IPv4
 *       packets exactly as the kernel cuts it, into a {@link io.overlay.udp.offload.SegmentBatch};</li>
 *   <li>{@link io.overlay.udp.offload.TcpCoalescer} (wire → TUN): in-order TCP segments merged into a GSO
 *       super-packet, handed to a {@link io.overlay.udp.offload.TunFrameSink};</li>
 *   <li>{@link io.overlay.udp.offload.OffloadVerdict}: why a frame was refused, for the engine to count.</li>
 * </ul>
 *
 * <p>The wire format never changes: every UDP datagram still carries one inner IPv4 packet of at most the TUN MTU, as
 * flannel's udp backend does, so hosts with and without offloads interoperate.
 *
 * <p>Shape of a packet loop using them (one set of objects per loop thread, all allocated at start):
 * <pre>{@code
 * // TUN -> UDP: frame = virtio_net_hdr + packet, n bytes read into tunBuf at 0
 * hdr.wrap(tunBuf, 0);
 * OffloadVerdict v = segmenter.segment(hdr, tunBuf, VirtioNetHdr.LENGTH, n - VirtioNetHdr.LENGTH, batch);
 * if (v != OffloadVerdict.OK) { drops[v.ordinal()]++; return; }
 * // batch.uniform(): one UDP_SEGMENT send of batch.totalBytes() with segment size batch.length(0);
 * // otherwise one datagram per (batch.offset(i), batch.length(i))
 *
 * // UDP -> TUN: for each received inner packet (validated, TTL decremented)
 * coalescer.add(udpBuf, offset, length);   // frames go to the TunFrameSink (a write on the TUN fd)
 * // after the receive batch:
 * coalescer.flush();
 * }</pre>
 */
package io.overlay.udp.offload;
