package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class NettyDefaultsTest {
    private final Map<String, String> saved = new HashMap<>();

    @BeforeEach
    void save() {
        NettyDefaults.DEFAULTS.keySet().forEach(k -> saved.put(k, System.getProperty(k)));
    }

    @AfterEach
    void restore() {
        saved.forEach((k, v) -> {
            if (v == null) {
                System.clearProperty(k);
            } else {
                System.setProperty(k, v);
            }
        });
    }

    @Test
    void setsEachDefaultThatIsMissing() {
        NettyDefaults.DEFAULTS.keySet().forEach(System::clearProperty);
        NettyDefaults.apply();
        assertThat(System.getProperty("io.netty.jfr.enabled")).isEqualTo("false");
        assertThat(System.getProperty("io.netty.allocator.type")).isEqualTo("unpooled");
    }

    @Test
    void keepsWhatTheCommandLineSet() {
        System.setProperty("io.netty.jfr.enabled", "true");
        System.clearProperty("io.netty.allocator.type");
        NettyDefaults.apply();
        assertThat(System.getProperty("io.netty.jfr.enabled")).isEqualTo("true");
        assertThat(System.getProperty("io.netty.allocator.type")).isEqualTo("unpooled");
    }
}
