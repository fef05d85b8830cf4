package io.switchboard.gateway.session;

/** Where a {@link Session} is in its life: awaiting {@code hello}, open, closing (close frame sent), closed. */
enum SessionState {
    AWAITING_HELLO,
    OPEN,
    CLOSING,
    CLOSED
}
