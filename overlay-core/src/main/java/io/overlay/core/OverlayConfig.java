package io.overlay.core;

import io.overlay.core.spi.BridgeConfigurator;
import io.overlay.core.spi.Encryption;
import io.overlay.core.spi.EngineTuning;
import io.overlay.core.spi.PacketEngineFactory;
import io.overlay.core.spi.SubnetAllocator;
import io.overlay.core.spi.TunDeviceFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * What one {@link Overlay} was built with: {@link Overlay.Builder#build()} validates the builder's values once and
 * copies them here, so the overlay never reads its builder again (as Aeron's {@code MediaDriver.Context.conclude()}
 * resolves a context once). Immutable: a setter called on the builder afterwards, or a second {@code build()},
 * leaves this overlay's config alone. Each value is described at its {@link Overlay.Builder} setter.
 *
 * @param allocator the subnet allocator; the overlay closes it
 * @param publicIp the PublicIP to advertise, int form, or empty for the underlay interface's address
 * @param ifaces the underlay interfaces to try, names or addresses, in order; may be empty
 * @param ifaceRegexes patterns choosing the underlay interface by address, then name, after {@code ifaces}
 * @param ifaceCanReach an address whose route chooses the underlay interface, last; or empty
 * @param ipMasq whether the host masquerades traffic leaving the Network ({@code FLANNEL_IPMASQ})
 * @param tunName the TUN device name or template
 * @param loops the number of packet loops and TUN queues
 * @param subnetFile where {@code subnet.env} is written, or {@code null} for none
 * @param bridge the container bridge's name, or {@code null} for none
 * @param acceptOnlyKnownPeers whether datagrams are accepted only from known peers' PublicIPs
 * @param offloads whether the TUN is opened with offloads
 * @param tunTxQueueLength the TUN transmit queue length in packets, 0 to keep the device's
 * @param engineTuning the packet engine's batch size and UDP GSO/GRO switches
 * @param listener the listener of lease, peer and readiness events
 * @param tunFactory the TUN device factory
 * @param engineFactory the packet engine factory
 * @param bridgeConfigurator the bridge configurator, or {@code null} when there is no bridge
 * @param retryInitial the first delay before re-applying a re-acquired lease again
 * @param retryMax the cap of that delay
 * @param unknownSenderCheck how often the unknown-sender drop counter is checked
 * @param unknownSenderWarning where the unknown-sender warning goes
 * @param dropSummary where the periodic drop summary goes
 * @param strictSource whether the engine accepts from a peer only inner sources inside that peer's subnet
 * @param encryption whether datagrams to overlay peers are sealed
 * @param pskFile the pre-shared key file mixed into every derived key, or {@code null} for none
 * @param leaseFile the persistent copy of {@code subnet.env}, read when that is missing, or {@code null} for none
 * @param underlayCheck how often the address the engine is bound to is checked, zero for never
 * @param hostCheck how often the TUN device and the bridge are compared with their set-up and restored
 */
record OverlayConfig(SubnetAllocator allocator, Optional<Integer> publicIp, List<String> ifaces,
                     List<Pattern> ifaceRegexes, Optional<Integer> ifaceCanReach, boolean ipMasq, String tunName,
                     int loops, Path subnetFile, String bridge, boolean acceptOnlyKnownPeers, boolean offloads,
                     int tunTxQueueLength, EngineTuning engineTuning, OverlayListener listener,
                     TunDeviceFactory tunFactory, PacketEngineFactory engineFactory,
                     BridgeConfigurator bridgeConfigurator, Duration retryInitial, Duration retryMax,
                     Duration unknownSenderCheck, Consumer<String> unknownSenderWarning, Consumer<String> dropSummary,
                     boolean strictSource, Encryption encryption, Path pskFile,
                     Path leaseFile, Duration underlayCheck, Duration hostCheck) {
    /**
     * Checks that every required part is present and copies the list.
     *
     * @throws NullPointerException naming a missing part (the builder reports missing parts before this)
     */
    OverlayConfig {
        Objects.requireNonNull(allocator, "allocator");
        Objects.requireNonNull(publicIp, "publicIp");
        ifaces = List.copyOf(ifaces);
        ifaceRegexes = List.copyOf(ifaceRegexes);
        Objects.requireNonNull(ifaceCanReach, "ifaceCanReach");
        Objects.requireNonNull(tunName, "tunName");
        Objects.requireNonNull(engineTuning, "engineTuning");
        Objects.requireNonNull(listener, "listener");
        Objects.requireNonNull(tunFactory, "tunDeviceFactory");
        Objects.requireNonNull(engineFactory, "packetEngineFactory");
        if (bridge != null) {
            Objects.requireNonNull(bridgeConfigurator, "bridgeConfigurator");
        }
        Objects.requireNonNull(retryInitial, "retryInitial");
        Objects.requireNonNull(retryMax, "retryMax");
        Objects.requireNonNull(hostCheck, "hostCheck");
        Objects.requireNonNull(unknownSenderCheck, "unknownSenderCheck");
        Objects.requireNonNull(unknownSenderWarning, "unknownSenderWarning");
        Objects.requireNonNull(dropSummary, "dropSummary");
        Objects.requireNonNull(encryption, "encryption");
        Objects.requireNonNull(underlayCheck, "underlayCheck");
    }
}
