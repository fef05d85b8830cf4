/**
 * What the benchmarks measure, started on loopback: {@link io.switchboard.loadtest.cluster.LocalCluster} starts
 * {@code redis-server} (through test-support's fixture), Switchboard gateways from the packaged jar, or the
 * Socket.IO baseline, and stops them. No {@code main}.
 */
package io.switchboard.loadtest.cluster;
