/**
 * What every benchmark's result is made of ({@link io.switchboard.loadtest.result.Results}: machine, percentiles,
 * rates, CPU cores, JSON) and the one failure a benchmark reports ({@code BenchmarkException}). Depends on nothing
 * else of loadtest.
 */
package io.switchboard.loadtest.result;
