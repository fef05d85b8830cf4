package io.switchboard.gateway.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.MACVerifier;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.text.ParseException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.Date;
import java.util.List;
import java.util.function.Supplier;
import reactor.core.publisher.Mono;

/**
 * The {@code resume} tokens of {@code welcome}: signed (HS256) claims naming the user, whether it is a guest,
 * and the session they came from. Whether a token still resumes is the session registry's call (the session
 * dropped less than {@code resumeGrace} ago); the token itself only proves where it came from. Every instance
 * of a cluster must sign with the same secret: a configured one, or, when none is configured, one the instances
 * share through Redis ({@code RedisResumeSecret}), which replaces the random key this starts with.
 *
 * <p>Besides the key that signs, a few others may verify until a deadline: the keys this instance signed with
 * before it learned the cluster's, and those other instances signed with before they did, so that no token
 * handed out stops resuming because the key changed under it.
 */
public final class ResumeTokens {
    /** A token older than this is refused whatever the registry says. */
    public static final Duration MAX_AGE = Duration.ofDays(1);
    /** The most keys that verify besides the signing one; beyond it the one that expires first goes. */
    public static final int MAX_ACCEPTED_KEYS = 16;
    /** HS256 needs a key of at least 256 bits. */
    public static final int MIN_SECRET_BYTES = 32;
    /** Bytes of randomness in a generated secret (before base64). */
    public static final int RANDOM_SECRET_BYTES = 48;

    /** What a valid token says. */
    public record Claim(String user, boolean guest, String session) {}

    /** One secret with its signer and verifier; {@code until} is when it stops verifying (null: never). */
    private record Key(String secret, MACSigner signer, MACVerifier verifier, Instant until) {
        static Key of(String secret, Instant until) {
            byte[] bytes = secret.getBytes(StandardCharsets.UTF_8);
            try {
                return new Key(secret, new MACSigner(bytes), new MACVerifier(bytes), until);
            } catch (JOSEException e) {
                throw new IllegalArgumentException("the resume secret must be at least 32 bytes", e);
            }
        }
    }

    private final boolean fixed;
    private final Clock clock;
    private volatile Key signing;
    private volatile List<Key> accepted = List.of();
    private volatile Supplier<Mono<Void>> learner;

    /**
     * @param secret at least 32 bytes, or null for a random one, which only this instance knows until
     *               {@link #signWith} gives the cluster's
     */
    public ResumeTokens(String secret, Clock clock) {
        this.fixed = secret != null;
        this.clock = clock;
        this.signing = Key.of(secret != null ? secret : randomSecret(), null);
    }

    /** A fresh random secret: {@link #RANDOM_SECRET_BYTES} bytes from a {@link SecureRandom}, base64. */
    public static String randomSecret() {
        byte[] bytes = new byte[RANDOM_SECRET_BYTES];
        new SecureRandom().nextBytes(bytes);
        return Base64.getEncoder().encodeToString(bytes);
    }

    /** Whether the secret was configured; then it never changes and nothing is learned from elsewhere. */
    public boolean fixed() {
        return fixed;
    }

    /** The secret that signs new tokens (to be offered to the other instances; never to be logged). */
    public String signingSecret() {
        return signing.secret();
    }

    /**
     * From now on tokens are signed with {@code secret}. With {@code keepPrevious} the key that signed until now
     * still verifies for {@link #MAX_AGE} (the most a token it signed can still be worth); without, it stops at
     * once, as do all other keys: the secret was rotated.
     */
    public synchronized void signWith(String secret, boolean keepPrevious) {
        Key previous = signing;
        if (previous.secret().equals(secret)) {
            return;
        }
        signing = Key.of(secret, null);
        if (keepPrevious) {
            accept(previous.secret(), clock.instant().plus(MAX_AGE));
        } else {
            accepted = List.of();
        }
    }

    /** Tokens signed with {@code secret} verify until {@code until} (a later deadline of a known key wins). */
    public synchronized void accept(String secret, Instant until) {
        if (secret.equals(signing.secret())) {
            return;
        }
        Instant now = clock.instant();
        List<Key> keys = new ArrayList<>();
        Instant longest = until;
        for (Key k : accepted) {
            if (k.secret().equals(secret)) {
                longest = k.until().isAfter(longest) ? k.until() : longest;
            } else if (k.until().isAfter(now)) {
                keys.add(k);
            }
        }
        if (!longest.isAfter(now)) {
            accepted = List.copyOf(keys);
            return;
        }
        keys.add(Key.of(secret, longest));
        keys.sort(Comparator.comparing(Key::until).reversed());
        accepted = List.copyOf(keys.subList(0, Math.min(MAX_ACCEPTED_KEYS, keys.size())));
    }

    /** How many keys verify besides the signing one (expired ones not counted). */
    public int acceptedKeys() {
        Instant now = clock.instant();
        return (int) accepted.stream().filter(k -> k.until().isAfter(now)).count();
    }

    /**
     * Who to ask when a token looks like one of ours but no known key verifies it: it may have been signed
     * with a key another instance has shared since. The answer fails when the keys cannot be learned now.
     */
    public void learnFrom(Supplier<Mono<Void>> learner) {
        this.learner = learner;
    }

    public String issue(String user, boolean guest, String session) {
        JWTClaimsSet claims = new JWTClaimsSet.Builder()
                .subject(user)
                .claim("guest", guest)
                .claim("sid", session)
                .issueTime(Date.from(clock.instant()))
                .build();
        SignedJWT jwt = new SignedJWT(new JWSHeader(JWSAlgorithm.HS256), claims);
        try {
            jwt.sign(signing.signer());
        } catch (JOSEException e) {
            throw new IllegalStateException(e);
        }
        return jwt.serialize();
    }

    /** The claim of a token signed with a known key and not too old, else null. */
    public Claim verify(String token) {
        SignedJWT jwt = parse(token);
        Claim claim = jwt == null ? null : claimOf(jwt);
        if (claim == null) {
            return null;
        }
        Instant now = clock.instant();
        if (verifies(jwt, signing)) {
            return claim;
        }
        for (Key k : accepted) {
            if (k.until().isAfter(now) && verifies(jwt, k)) {
                return claim;
            }
        }
        return null;
    }

    /**
     * {@link #verify}, and when no known key verifies a token that looks like one of ours, the same again after
     * asking the {@link #learnFrom learner} for the keys shared since. Empty when the token is not valid; fails
     * when it might be but the keys cannot be learned now.
     */
    public Mono<Claim> check(String token) {
        return Mono.defer(() -> {
            Claim claim = verify(token);
            if (claim != null) {
                return Mono.just(claim);
            }
            Supplier<Mono<Void>> l = learner;
            SignedJWT jwt = parse(token);
            if (l == null || jwt == null || claimOf(jwt) == null) {
                return Mono.empty();
            }
            return l.get().then(Mono.fromCallable(() -> verify(token)));
        });
    }

    private static SignedJWT parse(String token) {
        try {
            SignedJWT jwt = SignedJWT.parse(token);
            return JWSAlgorithm.HS256.equals(jwt.getHeader().getAlgorithm()) ? jwt : null;
        } catch (ParseException | RuntimeException e) {
            return null;
        }
    }

    /** What the token claims, when it has the shape of ours and is not too old; its signature is not checked. */
    private Claim claimOf(SignedJWT jwt) {
        try {
            JWTClaimsSet c = jwt.getJWTClaimsSet();
            Date issued = c.getIssueTime();
            if (issued == null || issued.toInstant().plus(MAX_AGE).isBefore(clock.instant())) {
                return null;
            }
            Object guest = c.getClaim("guest");
            String sid = c.getStringClaim("sid");
            if (c.getSubject() == null || sid == null || !(guest instanceof Boolean g)) {
                return null;
            }
            return new Claim(c.getSubject(), g, sid);
        } catch (ParseException | RuntimeException e) {
            return null;
        }
    }

    private static boolean verifies(SignedJWT jwt, Key key) {
        try {
            return jwt.verify(key.verifier());
        } catch (JOSEException | RuntimeException e) {
            return false;
        }
    }
}
