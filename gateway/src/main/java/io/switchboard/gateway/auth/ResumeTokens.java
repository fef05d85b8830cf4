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
import java.util.Date;

/**
 * The {@code resume} tokens of {@code welcome}: signed (HS256) claims naming the user, whether it is a guest,
 * and the session they came from. Whether a token still resumes is the session registry's call (the session
 * dropped less than {@code resumeGrace} ago); the token itself only proves where it came from. Every instance
 * of a cluster must share the secret.
 */
public final class ResumeTokens {
    /** A token older than this is refused whatever the registry says. */
    public static final Duration MAX_AGE = Duration.ofDays(1);

    /** What a valid token says. */
    public record Claim(String user, boolean guest, String session) {
    }

    private final MACSigner signer;
    private final MACVerifier verifier;
    private final Clock clock;

    /** @param secret at least 32 bytes, or null for a random one (tokens then resume on this instance only) */
    public ResumeTokens(String secret, Clock clock) {
        byte[] key;
        if (secret == null) {
            key = new byte[32];
            new SecureRandom().nextBytes(key);
        } else {
            key = secret.getBytes(StandardCharsets.UTF_8);
        }
        try {
            this.signer = new MACSigner(key);
            this.verifier = new MACVerifier(key);
        } catch (JOSEException e) {
            throw new IllegalArgumentException("the resume secret must be at least 32 bytes", e);
        }
        this.clock = clock;
    }

    public String issue(String user, boolean guest, String session) {
        JWTClaimsSet claims = new JWTClaimsSet.Builder().subject(user).claim("guest", guest).claim("sid", session)
                .issueTime(Date.from(clock.instant())).build();
        SignedJWT jwt = new SignedJWT(new JWSHeader(JWSAlgorithm.HS256), claims);
        try {
            jwt.sign(signer);
        } catch (JOSEException e) {
            throw new IllegalStateException(e);
        }
        return jwt.serialize();
    }

    /** The claim of a token this gateway signed and that is not too old, else null. */
    public Claim verify(String token) {
        try {
            SignedJWT jwt = SignedJWT.parse(token);
            if (!JWSAlgorithm.HS256.equals(jwt.getHeader().getAlgorithm()) || !jwt.verify(verifier)) {
                return null;
            }
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
        } catch (ParseException | JOSEException | RuntimeException e) {
            return null;
        }
    }
}
