package io.overlay.tun;

/**
 * Run by {@link WithoutNetAdminTest} in a child JVM without CAP_NET_ADMIN: prints what {@link Tun} says and what
 * opening a device throws, one {@code key=value} per line.
 */
public final class WithoutNetAdminProbe {
    private WithoutNetAdminProbe() {
    }

    /**
     * Probes and prints.
     *
     * @param args ignored
     */
    public static void main(final String[] args) {
        System.out.println("available=" + Tun.isAvailable());
        System.out.println("cause=" + (Tun.unavailabilityCause() == null ? "" : Tun.unavailabilityCause().getMessage()));
        try (LinuxTunDevice tun = new LinuxTunDeviceFactory().open("ovperm%d", 1)) {
            System.out.println("opened=" + tun.name());
        } catch (TunException e) {
            System.out.println("reason=" + e.reason());
            System.out.println("errno=" + e.errno());
            System.out.println("message=" + e.getMessage());
        } catch (Exception e) {
            System.out.println("unexpected=" + e);
        }
    }
}
