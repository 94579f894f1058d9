package io.overlay.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.ForwardingLeaseListener;
import io.overlay.core.spi.LeaseListener;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Every method of {@link OverlayListener} (and so of {@link LeaseListener}), present and future, reaches the next
 * listener once, with the same arguments, through the forwarding bases: a method added to the interfaces without a
 * forward fails here instead of being dropped by every decorator.
 */
class ForwardingOverlayListenerTest {
    private static final Lease LEASE = new Lease(Ipv4Prefix.parse("100.64.1.0/24"),
        LeaseAttrs.udp(Ipv4.parse("198.18.0.1")), false, Duration.ofHours(24));

    @Test
    void everyOverlayListenerMethodIsPassedOnOnceWithItsArguments() throws Exception {
        final List<String> seen = new ArrayList<>();
        final OverlayListener next = recorder(OverlayListener.class, seen);
        final OverlayListener forwarder = new ForwardingOverlayListener(next) { };
        checkAll(OverlayListener.class, forwarder, seen);
    }

    /** OverlayHistory records some events and must still pass every one on (it once dropped config changes). */
    @Test
    void overlayHistoryPassesEveryMethodOnOnceWithItsArguments() throws Exception {
        final List<String> seen = new ArrayList<>();
        checkAll(OverlayListener.class, new OverlayHistory(recorder(OverlayListener.class, seen)), seen);
    }

    @Test
    void everyLeaseListenerMethodIsPassedOnOnceWithItsArguments() throws Exception {
        final List<String> seen = new ArrayList<>();
        final LeaseListener next = recorder(LeaseListener.class, seen);
        final LeaseListener forwarder = new ForwardingLeaseListener<>(next) { };
        checkAll(LeaseListener.class, forwarder, seen);
    }

    private static void checkAll(final Class<?> type, final Object forwarder, final List<String> seen)
        throws Exception {
        final List<Method> methods = Arrays.stream(type.getMethods())
            .filter(m -> !Modifier.isStatic(m.getModifiers())).toList();
        assertThat(methods).isNotEmpty();
        for (Method m : methods) {
            seen.clear();
            final Object[] args = new Object[m.getParameterCount()];
            for (int i = 0; i < args.length; i++) {
                final Class<?> p = m.getParameterTypes()[i];
                args[i] = p == List.class ? List.of() : p == Lease.class ? LEASE : null;
            }
            m.invoke(forwarder, args);
            assertThat(seen).as(m.getName()).containsExactly(m.getName() + Arrays.toString(args));
        }
    }

    /** A listener that records each call (name and arguments) and does nothing else, not even its defaults. */
    private static <T> T recorder(final Class<T> type, final List<String> seen) {
        return type.cast(Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, (proxy, m, a) -> {
            if (m.getDeclaringClass() == Object.class) {
                return m.getName().equals("equals") ? proxy == a[0] : m.getName().equals("hashCode") ? 0 : "recorder";
            }
            seen.add(m.getName() + Arrays.toString(a == null ? new Object[0] : a));
            return null;
        }));
    }
}
