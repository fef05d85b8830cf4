package io.switchboard.gateway.support;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;

/** Client JWTs for tests, signed with {@link TestGateway#JWT_SECRET} unless said otherwise. */
public final class Tokens {
    private Tokens() {}

    public static String user(String sub) {
        return hs256(TestGateway.JWT_SECRET, sub, Instant.now().plusSeconds(600), List.of(), List.of());
    }

    public static String user(String sub, List<String> subscribe, List<String> publish) {
        return hs256(TestGateway.JWT_SECRET, sub, Instant.now().plusSeconds(600), subscribe, publish);
    }

    /** A user whose token carries the claim {@code info} (public data shown in presence). */
    public static String userWithInfo(String sub, Map<String, Object> info) {
        JWTClaimsSet claims = new JWTClaimsSet.Builder(
                        claims(sub, Instant.now().plusSeconds(600), List.of(), List.of()))
                .claim("info", info)
                .build();
        return sign(JWSAlgorithm.HS256, TestGateway.JWT_SECRET, claims);
    }

    public static String hs256(String secret, String sub, Instant exp, List<String> subscribe, List<String> publish) {
        return sign(JWSAlgorithm.HS256, secret, claims(sub, exp, subscribe, publish));
    }

    public static String sign(JWSAlgorithm alg, String secret, JWTClaimsSet claims) {
        try {
            SignedJWT jwt = new SignedJWT(new JWSHeader(alg), claims);
            jwt.sign(new MACSigner(secret.getBytes(StandardCharsets.UTF_8)));
            return jwt.serialize();
        } catch (JOSEException e) {
            throw new IllegalStateException(e);
        }
    }

    /** An unsigned token ({@code alg: none}). */
    public static String unsigned(String sub) {
        return new PlainJWT(claims(sub, Instant.now().plusSeconds(600), List.of(), List.of())).serialize();
    }

    public static JWTClaimsSet claims(String sub, Instant exp, List<String> subscribe, List<String> publish) {
        JWTClaimsSet.Builder b = new JWTClaimsSet.Builder().subject(sub).expirationTime(Date.from(exp));
        if (!subscribe.isEmpty()) {
            b.claim("subscribe", subscribe);
        }
        if (!publish.isEmpty()) {
            b.claim("publish", publish);
        }
        return b.build();
    }
}
