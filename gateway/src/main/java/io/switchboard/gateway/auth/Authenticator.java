package io.switchboard.gateway.auth;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.jwk.source.ImmutableSecret;
import com.nimbusds.jose.proc.BadJOSEException;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.proc.BadJWTException;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.Limits;
import java.nio.charset.StandardCharsets;
import java.text.ParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Verifies client JWTs (HS256 with the configured secret; unsigned and otherwise signed tokens are refused) and
 * turns their claims into an {@link Identity}: {@code sub} is the user id, {@code exp} is required and enforced
 * (a token without it would be good forever),
 * {@code subscribe} and {@code publish} are arrays of channel patterns. A {@code sub} must be a user id as
 * {@link UserIds} defines it (1 to 123 characters of {@code A-Z a-z 0-9 _ - . : @ |}) and must not start with the
 * guest prefix {@code g_}: a token could otherwise take over a live guest's identity, or smuggle a newline into
 * the newline-framed messages instances exchange.
 */
public final class Authenticator {
    /** Tolerated clock difference between the token issuer and this gateway. */
    public static final int MAX_CLOCK_SKEW_SECONDS = 5;

    private final DefaultJWTProcessor<SecurityContext> processor;

    /** @param secret the HS256 secret, or null to refuse every token */
    public Authenticator(String secret) {
        if (secret == null) {
            processor = null;
            return;
        }
        processor = new DefaultJWTProcessor<>();
        processor.setJWSKeySelector(new JWSVerificationKeySelector<>(
                JWSAlgorithm.HS256, new ImmutableSecret<>(secret.getBytes(StandardCharsets.UTF_8))));
        DefaultJWTClaimsVerifier<SecurityContext> verifier = new DefaultJWTClaimsVerifier<>(null, Set.of("sub", "exp"));
        verifier.setMaxClockSkew(MAX_CLOCK_SKEW_SECONDS);
        processor.setJWTClaimsSetVerifier(verifier);
    }

    static final String INFO_CLAIM = "info";

    public Identity authenticate(String token) throws AuthException {
        if (processor == null) {
            throw new AuthException("this gateway accepts no tokens (SWITCHBOARD_JWT_SECRET is not set)");
        }
        JWTClaimsSet claims;
        try {
            claims = processor.process(token, null);
        } catch (ParseException e) {
            throw new AuthException("token is not a JWT");
        } catch (BadJWTException e) {
            throw new AuthException("token rejected: " + e.getMessage());
        } catch (BadJOSEException e) {
            throw new AuthException("token rejected: " + e.getMessage());
        } catch (JOSEException e) {
            throw new AuthException("token could not be verified");
        }
        String sub = claims.getSubject();
        if (sub == null) {
            throw new AuthException("claim 'sub' is missing: expected a user id of 1 to " + UserIds.MAX_LENGTH
                    + " characters of " + UserIds.ALLOWED);
        }
        String problem = UserIds.problem(sub, "claim 'sub'");
        if (problem != null) {
            throw new AuthException(problem);
        }
        if (UserIds.isGuest(sub)) {
            throw new AuthException("claim 'sub' starts with " + UserIds.GUEST_PREFIX
                    + ", which is reserved for guest ids; give registered users ids without it");
        }
        return new Identity(sub, false, patterns(claims, "subscribe"), patterns(claims, "publish"), info(claims));
    }

    /** The claim {@code info}, the user's public data in presence: a JSON object of at most 1 KiB; {@code {}}. */
    private static String info(JWTClaimsSet claims) throws AuthException {
        Object value = claims.getClaim(INFO_CLAIM);
        if (value == null) {
            return Identity.NO_INFO;
        }
        if (!(value instanceof Map<?, ?>)) {
            throw new AuthException(
                    "claim 'info' must be a JSON object of at most " + Limits.MAX_INFO_BYTES + " bytes");
        }
        String json;
        try {
            json = FrameCodec.mapper().writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new AuthException("claim 'info' cannot be read as JSON");
        }
        int bytes = json.getBytes(StandardCharsets.UTF_8).length;
        if (bytes > Limits.MAX_INFO_BYTES) {
            throw new AuthException(
                    "claim 'info' is " + bytes + " bytes of JSON: at most " + Limits.MAX_INFO_BYTES + " are allowed");
        }
        return json;
    }

    private static ChannelPatterns patterns(JWTClaimsSet claims, String name) throws AuthException {
        Object value = claims.getClaim(name);
        if (value == null) {
            return ChannelPatterns.NONE;
        }
        if (!(value instanceof List<?> list)) {
            throw new AuthException("claim '" + name + "' must be an array of channel patterns");
        }
        List<String> out = new ArrayList<>(list.size());
        for (Object o : list) {
            if (!(o instanceof String s)) {
                throw new AuthException("claim '" + name + "' must be an array of channel patterns");
            }
            out.add(s);
        }
        return new ChannelPatterns(out);
    }
}
