package io.overlay.core.spi;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How the packet engine batches and offloads, separate from what it forwards ({@code EngineSettings}). The system
 * properties below are only the defaults of {@link #defaults()} (the pattern of Aeron's {@code Configuration}):
 * code can build any other tuning, and two engines in one JVM can be tuned differently.
 *
 * <ul>
 *   <li>{@value #BATCH_SIZE_PROP_NAME}: datagrams per {@code recvmmsg}/{@code sendmmsg} and packets read from the
 *       TUN per pass, {@value #MIN_BATCH_SIZE}..{@value #MAX_BATCH_SIZE}, default {@value #DEFAULT_BATCH_SIZE}. With a
 *       plain TUN 1 gives flanneld's one packet per system call; with TUN offloads a read is still one
 *       super-packet.</li>
 *   <li>{@value #UDP_GSO_PROP_NAME}: send runs of equal-size packets to one peer as one UDP GSO message
 *       ({@code UDP_SEGMENT}, Linux 4.18+), default {@code true}. The datagrams on the wire are the same either
 *       way.</li>
 *   <li>{@value #UDP_GRO_PROP_NAME}: receive with UDP GRO ({@code UDP_GRO}, Linux 5.0+) when the TUN has offloads,
 *       default {@code true}.</li>
 * </ul>
 *
 * <p>An engine uses GSO and GRO only where the kernel accepts them; what it really uses is reported by the engine.
 *
 * @param batchSize packets per batch, {@value #MIN_BATCH_SIZE}..{@value #MAX_BATCH_SIZE}
 * @param udpGso whether to send with UDP GSO where the kernel supports it
 * @param udpGro whether to receive with UDP GRO when the TUN has offloads and the kernel supports it
 */
public record EngineTuning(int batchSize, boolean udpGso, boolean udpGro) {
    /** System property holding the default {@link #batchSize()}. */
    public static final String BATCH_SIZE_PROP_NAME = "overlay.udp.batch";
    /** System property holding the default {@link #udpGso()} ({@code true} unless set to another value). */
    public static final String UDP_GSO_PROP_NAME = "overlay.udp.gso";
    /** System property holding the default {@link #udpGro()} ({@code true} unless set to another value). */
    public static final String UDP_GRO_PROP_NAME = "overlay.udp.gro";
    /** Default batch size. */
    public static final int DEFAULT_BATCH_SIZE = 32;
    /** Smallest batch size. */
    public static final int MIN_BATCH_SIZE = 1;
    /** Largest batch size. */
    public static final int MAX_BATCH_SIZE = 1024;

    private static final Logger LOG = LoggerFactory.getLogger(EngineTuning.class);

    /**
     * Validates the tuning.
     *
     * @throws IllegalArgumentException if {@code batchSize} is outside {@value #MIN_BATCH_SIZE}..{@value
     *     #MAX_BATCH_SIZE} (the message names the value)
     */
    public EngineTuning {
        if (batchSize < MIN_BATCH_SIZE || batchSize > MAX_BATCH_SIZE) {
            throw new IllegalArgumentException("engine batch size must be " + MIN_BATCH_SIZE + ".." + MAX_BATCH_SIZE
                + " packets, got " + batchSize);
        }
    }

    /**
     * Returns the tuning given by the system properties, each absent one at its default.
     *
     * @return the default tuning
     */
    public static EngineTuning defaults() {
        return new EngineTuning(batchSize(System.getProperty(BATCH_SIZE_PROP_NAME)),
            Boolean.parseBoolean(System.getProperty(UDP_GSO_PROP_NAME, "true")),
            Boolean.parseBoolean(System.getProperty(UDP_GRO_PROP_NAME, "true")));
    }

    /**
     * Parses a value of {@value #BATCH_SIZE_PROP_NAME}. An invalid value is logged and the default used, so that a
     * mistyped property never stops an overlay from starting.
     *
     * @param value the property's value, or {@code null}
     * @return the batch size: the value if it is an integer in range, else {@value #DEFAULT_BATCH_SIZE}
     */
    static int batchSize(final String value) {
        if (value == null) {
            return DEFAULT_BATCH_SIZE;
        }
        try {
            final int n = Integer.parseInt(value.trim());
            if (n >= MIN_BATCH_SIZE && n <= MAX_BATCH_SIZE) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        LOG.warn("system property {} must be an integer {}..{}, got '{}'; using {}", BATCH_SIZE_PROP_NAME,
            MIN_BATCH_SIZE, MAX_BATCH_SIZE, value, DEFAULT_BATCH_SIZE);
        return DEFAULT_BATCH_SIZE;
    }
}
