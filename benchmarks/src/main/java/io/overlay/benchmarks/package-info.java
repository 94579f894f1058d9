/**
 * JMH benchmarks of overlay's packet path: route lookup, per-packet processing ({@code PacketProcessor}), software
 * GSO/GRO ({@code GsoSegmenter}, {@code TcpCoalescer}) and the whole engine loop on a socket pair and loopback UDP.
 * Build and run: see {@code benchmarks/PERFORMANCE.md}.
 */
package io.overlay.benchmarks;
