package io.overlay.core.spi;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;

/**
 * What the packet engine needs to carry the overlay's packets.
 *
 * @param bindAddress the local underlay address to bind the UDP socket to (flannel binds the interface address,
 *     {@code IfaceAddr:Port}); int form, 0 for the wildcard address
 * @param port the UDP port, the network config's {@code Backend.Port} (8285 by default), used as source and
 *     destination port
 * @param network the whole overlay Network (the config's {@code Network})
 * @param localSubnet this host's leased subnet
 * @param mtu the TUN MTU in bytes (underlay MTU − 28); the largest inner packet accepted in either direction
 * @param acceptOnlyKnownPeers when {@code true} (default) a datagram is accepted only if its source address is a known
 *     peer's PublicIP; turn off behind NAT, where the source seen differs from the advertised PublicIP
 * @param loops the number of event loops, one per TUN queue (the TUN must have this many queues)
 * @param tuning batch size and UDP offloads ({@link EngineTuning#defaults()} unless set)
 * @param strictSource when {@code true} (default {@code false}) a datagram is accepted only if its inner source
 *     address lies in the leased subnet of the peer whose PublicIP sent it (a route lookup of the inner source must
 *     give the sender); others are dropped as {@link DropReason#SPOOFED_SOURCE}. Off by default because a peer
 *     legitimately forwards traffic with other sources: a NodePort or masqueraded flow leaves with the node's own
 *     underlay address, and routed or DNAT-ed traffic keeps its outside source. Needs {@code acceptOnlyKnownPeers}.
 * @param encryption whether and with which keys datagrams are sealed ({@link EngineEncryption#OFF} unless set); with
 *     it on, {@code mtu} is the TUN MTU, already lowered by {@link EngineEncryption#OVERHEAD}
 */
public record EngineSettings(int bindAddress, int port, Ipv4Prefix network, Ipv4Prefix localSubnet, int mtu,
                             boolean acceptOnlyKnownPeers, int loops, EngineTuning tuning, boolean strictSource,
                             EngineEncryption encryption) {
    /**
     * Validates the settings.
     *
     * @throws IllegalArgumentException naming the setting when a value is out of range
     */
    public EngineSettings {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("UDP port must be 1..65535, got " + port);
        }
        if (network == null || localSubnet == null) {
            throw new IllegalArgumentException("network and localSubnet are required");
        }
        if (!network.contains(localSubnet)) {
            throw new IllegalArgumentException("local subnet " + localSubnet + " is not inside network " + network);
        }
        Ipv4.checkMtu("MTU", mtu);
        if (loops < 1) {
            throw new IllegalArgumentException("loops must be at least 1, got " + loops);
        }
        if (tuning == null) {
            throw new IllegalArgumentException("tuning is required (EngineTuning.defaults() for the defaults)");
        }
        if (strictSource && !acceptOnlyKnownPeers) {
            throw new IllegalArgumentException("strict source mode needs acceptOnlyKnownPeers: a sender that is not a "
                + "peer's PublicIP (NAT) owns no subnet to check the inner source against");
        }
        if (encryption == null) {
            throw new IllegalArgumentException("encryption is required (EngineEncryption.OFF for none)");
        }
    }

    /**
     * Creates settings without strict source mode, with encryption as given.
     *
     * @param bindAddress the local underlay address to bind the UDP socket to, int form, 0 for the wildcard
     * @param port the UDP port
     * @param network the whole overlay Network
     * @param localSubnet this host's leased subnet
     * @param mtu the TUN MTU in bytes
     * @param acceptOnlyKnownPeers whether datagrams are accepted only from known peers' PublicIPs
     * @param loops the number of event loops
     * @param tuning batch size and UDP offloads
     * @param encryption whether and with which keys datagrams are sealed
     * @throws IllegalArgumentException naming the setting when a value is out of range
     */
    public EngineSettings(final int bindAddress, final int port, final Ipv4Prefix network,
                          final Ipv4Prefix localSubnet, final int mtu, final boolean acceptOnlyKnownPeers,
                          final int loops, final EngineTuning tuning, final EngineEncryption encryption) {
        this(bindAddress, port, network, localSubnet, mtu, acceptOnlyKnownPeers, loops, tuning, false, encryption);
    }

    /**
     * Creates settings without encryption.
     *
     * @param bindAddress the local underlay address to bind the UDP socket to, int form, 0 for the wildcard
     * @param port the UDP port
     * @param network the whole overlay Network
     * @param localSubnet this host's leased subnet
     * @param mtu the TUN MTU in bytes
     * @param acceptOnlyKnownPeers whether datagrams are accepted only from known peers' PublicIPs
     * @param loops the number of event loops
     * @param tuning batch size and UDP offloads
     * @param strictSource whether a datagram's inner source must lie in its sender's subnet
     * @throws IllegalArgumentException naming the setting when a value is out of range
     */
    public EngineSettings(final int bindAddress, final int port, final Ipv4Prefix network,
                          final Ipv4Prefix localSubnet, final int mtu, final boolean acceptOnlyKnownPeers,
                          final int loops, final EngineTuning tuning, final boolean strictSource) {
        this(bindAddress, port, network, localSubnet, mtu, acceptOnlyKnownPeers, loops, tuning, strictSource,
            EngineEncryption.OFF);
    }

    /**
     * Creates settings without strict source mode or encryption.
     *
     * @param bindAddress the local underlay address to bind the UDP socket to, int form, 0 for the wildcard
     * @param port the UDP port
     * @param network the whole overlay Network
     * @param localSubnet this host's leased subnet
     * @param mtu the TUN MTU in bytes
     * @param acceptOnlyKnownPeers whether datagrams are accepted only from known peers' PublicIPs
     * @param loops the number of event loops
     * @param tuning batch size and UDP offloads
     * @throws IllegalArgumentException naming the setting when a value is out of range
     */
    public EngineSettings(final int bindAddress, final int port, final Ipv4Prefix network,
                          final Ipv4Prefix localSubnet, final int mtu, final boolean acceptOnlyKnownPeers,
                          final int loops, final EngineTuning tuning) {
        this(bindAddress, port, network, localSubnet, mtu, acceptOnlyKnownPeers, loops, tuning, false,
            EngineEncryption.OFF);
    }

    /**
     * Creates settings with the default tuning ({@link EngineTuning#defaults()}, from the {@code overlay.udp.*}
     * system properties).
     *
     * @param bindAddress the local underlay address to bind the UDP socket to, int form, 0 for the wildcard
     * @param port the UDP port
     * @param network the whole overlay Network
     * @param localSubnet this host's leased subnet
     * @param mtu the TUN MTU in bytes
     * @param acceptOnlyKnownPeers whether datagrams are accepted only from known peers' PublicIPs
     * @param loops the number of event loops
     * @throws IllegalArgumentException naming the setting when a value is out of range
     */
    public EngineSettings(final int bindAddress, final int port, final Ipv4Prefix network,
                          final Ipv4Prefix localSubnet, final int mtu, final boolean acceptOnlyKnownPeers,
                          final int loops) {
        this(bindAddress, port, network, localSubnet, mtu, acceptOnlyKnownPeers, loops, EngineTuning.defaults(),
            EngineEncryption.OFF);
    }
}
