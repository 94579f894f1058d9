/** overlay examples (to be built out). */
package io.overlay.examples;
