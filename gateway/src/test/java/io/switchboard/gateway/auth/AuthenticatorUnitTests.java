package io.switchboard.gateway.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import io.switchboard.gateway.id.Ids;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Client token verification, docs/protocol.md section 2: HS256 with the configured secret, {@code sub} is the user id,
 * {@code exp} is enforced, {@code subscribe} and {@code publish} are arrays of channel patterns.
 */
class AuthenticatorUnitTests {

    /** 64 bytes, so that the same secret can also sign HS384 and HS512 tokens. */
    private static final String SECRET = "switchboard-unit-test-secret-0123456789-abcdefghijklmnopqrstuvwx";

    private static final String OTHER_SECRET = "another-secret-that-is-long-enough-0123456789-abcdefghijklmnopq";

    private final Authenticator authenticator = new Authenticator(SECRET);

    private static JWTClaimsSet.Builder claims(String sub) {
        return new JWTClaimsSet.Builder()
                .subject(sub)
                .issueTime(Date.from(Instant.now()))
                .expirationTime(Date.from(Instant.now().plus(Duration.ofHours(1))));
    }

    private static String sign(JWSAlgorithm alg, String secret, JWTClaimsSet claims) {
        try {
            SignedJWT jwt = new SignedJWT(new JWSHeader(alg), claims);
            jwt.sign(new MACSigner(secret.getBytes(StandardCharsets.UTF_8)));
            return jwt.serialize();
        } catch (JOSEException e) {
            throw new AssertionError(e);
        }
    }

    private static String hs256(JWTClaimsSet claims) {
        return sign(JWSAlgorithm.HS256, SECRET, claims);
    }

    private static String base64Url(String json) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(json.getBytes(StandardCharsets.UTF_8));
    }

    /** An HS256 token over exactly {@code json}, for claims the builder would not write. */
    private static String signPayload(String json) {
        String header = base64Url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
        String payload = base64Url(json);
        try {
            byte[] input = (header + "." + payload).getBytes(StandardCharsets.US_ASCII);
            MACSigner signer = new MACSigner(SECRET.getBytes(StandardCharsets.UTF_8));
            return header + "." + payload + "." + signer.sign(new JWSHeader(JWSAlgorithm.HS256), input);
        } catch (JOSEException e) {
            throw new AssertionError(e);
        }
    }

    /** Refuses {@code token} and checks the reason does not repeat it. */
    private AuthException refused(Authenticator auth, String token) {
        AuthException e = catchThrowableOfType(AuthException.class, () -> auth.authenticate(token));
        assertThat(e).as("token must be refused").isNotNull();
        assertThat(e.getMessage()).isNotBlank().doesNotContain(SECRET).doesNotContain(OTHER_SECRET);
        if (!token.isEmpty()) {
            assertThat(e.getMessage()).doesNotContain(token);
            for (String part : token.split("\\.")) {
                if (part.length() >= 8) {
                    assertThat(e.getMessage())
                            .as("reason repeats a part of the token")
                            .doesNotContain(part);
                }
            }
        }
        return e;
    }

    private AuthException refused(String token) {
        return refused(authenticator, token);
    }

    @Test
    @DisplayName("docs/protocol.md section 2: a valid HS256 token gives its sub and its subscribe and publish patterns")
    void validTokenGivesIdentityWithPatterns() throws AuthException {
        String token = hs256(claims("u_alice")
                .claim("subscribe", List.of("room:1", "team:*"))
                .claim("publish", List.of("room:1"))
                .build());

        Identity who = authenticator.authenticate(token);

        assertThat(who.userId()).isEqualTo("u_alice");
        assertThat(who.guest()).isFalse();
        assertThat(who.subscribe().patterns()).containsExactly("room:1", "team:*");
        assertThat(who.publish().patterns()).containsExactly("room:1");
        assertThat(who.maySubscribe("team:red")).isTrue();
        assertThat(who.mayPublish("team:red")).isFalse();
        assertThat(who.mayPublish("room:1")).isTrue();
    }

    @Test
    @DisplayName("docs/protocol.md section 2: without subscribe and publish claims a token grants only public:")
    void tokenWithoutPatternClaimsGrantsNothingExtra() throws AuthException {
        Identity who = authenticator.authenticate(hs256(claims("u_bob").build()));

        assertThat(who.userId()).isEqualTo("u_bob");
        assertThat(who.subscribe()).isEqualTo(ChannelPatterns.NONE);
        assertThat(who.publish()).isEqualTo(ChannelPatterns.NONE);
        assertThat(who.maySubscribe("public:lobby")).isTrue();
        assertThat(who.maySubscribe("room:1")).isFalse();
    }

    @Test
    @DisplayName("docs/protocol.md section 2: empty pattern arrays are accepted and grant nothing")
    void emptyPatternArraysGrantNothing() throws AuthException {
        Identity who = authenticator.authenticate(hs256(claims("u_carol")
                .claim("subscribe", List.of())
                .claim("publish", List.of())
                .build()));

        assertThat(who.subscribe().patterns()).isEmpty();
        assertThat(who.publish().patterns()).isEmpty();
    }

    @Test
    @DisplayName("docs/protocol.md section 2: an expired token is refused")
    void expiredTokenIsRefused() {
        Instant now = Instant.now();
        String token = hs256(new JWTClaimsSet.Builder()
                .subject("u_alice")
                .issueTime(Date.from(now.minus(Duration.ofHours(2))))
                .expirationTime(Date.from(now.minus(Duration.ofMinutes(1))))
                .build());

        assertThat(refused(token).getMessage()).containsIgnoringCase("expired");
    }

    @Test
    @DisplayName("docs/protocol.md section 2: a token without exp is refused, since it would be good forever")
    void tokenWithoutExpIsRefused() {
        AuthException e =
                refused(hs256(new JWTClaimsSet.Builder().subject("u_forever").build()));
        assertThat(e.getMessage()).contains("exp");
    }

    @Test
    @DisplayName("docs/protocol.md section 2: a token not valid before an hour from now is refused")
    void notYetValidTokenIsRefused() {
        String token = hs256(claims("u_alice")
                .notBeforeTime(Date.from(Instant.now().plus(Duration.ofHours(1))))
                .build());

        refused(token);
    }

    @Test
    @DisplayName("docs/protocol.md section 2: a token signed with another secret is refused")
    void tokenSignedWithAnotherSecretIsRefused() {
        refused(sign(JWSAlgorithm.HS256, OTHER_SECRET, claims("u_alice").build()));
    }

    @Test
    @DisplayName("docs/protocol.md section 2: an unsigned token (alg none) is refused")
    void unsignedTokenIsRefused() {
        String token =
                new PlainJWT(claims("u_alice").claim("subscribe", List.of("*")).build()).serialize();
        assertThat(token).endsWith(".");

        refused(token);
    }

    @Test
    @DisplayName("docs/protocol.md section 2: a signed token whose header is swapped for alg none is refused")
    void signedTokenRelabelledAsNoneIsRefused() {
        String[] parts = hs256(claims("u_alice").build()).split("\\.");
        String none = base64Url("{\"alg\":\"none\"}");

        refused(none + "." + parts[1] + ".");
        refused(none + "." + parts[1] + "." + parts[2]);
    }

    @Test
    @DisplayName("docs/protocol.md section 2: an HS256 token with its signature removed is refused")
    void tokenWithoutSignatureIsRefused() {
        String[] parts = hs256(claims("u_alice").build()).split("\\.");

        refused(parts[0] + "." + parts[1] + ".");
    }

    @Test
    @DisplayName("docs/protocol.md section 2: a token whose claims were changed after signing is refused")
    void tamperedClaimsAreRefused() {
        String[] parts = hs256(claims("u_alice").build()).split("\\.");
        String forged = base64Url(
                "{\"sub\":\"u_admin\",\"exp\":" + (Instant.now().getEpochSecond() + 3600) + ",\"subscribe\":[\"*\"]}");

        refused(parts[0] + "." + forged + "." + parts[2]);
    }

    @Test
    @DisplayName("docs/protocol.md section 2: only HS256 is accepted; HS384 and HS512 with the same secret are refused")
    void otherHmacAlgorithmsAreRefused() {
        refused(sign(JWSAlgorithm.HS384, SECRET, claims("u_alice").build()));
        refused(sign(JWSAlgorithm.HS512, SECRET, claims("u_alice").build()));
    }

    @Test
    @DisplayName("docs/protocol.md section 2: a token without sub is refused")
    void tokenWithoutSubIsRefused() {
        JWTClaimsSet noSub = new JWTClaimsSet.Builder()
                .expirationTime(Date.from(Instant.now().plus(Duration.ofHours(1))))
                .claim("subscribe", List.of("room:1"))
                .build();

        assertThat(refused(hs256(noSub)).getMessage()).contains("sub");
    }

    @Test
    @DisplayName("docs/protocol.md section 2: an empty sub is refused")
    void emptySubIsRefused() {
        assertThat(refused(hs256(claims("").build())).getMessage()).contains("sub");
    }

    @Test
    @DisplayName("a sub too long for an inbox channel name (over 123 characters) is refused; 123 is accepted")
    void overlongSubIsRefused() throws AuthException {
        assertThat(authenticator
                        .authenticate(hs256(claims("u".repeat(123)).build()))
                        .userId())
                .hasSize(123);

        assertThat(refused(hs256(claims("u".repeat(124)).build())).getMessage())
                .contains("sub")
                .contains("123");
    }

    @ParameterizedTest(name = "sub {0}")
    @ValueSource(
            strings = {
                "u_alice",
                "auth0|5f7c8ec7c33c6c004bbafe82",
                "alice@example.com",
                "org:team.member-1_X",
                "G_upper-case-is-not-the-guest-prefix",
                "g",
                "_g_x"
            })
    @DisplayName("a sub of A-Z a-z 0-9 _ - . : @ | is accepted as the user id")
    void subOfTheDocumentedCharactersIsAccepted(String sub) throws AuthException {
        assertThat(authenticator.authenticate(hs256(claims(sub).build())).userId())
                .isEqualTo(sub);
    }

    @ParameterizedTest(name = "sub {0}")
    @ValueSource(
            strings = {
                "u_a\nb",
                "x\ngw-b",
                "u_a\r",
                "u a",
                "u\tb",
                "u\u0000b",
                "u\u007fb",
                "u_a\u2028",
                "\u00e9mile",
                "u{x}",
                "u}",
                "u/x",
                "u\\x",
                "u\"x",
                "u,x",
                "u*"
            })
    @DisplayName("a sub with whitespace, a control character, a newline or any character outside the set is"
            + " refused, and the reason names the character without repeating the sub")
    void subWithACharacterOutsideTheSetIsRefused(String sub) {
        AuthException e = refused(hs256(claims(sub).build()));

        assertThat(e.getMessage())
                .contains("claim 'sub'")
                .contains("U+")
                .contains("A-Z a-z 0-9 _ - . : @ |")
                .doesNotContain(sub)
                .doesNotContain("\n")
                .doesNotContain("\r");
    }

    @ParameterizedTest(name = "sub {0}")
    @ValueSource(strings = {"g_", "g_Qm3vAbCdEfGh", "g_x\nnode"})
    @DisplayName(
            "docs/protocol.md section 2: a sub with the guest prefix g_ is refused, so no token takes over a guest")
    void subWithTheGuestPrefixIsRefused(String sub) {
        AuthException e = refused(hs256(claims(sub).build()));

        assertThat(e.getMessage()).contains("claim 'sub'");
        if (!sub.contains("\n")) {
            assertThat(e.getMessage()).contains("g_").contains("guest");
        }
    }

    @Test
    @DisplayName("the ids handed to guests are valid user ids with the guest prefix")
    void guestIdsAreValidUserIds() {
        Ids ids = new Ids(new SplittableRandom(7));
        for (int i = 0; i < 100; i++) {
            String guest = ids.guest();
            assertThat(UserIds.isValid(guest)).as(guest).isTrue();
            assertThat(UserIds.isGuest(guest)).as(guest).isTrue();
        }
    }

    @ParameterizedTest(name = "sub {0}")
    @ValueSource(strings = {"{\"id\":\"u_alice\"}", "[\"u_alice\"]", "true", "null"})
    @DisplayName("docs/protocol.md section 2: a sub that is not a string is refused")
    void nonStringSubIsRefused(String sub) throws AuthException {
        long exp = Instant.now().getEpochSecond() + 3600;
        assertThat(authenticator
                        .authenticate(signPayload("{\"sub\":\"u_alice\",\"exp\":" + exp + "}"))
                        .userId())
                .as("the same payload with a string sub is accepted")
                .isEqualTo("u_alice");

        refused(signPayload("{\"sub\":" + sub + ",\"exp\":" + exp + "}"));
    }

    @ParameterizedTest(name = "subscribe {0}")
    @ValueSource(strings = {"[\"room:1\",null]", "[[\"room:1\"]]", "[{\"p\":\"room:1\"}]", "[true]", "5"})
    @DisplayName("docs/protocol.md section 2: a pattern claim that is not an array of strings is refused")
    void patternClaimOfTheWrongShapeIsRefused(String subscribe) {
        long exp = Instant.now().getEpochSecond() + 3600;

        AuthException e =
                refused(signPayload("{\"sub\":\"u_alice\",\"exp\":" + exp + ",\"subscribe\":" + subscribe + "}"));

        assertThat(e.getMessage()).contains("subscribe");
    }

    @ParameterizedTest(name = "<{0}>")
    @ValueSource(
            strings = {
                "",
                "not a token",
                "garbage-garbage-garbage",
                "a.b.c",
                "....",
                "eyJhbGciOiJIUzI1NiJ9",
                "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2lnbmF0dXJl",
                "{\"sub\":\"u_alice\"}"
            })
    @DisplayName("docs/protocol.md section 2: text that is not a JWT is refused")
    void garbageIsRefused(String token) {
        refused(token);
    }

    @Test
    @DisplayName("docs/protocol.md section 2: a subscribe claim that is a string, not an array, is refused")
    void subscribeClaimAsStringIsRefused() {
        String token = hs256(claims("u_alice").claim("subscribe", "room:1").build());

        assertThat(refused(token).getMessage()).contains("subscribe");
    }

    @Test
    @DisplayName("docs/protocol.md section 2: a publish claim that is an object, not an array, is refused")
    void publishClaimAsObjectIsRefused() {
        String token =
                hs256(claims("u_alice").claim("publish", Map.of("room:1", true)).build());

        assertThat(refused(token).getMessage()).contains("publish");
    }

    @Test
    @DisplayName("docs/protocol.md section 2: a pattern array holding a number is refused")
    void patternArrayWithNumberIsRefused() {
        String subscribe =
                hs256(claims("u_alice").claim("subscribe", List.of("room:1", 5)).build());
        String publish = hs256(claims("u_alice").claim("publish", List.of(7)).build());

        assertThat(refused(subscribe).getMessage()).contains("subscribe");
        assertThat(refused(publish).getMessage()).contains("publish");
    }

    @Test
    @DisplayName("docs/protocol.md section 2: with no secret configured every token is refused")
    void withoutSecretEveryTokenIsRefused() {
        Authenticator noSecret = new Authenticator(null);

        AuthException e = refused(noSecret, hs256(claims("u_alice").build()));
        assertThat(e.getMessage()).contains("SWITCHBOARD_JWT_SECRET");
        refused(noSecret, new PlainJWT(claims("u_alice").build()).serialize());
        refused(noSecret, "not a token");
    }

    @Test
    @DisplayName("a refusal carries no stack trace: it is an expected outcome, not a fault")
    void refusalHasNoStackTrace() {
        AuthException e = refused("not a token");

        assertThat(e.getStackTrace()).isEmpty();
        assertThat(e.getCause()).isNull();
    }
}
