package io.overlay.core;

/**
 * No subnet of the configured range is free (flannel: "out of subnets"). The message names the range, the subnet
 * length and how many subnets are in use.
 */
public final class OutOfSubnetsException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what range is exhausted and how many subnets are in use
     */
    public OutOfSubnetsException(final String message) {
        super(message);
    }
}
