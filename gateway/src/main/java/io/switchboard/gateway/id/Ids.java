package io.switchboard.gateway.id;

import java.util.random.RandomGenerator;

/** Makes the random names the gateway hands out: session ids, guest user ids, history epochs. */
public final class Ids {
    private static final char[] ALPHABET =
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".toCharArray();
    private final RandomGenerator random;

    public Ids(RandomGenerator random) {
        this.random = random;
    }

    public String session() {
        return "s_" + random(12);
    }

    public String guest() {
        return "g_" + random(12);
    }

    public String epoch() {
        return random(8);
    }

    private String random(int length) {
        char[] c = new char[length];
        for (int i = 0; i < length; i++) {
            c[i] = ALPHABET[random.nextInt(ALPHABET.length)];
        }
        return new String(c);
    }
}
