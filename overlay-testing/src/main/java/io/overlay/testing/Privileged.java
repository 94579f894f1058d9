package io.overlay.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Marks a test class that needs root: {@code /dev/net/tun}, network namespaces, CAP_NET_ADMIN. Such tests are tagged
 * {@code privileged}. They <b>fail</b> (never skip) when run without root, so CI cannot pass without running them; a
 * developer without root excludes them with {@code -Dgroups.excluded=privileged}.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@Tag("privileged")
@ExtendWith(RequireRoot.class)
public @interface Privileged {
}
