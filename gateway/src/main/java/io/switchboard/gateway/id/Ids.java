package io.switchboard.gateway.id;

import java.util.random.RandomGenerator;

/** Makes the random names the gateway hands out: session ids, guest user ids, history epochs. */
public final class Ids {
    private static final char[] ALPHABET =
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".toCharArray();
    private static final int DIGITS_PER_DRAW = 6;
    /** 62 to the power {@link #DIGITS_PER_DRAW}. */
    private static final long DRAW_BOUND = 56_800_235_584L;

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

    /**
     * {@code length} characters, each uniform over {@link #ALPHABET}: the digits in base 62 of uniform numbers below
     * 62<sup>6</sup>, one draw per six characters rather than one per character (a {@code SecureRandom} draw is
     * synchronized and costs far more than the arithmetic).
     */
    private String random(int length) {
        char[] c = new char[length];
        long digits = 0;
        for (int i = 0; i < length; i++) {
            if (i % DIGITS_PER_DRAW == 0) {
                digits = random.nextLong(DRAW_BOUND);
            }
            c[i] = ALPHABET[(int) (digits % ALPHABET.length)];
            digits /= ALPHABET.length;
        }
        return new String(c);
    }
}
