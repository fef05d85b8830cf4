/**
 * The benchmark runner: {@link io.switchboard.loadtest.bench.Bench} (the {@code main} of {@code scripts/bench}),
 * its command line ({@link io.switchboard.loadtest.bench.BenchOptions}) and what a run's result means
 * ({@link io.switchboard.loadtest.bench.Verdict}: failures, headline figures, result.md). Depends on
 * {@code scenario}, {@code cluster} and {@code result}; nothing depends on it.
 */
package io.switchboard.loadtest.bench;
