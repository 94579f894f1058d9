package io.overlay.core.flannel;

/**
 * The network config JSON is malformed or breaks one of flannel's rules. The message names the field and the offending
 * value and, where flannel has one, uses flannel's wording (flannel v0.28.9 {@code pkg/subnet/config.go},
 * {@code docs/flannel-compatibility.md#network-config}).
 */
public final class InvalidNetworkConfigException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String field;

    /**
     * Creates the exception.
     *
     * @param field the config field at fault, e.g. {@code SubnetMin}, or {@code "(json)"} for a syntax error
     * @param message the full message
     */
    public InvalidNetworkConfigException(final String field, final String message) {
        super(message);
        this.field = field;
    }

    /**
     * Creates the exception with a cause.
     *
     * @param field the config field at fault
     * @param message the full message
     * @param cause the underlying parse error
     */
    public InvalidNetworkConfigException(final String field, final String message, final Throwable cause) {
        super(message, cause);
        this.field = field;
    }

    /**
     * Returns the field at fault.
     *
     * @return the JSON field name as flannel spells it: {@code Network}, {@code SubnetLen}, {@code SubnetMin},
     *     {@code SubnetMax}, {@code EnableIPv4}, {@code EnableIPv6}, {@code EnableNFTables}, {@code IPv6Network},
     *     {@code IPv6SubnetLen}, {@code IPv6SubnetMin}, {@code IPv6SubnetMax}, {@code Backend}, {@code Backend.Type},
     *     {@code Backend.Port}, or {@code "(json)"} when the text is not one JSON object
     */
    public String field() {
        return field;
    }
}
