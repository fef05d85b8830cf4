/**
 * The application's backend that the {@code hooks} scenario stands in: {@link io.switchboard.loadtest.backend.HookBackend}
 * is a reactor-netty HTTP server that answers the gateway's proxy hooks, run in a JVM of its own (its {@code main})
 * so that its CPU time is measured apart from the load generator's and the gateway's, and the handle that starts,
 * reads and stops it.
 */
package io.switchboard.loadtest.backend;
