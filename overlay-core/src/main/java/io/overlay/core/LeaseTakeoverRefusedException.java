package io.overlay.core;

/**
 * A live lease holds this host's PublicIP, nothing shows that it is this host's own (its {@code subnet.env}, or the
 * lease file when that is missing, names another subnet or none, and the key's etcd lease is still renewed), and a
 * takeover was not allowed. Two hosts with one PublicIP (every VM behind one NAT address) would otherwise share one subnet. The
 * message names the key, the PublicIP and the holder's etcd lease, and says how to allow the takeover.
 */
public final class LeaseTakeoverRefusedException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message the key, the PublicIP, the holder and what to do
     */
    public LeaseTakeoverRefusedException(final String message) {
        super(message);
    }
}
