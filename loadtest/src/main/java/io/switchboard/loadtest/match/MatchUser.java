package io.switchboard.loadtest.match;

import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.StreamPosition;
import io.switchboard.protocol.client.CloseStatus;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.protocol.client.SwitchboardException;
import java.util.function.BooleanSupplier;
import java.util.function.LongFunction;

/**
 * One benchmark user on its own connection, looping through random connect (docs/protocol.md section 6):
 * {@code match.join}, wait for {@code match.found}, the initiator sends one {@code match.signal} that the other
 * waits for, then {@code match.leave} and join again (or {@code match.next}). Driven by the connection's frames
 * on its I/O thread; nothing blocks. Time to match is measured from the join's ack to its {@code match.found}.
 * It also checks that its inbox events come in offset order without gaps (section 5), and counts an error if not.
 *
 * <p>Under load the gateway can put the partner's {@code match.signal} in a user's inbox before that user's own
 * {@code match.found} (both events of a pairing are published asynchronously, and the partner may answer its
 * own first). A client that drops a signal for a match it does not know yet would wait forever, so this one keeps
 * it for the {@code match.found} that follows, and counts it ({@link MatchStats#signalBeforeFound()}).
 *
 * <p>Every callback carries the {@link #generation} it was made in; a reset (after an error, or no progress for
 * {@code stuckAfter}) starts a new one, so a late reply to an abandoned step cannot drive the loop twice.
 */
final class MatchUser {
    /** What the initiator relays to its partner: a stand-in for a small SDP offer. */
    static final String SIGNAL_DATA = "{\"sdp\":\"v=0 o=- 1 1 IN IP4 127.0.0.1 s=match-benchmark\"}";

    enum Phase {
        /** Not started. */
        IDLE,
        /** {@code match.join} (or {@code match.next}) sent, its ack not yet received. */
        JOINING,
        /** In the queue. */
        QUEUED,
        /** Matched: signalling, or waiting for the partner's signal. */
        MATCHED,
        /** {@code match.leave} sent. */
        LEAVING,
        /** Stopped: the run is over, the connection closed, or the user gave up after an error. */
        DONE
    }

    private final SwitchboardClient client;
    private final MatchBenchmarkOptions options;
    private final MatchStats stats;
    private final BooleanSupplier running;
    private Phase phase = Phase.IDLE;
    private long phaseSince = System.nanoTime();
    private int generation;
    private long joinSentNanos;
    private long ackNanos;
    /** A {@code match.found} that came before the ack of its join, and what came for that match since. */
    private ServerFrame.MatchFound early;

    private boolean earlySignal;
    private boolean earlyEnded;
    /** The match of a {@code match.signal} that came before its {@code match.found} (see the class comment). */
    private String unclaimedSignal;

    private String match;
    private boolean initiator;
    private long inboxOffset;
    private String inboxEpoch;

    MatchUser(SwitchboardClient client, MatchBenchmarkOptions options, MatchStats stats, BooleanSupplier running) {
        this.client = client;
        this.options = options;
        this.stats = stats;
        this.running = running;
        StreamPosition inbox = client.welcome().inbox();
        if (inbox != null) {
            inboxOffset = inbox.offset();
            inboxEpoch = inbox.epoch();
        }
        client.events().subscribe(this::onEvent, e -> {}, () -> {});
        client.closed().subscribe(this::closed);
    }

    SwitchboardClient client() {
        return client;
    }

    synchronized void start() {
        join();
    }

    /** Whether the user has nothing in flight that the end of the run should wait for. */
    synchronized boolean settled() {
        return phase == Phase.DONE || phase == Phase.QUEUED || phase == Phase.IDLE;
    }

    /** Stops the loop before the connection is closed: replies still in flight are ignored. */
    synchronized void stop() {
        generation++;
        enter(Phase.DONE);
    }

    private synchronized void closed(CloseStatus status) {
        if (phase != Phase.DONE) {
            stats.error("connection closed " + status.code() + " " + status.reason());
            generation++;
            enter(Phase.DONE);
        }
    }

    /** Counts an error and starts over when the user has been in one phase longer than {@code stuckAfter}. */
    synchronized void checkProgress(long now) {
        boolean waiting =
                phase == Phase.JOINING || phase == Phase.QUEUED || phase == Phase.MATCHED || phase == Phase.LEAVING;
        if (waiting && now - phaseSince > options.stuckAfter().toNanos()) {
            stats.error("no progress for " + options.stuckAfter().toSeconds() + " s while " + phase);
            restart();
        }
    }

    private void join() {
        if (!running.getAsBoolean()) {
            enter(Phase.DONE);
            return;
        }
        enter(Phase.JOINING);
        clearEarly();
        joinSentNanos = System.nanoTime();
        if (stats.inWindow(joinSentNanos)) {
            stats.join();
        }
        send("match.join", id -> new ClientFrame.MatchJoin(id, options.interests()), this::queued);
    }

    /** The ack of {@code match.join} or {@code match.next}: in the queue, or already matched. */
    private void queued() {
        ackNanos = System.nanoTime();
        if (stats.inWindow(ackNanos)) {
            stats.joinAck(ackNanos - joinSentNanos);
        }
        if (early != null) {
            ServerFrame.MatchFound f = early;
            boolean signalled = earlySignal;
            boolean ended = earlyEnded;
            clearEarly();
            if (stats.inWindow(ackNanos)) {
                stats.foundBeforeAck();
            }
            matched(f, 0);
            // The partner's signal (or the end) can overtake the ack too: it is for this match, handle it now.
            if (phase == Phase.MATCHED && !initiator && options.signal() && (signalled || ended)) {
                if (!signalled) {
                    stats.error("match.ended before the partner's match.signal");
                }
                finish();
            }
        } else {
            enter(Phase.QUEUED);
        }
    }

    private synchronized void onEvent(ServerFrame frame) {
        if (frame instanceof ServerFrame.MatchFound f) {
            checkInbox(f.offset(), f.epoch());
            if (phase == Phase.QUEUED) {
                matched(f, System.nanoTime() - ackNanos);
            } else if (phase == Phase.JOINING && early == null) {
                early = f;
            } else if (phase == Phase.JOINING || phase == Phase.MATCHED) {
                stats.error("match.found while " + phase + " (a second partner at once)");
            }
        } else if (frame instanceof ServerFrame.MatchSignal s) {
            checkInbox(s.offset(), s.epoch());
            if (phase == Phase.MATCHED && !initiator && s.match().equals(match)) {
                finish();
            } else if (phase == Phase.JOINING && early != null && s.match().equals(early.match())) {
                earlySignal = true;
            } else if (!s.match().equals(match)) {
                unclaimedSignal = s.match();
            }
        } else if (frame instanceof ServerFrame.MatchEnded e) {
            checkInbox(e.offset(), e.epoch());
            if (phase == Phase.MATCHED && !initiator && e.match().equals(match)) {
                // The initiator signals before it leaves, so its signal always comes first.
                stats.error("match.ended before the partner's match.signal");
                finish();
            } else if (phase == Phase.JOINING && early != null && e.match().equals(early.match())) {
                earlyEnded = true;
            }
        } else if (frame instanceof ServerFrame.Error e) {
            stats.error("error " + e.code() + " without request id");
        }
    }

    /**
     * Inbox events come each once, in offset order, with no gap (docs/protocol.md section 5): every one this user gets
     * is a random-connect event of this run, so the next offset is always the last plus one.
     */
    private void checkInbox(long offset, String epoch) {
        if (inboxEpoch != null && !inboxEpoch.equals(epoch)) {
            stats.error("inbox epoch changed");
        } else if (offset <= inboxOffset) {
            stats.error("inbox event out of order or repeated");
        } else if (offset != inboxOffset + 1) {
            stats.error("inbox gap (events missing)");
        }
        inboxEpoch = epoch;
        inboxOffset = Math.max(inboxOffset, offset);
    }

    private void matched(ServerFrame.MatchFound f, long waitedNanos) {
        enter(Phase.MATCHED);
        match = f.match();
        initiator = f.initiator();
        long now = System.nanoTime();
        if (stats.inWindow(now)) {
            stats.timeToMatch(waitedNanos);
            if (initiator) {
                stats.match();
            }
        }
        if (!options.signal()) {
            finish();
        } else if (!initiator && match.equals(unclaimedSignal)) {
            unclaimedSignal = null;
            stats.signalBeforeFound();
            finish();
        } else if (initiator) {
            String m = match;
            send("match.signal", id -> new ClientFrame.MatchSignal(id, m, SIGNAL_DATA), () -> {
                if (stats.inWindow(System.nanoTime())) {
                    stats.signal();
                }
                finish();
            });
        }
    }

    /** Back to the queue: {@code match.next}, or {@code match.leave} then {@code match.join}. */
    private void finish() {
        if (options.mode() == MatchBenchmarkOptions.Mode.NEXT && running.getAsBoolean()) {
            enter(Phase.JOINING);
            clearEarly();
            joinSentNanos = System.nanoTime();
            if (stats.inWindow(joinSentNanos)) {
                stats.join();
            }
            send("match.next", ClientFrame.MatchNext::new, this::queued);
        } else {
            enter(Phase.LEAVING);
            send("match.leave", ClientFrame.MatchLeave::new, this::join);
        }
    }

    /** After an error: a new generation leaves whatever state the server holds, then joins again. */
    private void restart() {
        generation++;
        if (client.isClosed()) {
            enter(Phase.DONE);
            return;
        }
        enter(Phase.LEAVING);
        int gen = generation;
        client.request(ClientFrame.MatchLeave::new)
                .subscribe(
                        ack -> {
                            synchronized (this) {
                                if (gen == generation) {
                                    join();
                                }
                            }
                        },
                        e -> {
                            synchronized (this) {
                                if (gen == generation) {
                                    // Leaving failed too: stop this user rather than spin.
                                    stats.error("match.leave " + code(e) + " (user stopped)");
                                    generation++;
                                    enter(Phase.DONE);
                                }
                            }
                        });
    }

    private void send(String what, LongFunction<ClientFrame> frame, Runnable onAck) {
        int gen = generation;
        client.request(frame)
                .subscribe(
                        ack -> {
                            synchronized (this) {
                                if (gen == generation) {
                                    onAck.run();
                                }
                            }
                        },
                        e -> {
                            synchronized (this) {
                                if (gen == generation && phase != Phase.DONE) {
                                    stats.error(what + " " + code(e));
                                    restart();
                                }
                            }
                        });
    }

    private void clearEarly() {
        early = null;
        earlySignal = false;
        earlyEnded = false;
    }

    private void enter(Phase next) {
        phase = next;
        phaseSince = System.nanoTime();
    }

    private static String code(Throwable e) {
        return e instanceof SwitchboardException s ? s.code() : e.getClass().getSimpleName();
    }
}
