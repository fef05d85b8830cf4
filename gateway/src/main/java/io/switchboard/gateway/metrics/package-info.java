/** The gateway's Micrometer meters, scraped in Prometheus format at {@code /metrics}. */
package io.switchboard.gateway.metrics;
