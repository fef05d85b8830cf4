package io.switchboard.gateway.auth;

import static org.assertj.core.api.Assertions.assertThat;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.crypto.MACVerifier;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;

/** Resume tokens (docs/protocol.md section 2) and the keys that sign and verify them, with a clock the test moves. */
class ResumeTokensUnitTests {
    private static final String SECRET = "resume-secret-0123456789-abcdefghij";
    private static final String OTHER = "another-secret-0123456789-abcdefghij";

    /** A clock that only moves when told. */
    private static final class TestClock extends Clock {
        private Instant now = Instant.parse("2030-01-01T00:00:00Z");

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    private final TestClock clock = new TestClock();

    @Test
    @DisplayName("a token says who, whether a guest, and which session; a changed one does not verify")
    void issuedTokenVerifies() {
        ResumeTokens tokens = new ResumeTokens(SECRET, clock);
        String token = tokens.issue("g_1", true, "s_1");

        assertThat(tokens.verify(token)).isEqualTo(new ResumeTokens.Claim("g_1", true, "s_1"));
        assertThat(tokens.verify(token.substring(0, token.length() - 2) + "xy")).isNull();
        assertThat(tokens.verify("not a token")).isNull();
        assertThat(tokens.fixed()).isTrue();
    }

    @Test
    @DisplayName("a token is a standard HS256 JWT: any JOSE library verifies it and reads its claims")
    void issuedTokenIsAStandardJwt() throws Exception {
        ResumeTokens tokens = new ResumeTokens(SECRET, clock);
        String token = tokens.issue("alice@example.com|1", false, "s_Ab9");

        SignedJWT jwt = SignedJWT.parse(token);
        assertThat(jwt.getHeader().getAlgorithm()).isEqualTo(JWSAlgorithm.HS256);
        assertThat(jwt.verify(new MACVerifier(SECRET.getBytes(StandardCharsets.UTF_8))))
                .isTrue();
        JWTClaimsSet claims = jwt.getJWTClaimsSet();
        assertThat(claims.getSubject()).isEqualTo("alice@example.com|1");
        assertThat(claims.getClaim("guest")).isEqualTo(false);
        assertThat(claims.getStringClaim("sid")).isEqualTo("s_Ab9");
        assertThat(claims.getIssueTime().toInstant()).isEqualTo(clock.instant());
    }

    @Test
    @DisplayName("without a secret the key is random: another instance's tokens do not verify until it is shared")
    void randomKeyUntilShared() {
        ResumeTokens a = new ResumeTokens(null, clock);
        ResumeTokens b = new ResumeTokens(null, clock);
        assertThat(a.fixed()).isFalse();
        assertThat(a.signingSecret().length()).isGreaterThanOrEqualTo(ResumeTokens.MIN_SECRET_BYTES);
        String token = a.issue("g_1", true, "s_1");
        assertThat(b.verify(token)).isNull();

        b.signWith(a.signingSecret(), true);
        assertThat(b.verify(token)).isNotNull();
    }

    @Test
    @DisplayName("after the signing key changes, tokens signed before still verify for a day, then no longer")
    void previousKeyVerifiesForMaxAge() {
        ResumeTokens tokens = new ResumeTokens(null, clock);
        String before = tokens.issue("g_1", true, "s_1");
        tokens.signWith(OTHER, true);
        String after = tokens.issue("g_2", true, "s_2");

        assertThat(tokens.verify(before)).isNotNull();
        assertThat(tokens.verify(after)).isNotNull();
        assertThat(tokens.acceptedKeys()).isEqualTo(1);
        clock.advance(ResumeTokens.MAX_AGE.plusSeconds(1));
        assertThat(tokens.verify(before))
                .as("too old anyway, and its key expired")
                .isNull();
        assertThat(tokens.acceptedKeys()).isZero();
    }

    @Test
    @DisplayName("a rotation: tokens signed with any earlier key stop verifying at once")
    void rotationForgetsEarlierKeys() {
        ResumeTokens tokens = new ResumeTokens(null, clock);
        String before = tokens.issue("g_1", true, "s_1");
        tokens.accept(SECRET, clock.instant().plus(Duration.ofHours(1)));
        tokens.signWith(OTHER, false);

        assertThat(tokens.verify(before)).isNull();
        assertThat(tokens.acceptedKeys()).isZero();
        assertThat(tokens.verify(tokens.issue("g_2", true, "s_2"))).isNotNull();
    }

    @Test
    @DisplayName("an accepted key verifies until its deadline; at most MAX_ACCEPTED_KEYS, those expiring first go")
    void acceptedKeysAreBounded() {
        ResumeTokens tokens = new ResumeTokens(null, clock);
        ResumeTokens other = new ResumeTokens(OTHER, clock);
        String theirs = other.issue("g_1", true, "s_1");
        tokens.accept(OTHER, clock.instant().plus(Duration.ofMinutes(10)));
        assertThat(tokens.verify(theirs)).isNotNull();
        clock.advance(Duration.ofMinutes(11));
        assertThat(tokens.verify(theirs)).isNull();

        for (int i = 0; i < ResumeTokens.MAX_ACCEPTED_KEYS + 5; i++) {
            tokens.accept(SECRET + i, clock.instant().plus(Duration.ofMinutes(i + 1)));
        }
        assertThat(tokens.acceptedKeys()).isEqualTo(ResumeTokens.MAX_ACCEPTED_KEYS);
        String newest = new ResumeTokens(SECRET + (ResumeTokens.MAX_ACCEPTED_KEYS + 4), clock).issue("g", true, "s");
        String oldest = new ResumeTokens(SECRET + 0, clock).issue("g", true, "s");
        assertThat(tokens.verify(newest)).isNotNull();
        assertThat(tokens.verify(oldest)).isNull();
    }

    @Test
    @DisplayName("check: a token no known key verifies asks the learner once, and verifies with what it learned")
    void checkAsksTheLearner() {
        ResumeTokens tokens = new ResumeTokens(null, clock);
        String theirs = new ResumeTokens(OTHER, clock).issue("g_1", true, "s_1");
        AtomicInteger asked = new AtomicInteger();
        tokens.learnFrom(() -> Mono.fromRunnable(() -> {
            asked.incrementAndGet();
            tokens.accept(OTHER, clock.instant().plus(Duration.ofHours(1)));
        }));

        StepVerifier.create(tokens.check(theirs))
                .expectNext(new ResumeTokens.Claim("g_1", true, "s_1"))
                .verifyComplete();
        StepVerifier.create(tokens.check("garbage")).verifyComplete();
        assertThat(asked).as("not asked for something that is not a token").hasValue(1);
    }

    @Test
    @DisplayName("check: when the keys cannot be learned the answer fails, so the caller can refuse retryably")
    void checkFailsWhenTheKeysCannotBeLearned() {
        ResumeTokens tokens = new ResumeTokens(null, clock);
        String theirs = new ResumeTokens(OTHER, clock).issue("g_1", true, "s_1");
        tokens.learnFrom(() -> Mono.error(new IllegalStateException("Redis is down")));

        StepVerifier.create(tokens.check(theirs)).verifyErrorMessage("Redis is down");
        StepVerifier.create(tokens.check(tokens.issue("g_2", true, "s_2")))
                .expectNextCount(1)
                .verifyComplete();
    }

    @Test
    @DisplayName("a token older than a day is refused, whoever signed it")
    void oldTokenRefused() {
        ResumeTokens tokens = new ResumeTokens(SECRET, clock);
        String token = tokens.issue("u_1", false, "s_1");
        clock.advance(ResumeTokens.MAX_AGE.plusSeconds(1));

        assertThat(tokens.verify(token)).isNull();
        StepVerifier.create(tokens.check(token)).verifyComplete();
    }
}
