/** overlay benchmarks (to be built out). */
package io.overlay.benchmarks;
