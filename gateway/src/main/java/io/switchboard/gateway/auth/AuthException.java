package io.switchboard.gateway.auth;

/** A token that does not authenticate; the message says why without repeating the token. */
public final class AuthException extends Exception {
    public AuthException(String message) {
        super(message, null, false, false);
    }
}
