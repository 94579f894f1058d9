package io.overlay.udp;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class MessageBatchTest {
    /** Where the packets would be: buildMessages only records addresses, it never reads them. */
    private static final long PACKETS = 0x10_0000L;
    private static final int PEER = 0xc6120002; // 198.18.0.2
    private static final int OTHER = 0xc6120003;

    @Test
    void gsoGroupsRunsOfFullSizePacketsToOnePeerEndingWithAShorterOne() {
        final MessageBatch batch = MessageBatch.forSending(8);
        final int[][] slots = {
            {84, PEER}, {84, PEER}, {84, PEER}, {60, PEER}, // one run: 3 full + shorter last
            {84, PEER}, {100, PEER},                         // larger than the run's size: new message
            {100, OTHER},                                    // other peer: new message
            {100, OTHER},
        };
        for (int i = 0; i < slots.length; i++) {
            batch.prepareSendFrom(i, PACKETS + i * 1480L, slots[i][0], slots[i][1], 8285);
        }
        assertThat(batch.buildMessages(0, 8, true)).isEqualTo(4);
        assertMessage(batch, 0, 0, 4, 84 * 3 + 60);
        assertMessage(batch, 1, 4, 1, 84);
        assertMessage(batch, 2, 5, 1, 100);
        assertMessage(batch, 3, 6, 2, 200);
    }

    @Test
    void withoutGsoOrFromAnOffsetEverySlotIsItsOwnMessage() {
        final MessageBatch batch = MessageBatch.forSending(4);
        for (int i = 0; i < 4; i++) {
            batch.prepareSendFrom(i, PACKETS + i * 1480L, 1472, PEER, 8285);
        }
        assertThat(batch.buildMessages(0, 4, false)).isEqualTo(4);
        for (int i = 0; i < 4; i++) {
            assertMessage(batch, i, i, 1, 1472);
        }
        assertThat(batch.buildMessages(1, 4, true)).isEqualTo(1);
        assertMessage(batch, 0, 1, 3, 3 * 1472);
    }

    @Test
    void aSplitPacketIsSentFromTwoIovecsAndCountsBothParts() {
        final MessageBatch batch = MessageBatch.forSending(4);
        batch.prepareSendSplit(0, PACKETS, 52, PACKETS + 100_000, 1420, PEER, 8285);
        batch.prepareSendSplit(1, PACKETS + 52, 52, PACKETS + 101_420, 1420, PEER, 8285);
        batch.prepareSendFrom(2, PACKETS + 200_000, 1472, PEER, 8285);
        batch.prepareSendSplit(3, PACKETS + 104, 52, PACKETS + 102_840, 700, PEER, 8285);
        assertThat(batch.buildMessages(0, 4, true)).isEqualTo(1);
        assertMessage(batch, 0, 0, 4, 3 * 1472 + 752);
    }

    private static void assertMessage(final MessageBatch batch, final int message, final int first, final int slots,
                                      final int bytes) {
        assertThat(batch.messageFirst(message)).as("first slot of message %d", message).isEqualTo(first);
        assertThat(batch.messageSlots(message)).as("slots of message %d", message).isEqualTo(slots);
        assertThat(batch.messageBytes(message)).as("bytes of message %d", message).isEqualTo(bytes);
    }
}
