/** Load tests and benchmarks that drive running gateways over WebSocket, as real clients do. */
package io.switchboard.loadtest;
