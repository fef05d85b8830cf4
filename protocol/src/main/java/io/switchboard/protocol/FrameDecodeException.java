package io.switchboard.protocol;

/**
 * A text frame that is not a valid frame. Carries the error code to answer with and, when the frame's id could
 * be read, that id, so the error reply can be correlated.
 */
public final class FrameDecodeException extends Exception {
    private final String code;
    private final Long id;

    public FrameDecodeException(String code, Long id, String message) {
        super(message, null, false, false);
        this.code = code;
        this.id = id;
    }

    public String code() {
        return code;
    }

    public Long id() {
        return id;
    }
}
