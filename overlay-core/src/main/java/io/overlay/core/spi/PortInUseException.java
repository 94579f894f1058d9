package io.overlay.core.spi;

import java.io.IOException;

/**
 * What a {@link PacketEngineFactory#checkAvailable} needs on this host is taken, most likely by another agent (overlay
 * or flanneld) on the same host and network namespace: an operator's error, reported by its message alone.
 */
public final class PortInUseException extends IOException {
    private static final long serialVersionUID = 1L;

    /**
     * @param message what is taken and what to do, e.g. {@code UDP port 8285 on 198.18.0.1 is already in use: ...}
     * @param cause the bind error
     */
    public PortInUseException(final String message, final Throwable cause) {
        super(message, cause);
    }
}
