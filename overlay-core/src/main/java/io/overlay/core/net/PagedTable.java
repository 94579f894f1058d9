package io.overlay.core.net;

import java.util.Arrays;

/**
 * An immutable open-addressing hash table from {@code long} keys (never 0, which marks an empty slot) to {@code long}
 * values, with linear probing, stored in pages so that a changed copy shares every page it did not touch.
 *
 * <p>Shape: {@code capacity} slots (a power of two, at least {@link #MIN_CAPACITY}), at most half of them full, so a
 * probe always ends at an empty slot. A slot is two adjacent longs of its page (key, value), so a probe reads one
 * cache line per four slots. Pages hold {@link #PAGE_SLOTS} slots (4 KiB); a table smaller than a page has one page
 * of its own size.
 *
 * <p>Why pages: {@link RouteTable} publishes a new table per batch of route changes while the packet loop reads the
 * old one without a lock. A flat table would copy every slot per batch, so a single lease event at 16,383 peers cost
 * ~0.9 MB of copying and garbage. An {@link Editor} copies only the pages it writes, plus the page directory
 * (capacity / 256 references: 512 for the 65,536 subnets of a /8 at SubnetLen 24), so a single change costs one
 * or two pages (a backward-shift delete may cross into the next) and the directory, ~10 KiB for a route table of
 * 16,383 peers, and a batch of n changes at most O(n) pages. Memory: 16 bytes per slot, 32 to 64 per entry.
 */
final class PagedTable {
    static final int MIN_CAPACITY = 8;
    /** At most half of 2^30 slots: more than any IPv4 route table needs. */
    static final int MAX_ENTRIES = 1 << 29;
    static final int PAGE_SHIFT = 8;
    static final int PAGE_SLOTS = 1 << PAGE_SHIFT;
    private static final int PAGE_MASK = PAGE_SLOTS - 1;

    static final PagedTable EMPTY = new PagedTable(new long[][] {new long[2 * MIN_CAPACITY]}, MIN_CAPACITY - 1, 0);

    /** pages[slot >>> PAGE_SHIFT][2 * (slot & PAGE_MASK)] is the slot's key, the next long its value. */
    final long[][] pages;
    final int mask;
    final int size;

    private PagedTable(final long[][] pages, final int mask, final int size) {
        this.pages = pages;
        this.mask = mask;
        this.size = size;
    }

    /** The home slot hash of a key: Fibonacci hashing, the product's high half. */
    static int hash(final long key) {
        return (int) ((key * 0x9E3779B97F4A7C15L) >>> 32);
    }

    /**
     * Returns the value stored for {@code key}, or {@code missing}. Allocation-free; any thread.
     *
     * @param key a non-zero key
     * @param missing what to return when the key is absent
     * @return the value or {@code missing}
     */
    long get(final long key, final long missing) {
        final long[][] p = pages;
        final int m = mask;
        int slot = hash(key) & m;
        while (true) {
            final long[] page = p[slot >>> PAGE_SHIFT];
            final int at = (slot & PAGE_MASK) << 1;
            final long k = page[at];
            if (k == key) {
                return page[at + 1];
            }
            if (k == 0) {
                return missing;
            }
            slot = (slot + 1) & m;
        }
    }

    /** Calls {@code action} for every entry, in slot order. */
    void forEach(final EntryAction action) {
        for (long[] page : pages) {
            for (int at = 0; at < page.length; at += 2) {
                if (page[at] != 0) {
                    action.accept(page[at], page[at + 1]);
                }
            }
        }
    }

    /** One entry of {@link #forEach}. */
    @FunctionalInterface
    interface EntryAction {
        void accept(long key, long value);
    }

    /** Smallest power of two ≥ {@link #MIN_CAPACITY} that holds {@code entries} at a load factor of at most 1/2. */
    static int capacityFor(final int entries) {
        if (entries > MAX_ENTRIES) {
            throw new IllegalStateException("more than " + MAX_ENTRIES + " entries: " + entries);
        }
        int capacity = MIN_CAPACITY;
        while (capacity < entries * 2L) {
            capacity <<= 1;
        }
        return capacity;
    }

    /**
     * The next table being built by one writer: a copy of the base's page directory whose pages are copied on their
     * first write, so the base (which readers may hold) never changes. Not thread-safe.
     */
    static final class Editor {
        private long[][] pages;
        /** Whether pages[i] is this editor's own copy (writable) rather than the base's. */
        private boolean[] owned;
        private int mask;
        private int size;
        private boolean changed;

        /**
         * @param base the table to start from
         * @param extra how many entries may be added: the table is grown once for them up front
         */
        Editor(final PagedTable base, final int extra) {
            pages = base.pages.clone();
            owned = new boolean[pages.length];
            mask = base.mask;
            size = base.size;
            // grow once up front only for a batch that may more than double the table (a listing): a small batch
            // near the load limit would otherwise copy every page for puts that may all be updates; put() grows too
            if (extra > size && capacityFor(size + extra) > mask + 1) {
                rehash(capacityFor(size + extra));
            }
        }

        int size() {
            return size;
        }

        boolean changed() {
            return changed;
        }

        private long keyAt(final int slot) {
            return pages[slot >>> PAGE_SHIFT][(slot & PAGE_MASK) << 1];
        }

        private long valueAt(final int slot) {
            return pages[slot >>> PAGE_SHIFT][((slot & PAGE_MASK) << 1) + 1];
        }

        private void set(final int slot, final long key, final long value) {
            final int p = slot >>> PAGE_SHIFT;
            if (!owned[p]) {
                pages[p] = pages[p].clone();
                owned[p] = true;
            }
            final int at = (slot & PAGE_MASK) << 1;
            pages[p][at] = key;
            pages[p][at + 1] = value;
        }

        /** The slot holding {@code key}, or {@code ~slot} of the empty slot where it would go. */
        private int find(final long key) {
            int slot = hash(key) & mask;
            long k;
            while ((k = keyAt(slot)) != 0) {
                if (k == key) {
                    return slot;
                }
                slot = (slot + 1) & mask;
            }
            return ~slot;
        }

        /**
         * Returns the value stored for {@code key}, or {@code missing}.
         */
        long get(final long key, final long missing) {
            final int slot = find(key);
            return slot >= 0 ? valueAt(slot) : missing;
        }

        /**
         * Stores {@code value} for {@code key}.
         *
         * @return the previous value, or {@code missing} when the key was absent
         */
        long put(final long key, final long value, final long missing) {
            int slot = find(key);
            if (slot >= 0) {
                final long old = valueAt(slot);
                if (old != value) {
                    set(slot, key, value);
                    changed = true;
                }
                return old;
            }
            if ((size + 1) * 2L > mask + 1) {
                rehash(capacityFor(size + 1));
                slot = find(key);
            }
            set(~slot, key, value);
            size++;
            changed = true;
            return missing;
        }

        /**
         * Removes {@code key} by linear probing's backward-shift deletion: entries after the hole whose home slot
         * is not cyclically in (hole, entry] move into the hole, so every probe sequence stays unbroken without
         * tombstones.
         *
         * @return the removed value, or {@code missing} when the key was absent
         */
        long remove(final long key, final long missing) {
            final int slot = find(key);
            if (slot < 0) {
                return missing;
            }
            final long old = valueAt(slot);
            int hole = slot;
            int j = slot;
            while (true) {
                j = (j + 1) & mask;
                final long k = keyAt(j);
                if (k == 0) {
                    break;
                }
                final int home = hash(k) & mask;
                final boolean stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
                if (!stays) {
                    set(hole, k, valueAt(j));
                    hole = j;
                }
            }
            set(hole, 0, 0);
            size--;
            changed = true;
            return old;
        }

        /** Moves every entry into fresh pages of {@code capacity} slots in all. */
        private void rehash(final int capacity) {
            final long[][] old = pages;
            final int pageSlots = Math.min(capacity, PAGE_SLOTS);
            pages = new long[capacity / pageSlots][];
            for (int i = 0; i < pages.length; i++) {
                pages[i] = new long[2 * pageSlots];
            }
            owned = new boolean[pages.length];
            Arrays.fill(owned, true);
            mask = capacity - 1;
            for (long[] page : old) {
                for (int at = 0; at < page.length; at += 2) {
                    if (page[at] != 0) {
                        set(~find(page[at]), page[at], page[at + 1]);
                    }
                }
            }
        }

        /** The finished table; shrinks it after mass removal (hysteresis: grow at 1/2 full, shrink at 1/8). */
        PagedTable build() {
            if (size * 8L < mask + 1 && mask + 1 > MIN_CAPACITY) {
                rehash(capacityFor(size));
            }
            final PagedTable t = new PagedTable(pages, mask, size);
            owned = null; // the pages now belong to a published table: this editor must not write again
            return t;
        }
    }
}
