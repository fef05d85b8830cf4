/**
 * Gatling simulations (Java DSL) that drive a running gateway over WebSocket, and a launcher that runs one in a
 * forked JVM.
 */
package io.switchboard.loadtest.gatling;
