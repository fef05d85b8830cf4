package io.switchboard.gateway.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.support.Closing;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Random and mutated frames through a real session, with a fixed seed so that a failure repeats (issue 15): the
 * gateway never answers {@code internal} (no exception escapes its handling), every close uses a code of the
 * table (docs/protocol.md section 8), and after each batch the connection, or a new one, is served.
 */
class SessionFuzzIntegrationTests {
    private static final long SEED = Long.getLong("fuzz.seed", 15L);
    private static final int FRAMES = 3_000;
    private static final List<String> CORPUS = List.of(
            "{\"type\":\"subscribe\",\"id\":900000001,\"channel\":\"public:fuzz\",\"since\":{\"offset\":2,\"epoch\":\"e1\"}}",
            "{\"type\":\"unsubscribe\",\"id\":900000002,\"channel\":\"public:fuzz\"}",
            "{\"type\":\"publish\",\"id\":900000003,\"channel\":\"public:fuzz\",\"data\":{\"t\":\"hi\",\"n\":[1,{\"a\":null}]}}",
            "{\"type\":\"send\",\"id\":900000004,\"to\":\"u_someone\",\"data\":\"psst\"}",
            "{\"type\":\"match.join\",\"id\":900000005,\"interests\":[\"music\"]}",
            "{\"type\":\"match.signal\",\"id\":900000006,\"match\":\"m_1\",\"data\":{\"sdp\":\"v=0\"}}",
            "{\"type\":\"match.next\",\"id\":900000007}",
            "{\"type\":\"match.leave\",\"id\":900000008}",
            "{\"type\":\"block\",\"id\":900000009,\"user\":\"u_other\"}",
            "{\"type\":\"pong\"}",
            "{\"type\":\"hello\",\"v\":1}");
    private static final String ALPHABET = "{}[]\":,0123456789-.eE \\/ntrufalsbdu\u00e9\ud83d\ude00\u0000";

    @RegisterExtension
    final Closing owned = new Closing();

    @Test
    @DisplayName("sections 1, 4 and 8: mutated frames never make the gateway answer internal, closes use the table's"
            + " codes, and the gateway goes on serving")
    void mutatedFramesThroughTheSession() {
        TestGateway gw =
                owned.keep(TestGateway.start(Map.of("SWITCHBOARD_RATE", "100000", "SWITCHBOARD_BURST", "100000")));
        Random random = new Random(SEED);
        List<ServerFrame.Error> errors = new CopyOnWriteArrayList<>();
        List<Integer> closeCodes = new ArrayList<>();
        SwitchboardClient c = null;
        for (int i = 0; i < FRAMES; i++) {
            if (c == null || c.isClosed()) {
                if (c != null) {
                    closeCodes.add(c.closed().block(TestGateway.TIMEOUT).code());
                }
                c = owned.keep(gw.connect());
                c.events().ofType(ServerFrame.Error.class).subscribe(errors::add);
            }
            String frame = mutate(random, CORPUS.get(random.nextInt(CORPUS.size())));
            c.sendText(frame);
            if (i % 100 == 99) {
                // a request of known shape after each batch: answered, unless this connection was closed meanwhile
                try {
                    c.publish("public:fuzz-check", "1").block(TestGateway.TIMEOUT);
                } catch (SwitchboardException answered) {
                    // a mutated frame that took this request's id got its answer: any code but internal
                    assertThat(answered.code()).isNotEqualTo(ErrorCodes.INTERNAL);
                } catch (RuntimeException closedMeanwhile) {
                    assertThat(c.isClosed())
                            .as("only a closed connection leaves a request unanswered: %s", closedMeanwhile.toString())
                            .isTrue();
                }
            }
        }
        if (c.isClosed()) {
            closeCodes.add(c.closed().block(TestGateway.TIMEOUT).code());
        }
        assertThat(errors).extracting(ServerFrame.Error::code).doesNotContain(ErrorCodes.INTERNAL);
        assertThat(closeCodes)
                .allSatisfy(code -> assertThat(CloseCodes.isKnown(code))
                        .as("close code %s is in the table", code)
                        .isTrue());
        SwitchboardClient after = owned.keep(gw.connect());
        assertThat(after.publish("public:fuzz-check", "2")
                        .block(TestGateway.TIMEOUT)
                        .offset())
                .isPositive();
    }

    /** One to three edits: a character replaced, inserted or removed, or a slice repeated. */
    private static String mutate(Random random, String valid) {
        StringBuilder b = new StringBuilder(valid);
        int edits = 1 + random.nextInt(3);
        for (int i = 0; i < edits && b.length() > 0; i++) {
            int at = random.nextInt(b.length());
            switch (random.nextInt(4)) {
                case 0 -> b.setCharAt(at, ALPHABET.charAt(random.nextInt(ALPHABET.length())));
                case 1 -> b.insert(at, ALPHABET.charAt(random.nextInt(ALPHABET.length())));
                case 2 -> b.deleteCharAt(at);
                default -> b.insert(at, b.substring(at, Math.min(b.length(), at + 1 + random.nextInt(12))));
            }
        }
        return b.toString();
    }
}
