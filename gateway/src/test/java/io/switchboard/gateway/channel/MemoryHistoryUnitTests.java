package io.switchboard.gateway.channel;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.id.Ids;
import io.switchboard.protocol.StreamPosition;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The embedded history, docs/protocol.md section 5: offsets 1, 2, 3 per channel, an epoch per life of a channel's
 * history, and an honest {@code recovered} flag.
 */
class MemoryHistoryUnitTests {

    private static final int SIZE = 3;
    private static final long TTL_MS = 1_000;

    /** A clock that moves only when the test says so. */
    private long now = 5_000_000_000L;

    private final Ids ids = new Ids(new SplittableRandom(42));
    private final MemoryHistory history = new MemoryHistory(SIZE, TTL_MS, () -> now, ids);

    private void advanceMillis(long millis) {
        now += TimeUnit.MILLISECONDS.toNanos(millis);
    }

    private Publication publish(String channel, String text) {
        return publish(history, channel, text);
    }

    private static Publication publish(MemoryHistory h, String channel, String text) {
        return h.append(channel, Publication.MESSAGE, "u_alice", "{\"text\":\"" + text + "\"}", 0, p -> {});
    }

    private HistoryRead read(String channel, StreamPosition since) {
        return history.read(channel, since).block();
    }

    private static List<Long> offsets(HistoryRead read) {
        return read.publications().stream().map(Publication::offset).toList();
    }

    @Test
    @DisplayName("docs/protocol.md section 5: every channel counts its own offsets from 1 within one epoch")
    void offsetsCountFromOnePerChannel() {
        Publication a1 = publish("public:a", "1");
        Publication a2 = publish("public:a", "2");
        Publication b1 = publish("public:b", "1");
        Publication a3 = publish("public:a", "3");

        assertThat(List.of(a1.offset(), a2.offset(), a3.offset())).containsExactly(1L, 2L, 3L);
        assertThat(b1.offset()).isEqualTo(1);
        assertThat(a2.epoch()).isEqualTo(a1.epoch());
        assertThat(a3.epoch()).isEqualTo(a1.epoch());
        assertThat(a1.channel()).isEqualTo("public:a");
        assertThat(a2.data()).isEqualTo("{\"text\":\"2\"}");
        assertThat(a2.from()).isEqualTo("u_alice");
        assertThat(a2.type()).isEqualTo(Publication.MESSAGE);
    }

    @Test
    @DisplayName("append hands each publication to its callback, in offset order")
    void appendHandsThePublicationToTheCallback() {
        List<Publication> seen = new ArrayList<>();

        Publication p1 = history.append("public:a", Publication.MESSAGE, null, "1", 17, seen::add);
        Publication p2 = history.append("public:a", Publication.MESSAGE, null, "2", 18, seen::add);

        assertThat(seen).containsExactly(p1, p2);
        assertThat(p1.publishedNanos()).isEqualTo(17);
        assertThat(p1.from()).isNull();
    }

    @Test
    @DisplayName("docs/protocol.md section 5: before any publish a channel's latest offset is 0")
    void newChannelIsAtOffsetZero() {
        HistoryRead read = read("public:new", null);

        assertThat(read.latest()).isZero();
        assertThat(read.epoch()).isNotEmpty();
        assertThat(read.recovered()).isFalse();
        assertThat(read.publications()).isEmpty();
        assertThat(publish("public:new", "x").epoch()).isEqualTo(read.epoch());
    }

    @Test
    @DisplayName("docs/protocol.md section 5: without since a read gives the latest offset and epoch and nothing else")
    void readWithoutSinceGivesThePosition() {
        Publication last = null;
        for (int i = 0; i < 3; i++) {
            last = publish("public:a", "m" + i);
        }

        HistoryRead read = read("public:a", null);

        assertThat(read.latest()).isEqualTo(3);
        assertThat(read.epoch()).isEqualTo(last.epoch());
        assertThat(read.recovered()).isFalse();
        assertThat(read.publications()).isEmpty();
    }

    @Test
    @DisplayName("docs/protocol.md section 5: since in the same epoch recovers exactly the later messages, in order")
    void sinceInTheSameEpochRecoversTheLaterMessages() {
        Publication first = publish("public:a", "1");
        Publication second = publish("public:a", "2");
        Publication third = publish("public:a", "3");

        HistoryRead read = read("public:a", new StreamPosition(1, first.epoch()));

        assertThat(read.recovered()).isTrue();
        assertThat(read.latest()).isEqualTo(3);
        assertThat(read.epoch()).isEqualTo(first.epoch());
        assertThat(read.publications()).containsExactly(second, third);
    }

    @Test
    @DisplayName("docs/protocol.md section 5: since at the latest offset is recovered with nothing to replay")
    void sinceAtLatestIsRecoveredWithNothing() {
        publish("public:a", "1");
        Publication latest = publish("public:a", "2");

        HistoryRead read = read("public:a", new StreamPosition(2, latest.epoch()));

        assertThat(read.recovered()).isTrue();
        assertThat(read.publications()).isEmpty();
    }

    @Test
    @DisplayName("docs/protocol.md section 5: since 0 recovers everything while all of it is held")
    void sinceZeroRecoversEverythingHeld() {
        Publication first = publish("public:a", "1");
        publish("public:a", "2");

        HistoryRead read = read("public:a", new StreamPosition(0, first.epoch()));

        assertThat(read.recovered()).isTrue();
        assertThat(offsets(read)).containsExactly(1L, 2L);
    }

    @Test
    @DisplayName(
            "docs/protocol.md section 5: history keeps the last historySize messages; older since is not recovered")
    void sinceOlderThanTheOldestHeldIsNotRecovered() {
        String epoch = null;
        for (int i = 1; i <= 5; i++) {
            epoch = publish("public:a", "m" + i).epoch();
        }
        // held: 3, 4, 5

        HistoryRead justHeld = read("public:a", new StreamPosition(2, epoch));
        HistoryRead lost = read("public:a", new StreamPosition(1, epoch));
        HistoryRead fromStart = read("public:a", new StreamPosition(0, epoch));

        assertThat(justHeld.recovered()).isTrue();
        assertThat(offsets(justHeld)).containsExactly(3L, 4L, 5L);
        assertThat(lost.recovered()).isFalse();
        assertThat(lost.publications()).isEmpty();
        assertThat(lost.latest()).isEqualTo(5);
        assertThat(fromStart.recovered()).isFalse();
        assertThat(fromStart.publications()).isEmpty();
        assertThat(history.messages()).isEqualTo(SIZE);
    }

    @Test
    @DisplayName("docs/protocol.md section 5: since in another epoch is not recovered, and the read names the real one")
    void sinceInAnotherEpochIsNotRecovered() {
        Publication first = publish("public:a", "1");
        publish("public:a", "2");

        HistoryRead read = read("public:a", new StreamPosition(1, "other-epoch"));

        assertThat(read.recovered()).isFalse();
        assertThat(read.publications()).isEmpty();
        assertThat(read.latest()).isEqualTo(2);
        assertThat(read.epoch()).isEqualTo(first.epoch());
    }

    @Test
    @DisplayName("docs/protocol.md section 5: since ahead of the latest offset is not recovered")
    void sinceAheadOfLatestIsNotRecovered() {
        Publication only = publish("public:a", "1");

        HistoryRead read = read("public:a", new StreamPosition(2, only.epoch()));

        assertThat(read.recovered()).isFalse();
        assertThat(read.publications()).isEmpty();
        assertThat(read.latest()).isEqualTo(1);
    }

    @Test
    @DisplayName("docs/protocol.md section 5: messages stay recoverable for the whole historyTtl")
    void messagesStayRecoverableForTheTtl() {
        Publication first = publish("public:a", "1");
        publish("public:a", "2");

        advanceMillis(TTL_MS);
        HistoryRead read = read("public:a", new StreamPosition(0, first.epoch()));

        assertThat(read.recovered()).isTrue();
        assertThat(offsets(read)).containsExactly(1L, 2L);
    }

    @Test
    @DisplayName("docs/protocol.md section 5: after historyTtl held messages expire and an old since is not recovered")
    void expiredMessagesMakeAnOldSinceUnrecoverable() {
        Publication first = publish("public:a", "1");
        publish("public:a", "2");
        advanceMillis(TTL_MS / 2);
        publish("public:a", "3");

        advanceMillis(TTL_MS / 2 + 1); // 1 and 2 are past the TTL, 3 is not
        HistoryRead old = read("public:a", new StreamPosition(0, first.epoch()));
        HistoryRead recent = read("public:a", new StreamPosition(2, first.epoch()));

        assertThat(old.recovered()).isFalse();
        assertThat(old.publications()).isEmpty();
        assertThat(old.latest()).isEqualTo(3);
        assertThat(recent.recovered()).isTrue();
        assertThat(offsets(recent)).containsExactly(3L);
        assertThat(history.messages()).isEqualTo(1);
    }

    @Test
    @DisplayName(
            "docs/protocol.md section 5: when everything has expired, only since at the latest offset is recovered")
    void allExpiredOnlyLatestIsRecovered() {
        Publication first = publish("public:a", "1");
        publish("public:a", "2");

        advanceMillis(TTL_MS + 1);
        HistoryRead atLatest = read("public:a", new StreamPosition(2, first.epoch()));
        HistoryRead behind = read("public:a", new StreamPosition(1, first.epoch()));

        assertThat(atLatest.recovered()).isTrue();
        assertThat(atLatest.publications()).isEmpty();
        assertThat(behind.recovered()).isFalse();
        assertThat(history.messages()).isZero();
        assertThat(publish("public:a", "3").offset())
                .as("offsets go on after expiry")
                .isEqualTo(3);
    }

    @Test
    @DisplayName(
            "docs/protocol.md section 5: an idle channel is dropped and its next use starts a new epoch at offset 1")
    void evictIdleDropsUnusedChannelsAndTheNextUseGetsANewEpoch() {
        Publication old = publish("public:a", "1");
        publish("public:a", "2");

        advanceMillis(TTL_MS + 1);
        int evicted = history.evictIdle(channel -> false);

        assertThat(evicted).isEqualTo(1);
        assertThat(history.channels()).isZero();
        assertThat(history.messages()).isZero();
        HistoryRead read = read("public:a", new StreamPosition(2, old.epoch()));
        assertThat(read.recovered()).isFalse();
        assertThat(read.latest()).isZero();
        assertThat(read.epoch()).isNotEqualTo(old.epoch());
        Publication next = publish("public:a", "3");
        assertThat(next.offset()).isEqualTo(1);
        assertThat(next.epoch()).isEqualTo(read.epoch());
    }

    @Test
    @DisplayName(
            "docs/protocol.md section 5: evictIdle keeps idle channels the predicate says are in use, epoch and offsets")
    void evictIdleKeepsChannelsInUse() {
        Publication kept = publish("public:kept", "1");
        publish("public:kept", "2");
        publish("public:dropped", "1");

        advanceMillis(TTL_MS + 1);
        List<String> asked = new ArrayList<>();
        int evicted = history.evictIdle(channel -> {
            asked.add(channel);
            return channel.equals("public:kept");
        });

        assertThat(evicted).isEqualTo(1);
        assertThat(asked).containsExactlyInAnyOrder("public:kept", "public:dropped");
        assertThat(history.channels()).isEqualTo(1);
        HistoryRead read = read("public:kept", new StreamPosition(2, kept.epoch()));
        assertThat(read.recovered()).isTrue();
        assertThat(read.epoch()).isEqualTo(kept.epoch());
        assertThat(read.latest()).isEqualTo(2);
        Publication next = publish("public:kept", "3");
        assertThat(next.offset()).isEqualTo(3);
        assertThat(next.epoch()).isEqualTo(kept.epoch());
    }

    @Test
    @DisplayName("evictIdle keeps channels used within the TTL, even when nothing claims them")
    void evictIdleKeepsRecentlyUsedChannels() {
        publish("public:a", "1");
        advanceMillis(TTL_MS + 1);
        read("public:a", null); // a read is a use
        advanceMillis(TTL_MS / 2);

        assertThat(history.evictIdle(channel -> false)).isZero();
        assertThat(history.channels()).isEqualTo(1);
        assertThat(publish("public:a", "2").offset()).isEqualTo(2);
    }

    @Test
    @DisplayName("messages() counts held messages over all channels; channels() counts channels with state")
    void messagesAndChannelsCounts() {
        assertThat(history.channels()).isZero();
        assertThat(history.messages()).isZero();

        publish("public:a", "1");
        publish("public:a", "2");
        publish("public:b", "1");
        assertThat(history.channels()).isEqualTo(2);
        assertThat(history.messages()).isEqualTo(3);

        for (int i = 0; i < 10; i++) {
            publish("public:a", "more" + i);
        }
        assertThat(history.messages()).as("a holds at most %d", SIZE).isEqualTo(SIZE + 1);

        advanceMillis(TTL_MS + 1);
        assertThat(history.evictIdle(channel -> channel.equals("public:b"))).isEqualTo(1);
        assertThat(history.channels()).isEqualTo(1);
        assertThat(history.messages()).as("b's message expired, a was dropped").isZero();
    }

    @Test
    @DisplayName("with historySize 0 nothing is held: only since at the latest offset is recovered")
    void zeroSizeHoldsNothing() {
        MemoryHistory none = new MemoryHistory(0, TTL_MS, () -> now, ids);
        Publication first = publish(none, "public:a", "1");
        publish(none, "public:a", "2");

        assertThat(none.messages()).isZero();
        assertThat(none.read("public:a", new StreamPosition(1, first.epoch()))
                        .block()
                        .recovered())
                .isFalse();
        HistoryRead atLatest =
                none.read("public:a", new StreamPosition(2, first.epoch())).block();
        assertThat(atLatest.recovered()).isTrue();
        assertThat(atLatest.publications()).isEmpty();
    }

    @Test
    @DisplayName("a read is lazy: nothing happens until the Mono is subscribed")
    void readIsLazy() {
        var mono = history.read("public:lazy", null);

        assertThat(history.channels()).isZero();
        assertThat(mono.block().latest()).isZero();
        assertThat(history.channels()).isEqualTo(1);
    }

    @Test
    @DisplayName("publications of one channel appended from several threads get distinct, gap-free offsets")
    void concurrentAppendsGetDistinctOffsets() throws InterruptedException {
        MemoryHistory big = new MemoryHistory(10_000, TTL_MS, () -> now, ids);
        List<Long> seen = Collections.synchronizedList(new ArrayList<>());
        Thread[] threads = new Thread[4];
        for (int t = 0; t < threads.length; t++) {
            threads[t] = new Thread(() -> {
                for (int i = 0; i < 500; i++) {
                    big.append("public:a", Publication.MESSAGE, null, "1", 0, p -> seen.add(p.offset()));
                }
            });
            threads[t].start();
        }
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(10));
        }

        assertThat(seen).hasSize(2000);
        assertThat(seen)
                .as("the callback runs under the channel's lock, in offset order")
                .isSorted();
        assertThat(seen).doesNotHaveDuplicates().contains(1L, 2000L);
    }

    // ---- the budget over all channels and inboxes

    /** The estimated cost of a channel of an 8-character name holding one message of {@code text}. */
    private static long channelWithOneMessage(String text) {
        return MemoryHistory.CHANNEL_OVERHEAD
                + "public:a".length()
                + MemoryHistory.MESSAGE_OVERHEAD
                + "u_alice".length()
                + ("{\"text\":\"" + text + "\"}").length();
    }

    private MemoryHistory budgeted(long budget, Predicate<String> inUse) {
        return new MemoryHistory(SIZE, TTL_MS, budget, inUse, () -> now, ids);
    }

    @Test
    @DisplayName("a flood of publishes to fresh channels never takes the history over its budget; evictions are"
            + " counted")
    void floodOfFreshChannelsStaysWithinTheBudget() {
        String text = "x".repeat(1_000);
        long budget = 20 * channelWithOneMessage(text);
        MemoryHistory h = budgeted(budget, channel -> false);

        for (int i = 0; i < 5_000; i++) {
            publish(h, "public:" + Integer.toString(i, 36), text);
            assertThat(h.bytes()).as("after publish %d", i).isLessThanOrEqualTo(budget);
        }

        assertThat(h.channels()).isBetween(10L, 20L);
        assertThat(h.evictions()).isEqualTo(5_000 - h.channels());
        assertThat(h.bytes()).isPositive();
    }

    @Test
    @DisplayName(
            "docs/protocol.md section 5: over the budget the least recently used channel goes first, a read counts as"
                    + " a use, and a since into the dropped history is answered recovered:false")
    void leastRecentlyUsedChannelGoesFirst() {
        long budget = 3 * channelWithOneMessage("1") + 10;
        MemoryHistory h = budgeted(budget, channel -> false);
        Publication a = publish(h, "public:a", "1");
        Publication b = publish(h, "public:b", "1");
        publish(h, "public:c", "1");
        advanceMillis(1);
        h.read("public:a", null).block();

        publish(h, "public:d", "1");

        assertThat(h.evictions()).isEqualTo(1);
        assertThat(h.channels()).isEqualTo(3);
        assertThat(h.read("public:a", new StreamPosition(0, a.epoch())).block().recovered())
                .isTrue();
        HistoryRead lost = h.read("public:b", new StreamPosition(0, b.epoch())).block();
        assertThat(lost.recovered()).isFalse();
        assertThat(lost.publications()).isEmpty();
    }

    @Test
    @DisplayName(
            "docs/protocol.md section 5: a channel dropped for the budget comes back with a new epoch at offset 1, so"
                    + " no offset is handed out twice in an epoch")
    void droppedChannelComesBackWithANewEpoch() {
        MemoryHistory h = budgeted(2 * channelWithOneMessage("1") + 10, channel -> false);
        Publication old = publish(h, "public:a", "1");
        publish(h, "public:a", "2");
        publish(h, "public:b", "1");
        publish(h, "public:c", "1");

        HistoryRead read =
                h.read("public:a", new StreamPosition(1, old.epoch())).block();
        Publication again = publish(h, "public:a", "3");

        assertThat(read.recovered()).isFalse();
        assertThat(read.epoch()).isNotEqualTo(old.epoch());
        assertThat(read.latest()).isZero();
        assertThat(again.offset()).isEqualTo(1);
        assertThat(again.epoch()).isEqualTo(read.epoch()).isNotEqualTo(old.epoch());
    }

    @Test
    @DisplayName("docs/protocol.md section 5: a channel with subscribers loses its messages to the budget but keeps its"
            + " epoch and offsets; since before them is recovered:false, since at the latest offset true")
    void channelInUseKeepsItsEpochAndOffsets() {
        MemoryHistory h = budgeted(2 * channelWithOneMessage("1") + 10, channel -> channel.equals("public:a"));
        Publication a1 = publish(h, "public:a", "1");
        Publication a2 = publish(h, "public:a", "2");
        advanceMillis(1);
        publish(h, "public:b", "1");
        publish(h, "public:c", "1");

        HistoryRead before =
                h.read("public:a", new StreamPosition(1, a1.epoch())).block();
        HistoryRead latest =
                h.read("public:a", new StreamPosition(2, a1.epoch())).block();
        Publication a3 = publish(h, "public:a", "3");

        assertThat(h.evictions()).isPositive();
        assertThat(before.recovered()).isFalse();
        assertThat(before.epoch()).isEqualTo(a1.epoch());
        assertThat(before.latest()).isEqualTo(a2.offset());
        assertThat(latest.recovered()).isTrue();
        assertThat(a3.offset()).isEqualTo(3);
        assertThat(a3.epoch()).isEqualTo(a1.epoch());
    }

    @Test
    @DisplayName("channels only read (subscribed to, never published) count toward the budget too")
    void readsOfFreshChannelsStayWithinTheBudget() {
        long budget = 50L * (MemoryHistory.CHANNEL_OVERHEAD + 16);
        MemoryHistory h = budgeted(budget, channel -> false);

        for (int i = 0; i < 1_000; i++) {
            h.read("public:fresh-" + i, null).block();
            assertThat(h.bytes()).isLessThanOrEqualTo(budget);
        }

        assertThat(h.channels()).isLessThanOrEqualTo(50);
        assertThat(h.evictions()).isPositive();
    }

    @Test
    @DisplayName("expiry, trimming to historySize and idle eviction give their bytes back")
    void bytesGoBackWhenMessagesGo() {
        MemoryHistory h = budgeted(1L << 30, channel -> false);
        publish(h, "public:a", "1");
        long one = h.bytes();
        for (int i = 0; i < 10; i++) {
            publish(h, "public:a", "1");
        }
        assertThat(h.bytes())
                .as("trimmed to %d messages", SIZE)
                .isEqualTo(one + (SIZE - 1) * (MemoryHistory.MESSAGE_OVERHEAD + "u_alice".length() + 12));

        advanceMillis(TTL_MS + 1);
        h.read("public:a", null).block();
        assertThat(h.bytes()).as("expired").isEqualTo(MemoryHistory.CHANNEL_OVERHEAD + "public:a".length());

        advanceMillis(TTL_MS + 1);
        h.evictIdle(channel -> false);
        assertThat(h.bytes()).isZero();
        assertThat(h.evictions()).as("idle eviction is not a budget eviction").isZero();
    }

    @Test
    @DisplayName("text is counted one byte per character when it is all Latin-1, else two")
    void textBytesFollowCompactStrings() {
        assertThat(MemoryHistory.textBytes(null)).isZero();
        assertThat(MemoryHistory.textBytes("{\"a\":\"\u00e9\"}")).isEqualTo(9);
        assertThat(MemoryHistory.textBytes("{\"a\":\"\u20ac\"}")).isEqualTo(18);
    }

    @Test
    @DisplayName("appends and reads from several threads over a small budget keep it, and every channel's offsets"
            + " stay gap-free within an epoch")
    void concurrentFloodKeepsTheBudget() throws InterruptedException {
        long budget = 40 * channelWithOneMessage("1");
        MemoryHistory h = budgeted(budget, channel -> channel.equals("public:0"));
        ConcurrentHashMap<String, Long> last = new ConcurrentHashMap<>();
        List<String> problems = Collections.synchronizedList(new ArrayList<>());
        Thread[] threads = new Thread[4];
        for (int t = 0; t < threads.length; t++) {
            int seed = t;
            threads[t] = new Thread(() -> {
                SplittableRandom random = new SplittableRandom(seed);
                for (int i = 0; i < 5_000; i++) {
                    String channel = "public:" + random.nextInt(200);
                    if (random.nextInt(4) == 0) {
                        h.read(channel, null).block();
                    } else {
                        h.append(channel, Publication.MESSAGE, "u_a", "1", 0, p -> {
                            Long before = last.put(p.channel() + "/" + p.epoch(), p.offset());
                            if (before != null && before + 1 != p.offset()) {
                                problems.add(p.channel() + " " + before + " then " + p.offset());
                            }
                        });
                    }
                }
            });
            threads[t].start();
        }
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(30));
        }

        assertThat(problems).isEmpty();
        assertThat(h.bytes()).isLessThanOrEqualTo(budget);
        assertThat(h.evictions()).isPositive();
    }
}
