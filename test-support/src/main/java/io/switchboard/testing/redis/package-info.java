/** Real Redis processes for tests (a server, plain or TLS, a cluster, a sentinel) and the JUnit extension that runs them. */
package io.switchboard.testing.redis;
