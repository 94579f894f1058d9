package io.overlay.core.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
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
            // keys from a small range so that removes hit; chains across pages and the table's end: tests below
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

    /** Backward shift across the table's end (8 slots, one page): homes 6, 7, 0 in slots 6, 7, 0; remove the 6. */
    @Test
    void backwardShiftAcrossTheEndLeavesAnEntryThatIsAtItsHome() {
        final long d = keyWithHome(6, 8, 0);
        final long e = keyWithHome(7, 8, 0);
        final long f = keyWithHome(0, 8, 0);
        final PagedTable t = tableOf(d, e, f);
        final PagedTable.Editor rm = new PagedTable.Editor(t, 0);
        assertThat(rm.remove(d, MISSING)).isEqualTo(1);
        final PagedTable u = rm.build();
        assertThat(u.get(e, MISSING)).isEqualTo(2);
        assertThat(u.get(f, MISSING)).isEqualTo(3);
        assertThat(t.get(d, MISSING)).isEqualTo(1);
    }

    /** Three keys homed at the last slot (in slots 7, 0, 1 after the wrap); removing the first moves both back. */
    @Test
    void backwardShiftAcrossTheEndMovesEntriesHomedBeforeIt() {
        final long a = keyWithHome(7, 8, 0);
        final long b = keyWithHome(7, 8, 1);
        final long c = keyWithHome(7, 8, 2);
        final PagedTable.Editor rm = new PagedTable.Editor(tableOf(a, b, c), 0);
        rm.remove(a, MISSING);
        final PagedTable u = rm.build();
        assertThat(u.get(b, MISSING)).isEqualTo(2);
        assertThat(u.get(c, MISSING)).isEqualTo(3);
    }

    /** 512 slots in two pages: a chain from slot 255 into page 1, and one from slot 511 into page 0. */
    @Test
    void backwardShiftAcrossPagesAndTheEndOfATwoPageTableLeavesTheBaseAsItWas() {
        final int capacity = 2 * PagedTable.PAGE_SLOTS;
        final long[] chain = {
            keyWithHome(255, capacity, 0), keyWithHome(255, capacity, 1), keyWithHome(255, capacity, 2)};
        final long[] wrap = {
            keyWithHome(511, capacity, 0), keyWithHome(511, capacity, 1), keyWithHome(0, capacity, 0)};
        final PagedTable.Editor fill = new PagedTable.Editor(PagedTable.EMPTY, 200);
        for (int i = 0; i < 3; i++) {
            fill.put(chain[i], 10 + i, MISSING);
            fill.put(wrap[i], 20 + i, MISSING);
        }
        for (long k = 1_000_000; fill.size() < 200; k++) {
            fill.put(k, k, MISSING); // keeps the table at 512 slots
        }
        final PagedTable t = fill.build();
        assertThat(t.mask + 1).isEqualTo(capacity);
        final long[][] before = deepCopy(t);
        final PagedTable.Editor rm = new PagedTable.Editor(t, 0);
        rm.remove(chain[0], MISSING);
        rm.remove(wrap[0], MISSING);
        final PagedTable u = rm.build();
        assertThat(u.get(chain[1], MISSING)).isEqualTo(11);
        assertThat(u.get(chain[2], MISSING)).isEqualTo(12);
        assertThat(u.get(wrap[1], MISSING)).isEqualTo(21);
        assertThat(u.get(wrap[2], MISSING)).isEqualTo(22);
        assertThat(t.pages).isDeepEqualTo(before);
    }

    /**
     * Random edits of 1..3,000 changes, some from an older table than the newest (two editors then share pages),
     * through growth and shrinkage: every table ever built keeps its contents.
     */
    @Test
    void noEditEverChangesATableBuiltBefore() {
        final Random random = new Random(5);
        final List<PagedTable> tables = new ArrayList<>(List.of(PagedTable.EMPTY));
        final List<long[][]> copies = new ArrayList<>();
        copies.add(deepCopy(PagedTable.EMPTY));
        for (int edit = 0; edit < 300; edit++) {
            final int from = random.nextInt(20) == 0 ? random.nextInt(tables.size()) : tables.size() - 1;
            final PagedTable.Editor e = new PagedTable.Editor(tables.get(from), random.nextInt(50));
            final int changes = 1 + random.nextInt(random.nextBoolean() ? 3_000 : 20);
            final boolean shrinking = edit % 60 >= 40;
            for (int c = 0; c < changes; c++) {
                final long key = 1 + random.nextInt(8_000);
                if (shrinking || random.nextInt(3) == 0) {
                    e.remove(key, MISSING);
                } else {
                    e.put(key, random.nextLong(), MISSING);
                }
            }
            tables.add(e.build());
            copies.add(deepCopy(tables.get(tables.size() - 1)));
        }
        for (int i = 0; i < tables.size(); i++) {
            assertThat(tables.get(i).pages).as("table %d", i).isDeepEqualTo(copies.get(i));
        }
    }

    /** Updates and removals of keys a table holds do not grow it, however many there are. */
    @Test
    void updatingAFullTableDoesNotGrowIt() {
        final PagedTable.Editor fill = new PagedTable.Editor(PagedTable.EMPTY, 16_383);
        for (long k = 1; k <= 16_383; k++) {
            fill.put(k, k, MISSING);
        }
        final PagedTable t = fill.build();
        final PagedTable.Editor update = new PagedTable.Editor(t, 10);
        for (long k = 1; k <= 10; k++) {
            update.put(k, -k, MISSING);
        }
        final PagedTable u = update.build();
        assertThat(u.mask).isEqualTo(t.mask);
        int shared = 0;
        for (int i = 0; i < u.pages.length; i++) {
            shared += u.pages[i] == t.pages[i] ? 1 : 0;
        }
        assertThat(shared).isGreaterThanOrEqualTo(t.pages.length - 10); // a page per updated key at most
    }

    /** The {@code n}-th smallest key > 0 whose home slot is {@code home} in a table of {@code capacity} slots. */
    private static long keyWithHome(final int home, final int capacity, final int n) {
        int left = n;
        for (long k = 1; ; k++) {
            if ((PagedTable.hash(k) & (capacity - 1)) == home && left-- == 0) {
                return k;
            }
        }
    }

    /** A table holding {@code keys[i]} → i + 1, put in that order (so probe chains form in that order). */
    private static PagedTable tableOf(final long... keys) {
        final PagedTable.Editor fill = new PagedTable.Editor(PagedTable.EMPTY, keys.length);
        for (int i = 0; i < keys.length; i++) {
            fill.put(keys[i], i + 1, MISSING);
        }
        return fill.build();
    }

    private static long[][] deepCopy(final PagedTable t) {
        final long[][] out = new long[t.pages.length][];
        for (int i = 0; i < out.length; i++) {
            out[i] = t.pages[i].clone();
        }
        return out;
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
