package io.switchboard.gateway.config;

import io.netty.channel.epoll.Epoll;
import io.netty.channel.uring.IoUring;
import java.util.Locale;

/**
 * The kernel interface the gateway's I/O loops use ({@code SWITCHBOARD_TRANSPORT}), logged at start. {@link #AUTO},
 * the default, takes epoll, else Java NIO. io_uring (Linux 5.14 or later, where {@code kernel.io_uring_disabled} and
 * the container allow it) is there to be chosen: it submits one loop pass's writes in one system call, but measured
 * here it did not lower the CPU of a fan-out, whose cost is the kernel's work per send rather than the system call,
 * and with 10,000 connections Netty's completion queue overflowed (docs/operations.md, I/O transport).
 */
public enum IoTransport {
    AUTO("auto"),
    IO_URING("io_uring"),
    EPOLL("epoll"),
    NIO("nio");

    public static final String VARIABLE = "SWITCHBOARD_TRANSPORT";
    public static final IoTransport DEFAULT = AUTO;

    private final String setting;

    IoTransport(String setting) {
        this.setting = setting;
    }

    /** The value of {@code SWITCHBOARD_TRANSPORT} that names it. */
    public String setting() {
        return setting;
    }

    /** The transport named {@code value} (case ignored), or null when none is. */
    public static IoTransport parse(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT).replace('-', '_');
        for (IoTransport t : values()) {
            if (t.setting.equals(v)) {
                return t;
            }
        }
        return null;
    }

    /** Whether this machine can run it (always for {@link #AUTO} and {@link #NIO}). */
    public boolean available() {
        return switch (this) {
            case AUTO, NIO -> true;
            case IO_URING -> IoUring.isAvailable();
            case EPOLL -> Epoll.isAvailable();
        };
    }

    /** Why this machine cannot run it, in a few words; null when it can. */
    public String unavailableBecause() {
        if (available()) {
            return null;
        }
        Throwable cause = this == IO_URING ? IoUring.unavailabilityCause() : Epoll.unavailabilityCause();
        if (cause == null) {
            return "not supported here";
        }
        Throwable root = cause;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.getMessage() != null ? root.getMessage() : root.getClass().getSimpleName();
    }

    /** The transport to use: this one, or for {@link #AUTO} epoll where the machine has it, else NIO. */
    public IoTransport resolve() {
        if (this != AUTO) {
            return this;
        }
        return EPOLL.available() ? EPOLL : NIO;
    }
}
