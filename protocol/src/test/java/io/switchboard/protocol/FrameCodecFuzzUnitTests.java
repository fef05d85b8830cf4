package io.switchboard.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Random and mutated text through the client-frame decoder, with a fixed seed so that a failure repeats: every input
 * is either a frame or a {@link FrameDecodeException} with a code of the protocol's table (docs/protocol.md section 4);
 * nothing else escapes, whatever a client sends.
 */
class FrameCodecFuzzUnitTests {
    /** The seed CI uses; set {@code -Dfuzz.seed=N} to explore others. */
    private static final long SEED = Long.getLong("fuzz.seed", 20261129L);

    private static final int ROUNDS = 50_000;
    private static final Set<String> CODES = Set.of(ErrorCodes.BAD_REQUEST, ErrorCodes.UNKNOWN_TYPE);
    private static final List<String> VALID = List.of(
            "{\"type\":\"hello\",\"v\":1,\"token\":\"t\",\"resume\":\"r\",\"inboxSince\":{\"offset\":41,\"epoch\":\"k2\"}}",
            "{\"type\":\"pong\"}",
            "{\"type\":\"subscribe\",\"id\":1,\"channel\":\"public:lobby\",\"since\":{\"offset\":17,\"epoch\":\"a1\"}}",
            "{\"type\":\"unsubscribe\",\"id\":3,\"channel\":\"public:lobby\"}",
            "{\"type\":\"publish\",\"id\":2,\"channel\":\"public:lobby\",\"data\":{\"text\":\"hi\",\"n\":[1,2,{\"a\":null}]}}",
            "{\"type\":\"send\",\"id\":4,\"to\":\"u_bob\",\"data\":\"psst\"}",
            "{\"type\":\"match.join\",\"id\":5,\"interests\":[\"music\",\"chess\"]}",
            "{\"type\":\"match.signal\",\"id\":6,\"match\":\"m_x1\",\"data\":{\"sdp\":\"v=0\"}}",
            "{\"type\":\"match.next\",\"id\":7}",
            "{\"type\":\"match.leave\",\"id\":8}",
            "{\"type\":\"block\",\"id\":9,\"user\":\"u_bob\"}");
    private static final String ALPHABET = "{}[]\":,0123456789-+.eE \\/ntrufalsbd\u00e9\u20ac\ud83d\ude00\u0000\u001f";

    @Test
    @DisplayName("section 4: every valid frame of the corpus decodes")
    void corpusDecodes() throws FrameDecodeException {
        for (String text : VALID) {
            assertThat(FrameCodec.decodeClient(text)).as(text).isNotNull();
        }
    }

    @Test
    @DisplayName("section 4: random and mutated frames decode or fail with bad_request or unknown_type, nothing else")
    void fuzz() {
        Random random = new Random(SEED);
        int decoded = 0;
        int refused = 0;
        for (int round = 0; round < ROUNDS; round++) {
            String text = round % 4 == 0 ? randomText(random) : mutate(random, VALID.get(random.nextInt(VALID.size())));
            try {
                FrameCodec.decodeClient(text);
                decoded++;
            } catch (FrameDecodeException e) {
                assertThat(e.code())
                        .as("seed %s round %s: %s", SEED, round, text)
                        .isIn(CODES);
                assertThat(e.getMessage()).as("an error says what is wrong").isNotBlank();
                refused++;
            } catch (RuntimeException | StackOverflowError e) {
                throw new AssertionError("seed " + SEED + " round " + round + ": " + e + " for " + text, e);
            }
        }
        assertThat(decoded).as("the mutations leave some frames valid").isPositive();
        assertThat(refused).isPositive();
    }

    @Test
    @DisplayName("section 1: a deeply nested data value is refused, not a stack overflow")
    void deepNesting() {
        String deep = "[".repeat(100_000) + "]".repeat(100_000);
        assertThatThrownBy(() -> FrameCodec.decodeClient(
                        "{\"type\":\"publish\",\"id\":1,\"channel\":\"public:x\",\"data\":" + deep + "}"))
                .isInstanceOf(FrameDecodeException.class);
    }

    @Test
    @DisplayName("section 1: a field given twice is bad_request naming it, never read last-wins")
    void duplicateFields() {
        for (String text : List.of(
                "{\"type\":\"publish\",\"id\":1,\"channel\":\"public:a\",\"channel\":\"room:secret\",\"data\":1}",
                "{\"type\":\"publish\",\"id\":1,\"channel\":\"public:a\",\"data\":1,\"data\":2}",
                "{\"type\":\"subscribe\",\"type\":\"publish\",\"id\":1,\"channel\":\"public:a\"}")) {
            assertThatThrownBy(() -> FrameCodec.decodeClient(text))
                    .as(text)
                    .isInstanceOfSatisfying(FrameDecodeException.class, e -> {
                        assertThat(e.code()).isEqualTo(ErrorCodes.BAD_REQUEST);
                        assertThat(e.getMessage()).contains("more than once");
                    });
        }
    }

    @Test
    @DisplayName("section 1: duplicate keys inside data are relayed byte for byte, as the client wrote them")
    void duplicateKeysInsideDataAreData() throws FrameDecodeException {
        ClientFrame.Publish p = (ClientFrame.Publish) FrameCodec.decodeClient(
                "{\"type\":\"publish\",\"id\":1,\"channel\":\"public:a\",\"data\":{\"k\":1,\"k\":2}}");
        assertThat(p.data()).isEqualTo("{\"k\":1,\"k\":2}");
    }

    private static String randomText(Random random) {
        int n = random.nextInt(64);
        StringBuilder b = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            b.append(ALPHABET.charAt(random.nextInt(ALPHABET.length())));
        }
        return b.toString();
    }

    /** One to four edits: a character replaced, inserted or removed, a slice duplicated, or the text cut. */
    private static String mutate(Random random, String valid) {
        StringBuilder b = new StringBuilder(valid);
        int edits = 1 + random.nextInt(4);
        for (int i = 0; i < edits && b.length() > 0; i++) {
            int at = random.nextInt(b.length());
            switch (random.nextInt(5)) {
                case 0 -> b.setCharAt(at, ALPHABET.charAt(random.nextInt(ALPHABET.length())));
                case 1 -> b.insert(at, ALPHABET.charAt(random.nextInt(ALPHABET.length())));
                case 2 -> b.deleteCharAt(at);
                case 3 -> {
                    int end = Math.min(b.length(), at + 1 + random.nextInt(16));
                    b.insert(at, b.substring(at, end));
                }
                default -> b.setLength(at);
            }
        }
        return b.toString();
    }
}
