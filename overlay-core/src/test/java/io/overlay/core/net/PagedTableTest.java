package io.overlay.core.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PagedTableTest {
    private static final long MISSING = -1;

    /** Puts and removes in single-change editors (as isolated lease events are), across many pages, against a map. */
    @Test
    void singleChangeEditsMatchAMapThroughGrowthAndShrinkage() {
        final Random random = new Random(11);
        final Map<Long, Long> model = new HashMap<>();
        PagedTable t = PagedTable.EMPTY;
        for (int step = 0; step < 40_000; step++) {
            final boolean growing = step < 25_000;
            // keys from a small range so that removes hit and probe chains collide and wrap around the table's end
            final long key = 1 + random.nextInt(growing ? 20_000 : 6_000);
            final PagedTable.Editor e = new PagedTable.Editor(t, 1);
            if (random.nextInt(growing ? 4 : 1) == 0) {
                assertThat(e.remove(key, MISSING)).isEqualTo(model.getOrDefault(key, MISSING));
                model.remove(key);
            } else {
                final long value = random.nextLong() & Long.MAX_VALUE;
                assertThat(e.put(key, value, MISSING)).isEqualTo(model.getOrDefault(key, MISSING));
                model.put(key, value);
            }
            t = e.build();
            if (step % 997 == 0 || step == 39_999) {
                assertSame(t, model);
            }
        }
        // at most half full; shrunk once less than an eighth full
        assertThat(t.size * 2L).isLessThanOrEqualTo(t.mask + 1);
        assertThat(t.size * 8L).isGreaterThanOrEqualTo(t.mask + 1);
    }

    /** The table a change was made from is untouched, and the new one shares every page the change did not write. */
    @Test
    void anEditCopiesOnlyThePagesItWritesAndLeavesTheBaseAsItWas() {
        final PagedTable.Editor fill = new PagedTable.Editor(PagedTable.EMPTY, 16_383);
        final Map<Long, Long> model = new HashMap<>();
        for (long k = 1; k <= 16_383; k++) {
            fill.put(k * 7919, k, MISSING);
            model.put(k * 7919, k);
        }
        final PagedTable base = fill.build();
        assertThat(base.pages.length).isEqualTo(32_768 / PagedTable.PAGE_SLOTS);

        final PagedTable.Editor one = new PagedTable.Editor(base, 1);
        one.put(7919L * 20_000, 1, MISSING);
        one.remove(7919L * 5, MISSING);
        one.put(7919L * 6, 66, MISSING);
        final PagedTable next = one.build();

        assertSame(base, model); // unchanged
        final Map<long[], Boolean> basePages = new IdentityHashMap<>();
        for (long[] p : base.pages) {
            basePages.put(p, true);
        }
        int copied = 0;
        for (long[] p : next.pages) {
            copied += basePages.containsKey(p) ? 0 : 1;
        }
        // three changes, each in one page, a removal's backward shift at most into the next one
        assertThat(copied).isBetween(1, 6);
        assertThat(next.get(7919L * 20_000, MISSING)).isEqualTo(1);
        assertThat(next.get(7919L * 5, MISSING)).isEqualTo(MISSING);
        assertThat(next.get(7919L * 6, MISSING)).isEqualTo(66);
        assertThat(next.size).isEqualTo(16_383);
    }

    @Test
    void anEditThatChangesNothingSaysSo() {
        final PagedTable.Editor e = new PagedTable.Editor(PagedTable.EMPTY, 1);
        e.put(5, 6, MISSING);
        final PagedTable t = e.build();
        final PagedTable.Editor same = new PagedTable.Editor(t, 1);
        same.put(5, 6, MISSING);
        same.remove(9, MISSING);
        assertThat(same.changed()).isFalse();
        final PagedTable.Editor other = new PagedTable.Editor(t, 1);
        other.put(5, 7, MISSING);
        assertThat(other.changed()).isTrue();
    }

    private static void assertSame(final PagedTable t, final Map<Long, Long> model) {
        assertThat(t.size).isEqualTo(model.size());
        final Map<Long, Long> seen = new HashMap<>();
        t.forEach(seen::put);
        assertThat(seen).isEqualTo(model);
        model.forEach((k, v) -> assertThat(t.get(k, MISSING)).isEqualTo(v));
        assertThat(t.get(Long.MAX_VALUE, MISSING)).isEqualTo(MISSING);
    }
}
