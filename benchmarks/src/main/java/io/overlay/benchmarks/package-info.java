/**
 * JMH benchmarks of overlay's packet path: route lookup, per-packet processing ({@code PacketProcessor}), software
 * GSO/GRO ({@code GsoSegmenter}, {@code TcpCoalescer}) and the whole engine loop on a socket pair and loopback UDP;
 * and the control plane's writes to the route table ({@code RouteBatchBenchmark}: a listing as one batch or per
 * event, one event into a table of N routes).
 * Build and run: see {@code docs/performance.md}.
 */
package io.overlay.benchmarks;
