package io.switchboard.loadtest.result;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.Histogram;

/** What every benchmark's result needs: the machine, percentiles, rounding, and just enough JSON to write it. */
public final class Results {
    private Results() {}

    /** Busy and total CPU time of the whole machine from /proc/stat, in ticks; null where there is none. */
    public static long[] machineTicks() {
        try {
            String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            long total = 0;
            for (int i = 1; i < Math.min(f.length, 9); i++) {
                total += Long.parseLong(f[i]);
            }
            long idle = Long.parseLong(f[4]) + Long.parseLong(f[5]);
            return new long[] {total - idle, total};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    public static Map<String, Object> machine() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cores", Runtime.getRuntime().availableProcessors());
        try {
            Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
                    .filter(l -> l.startsWith("model name"))
                    .findFirst()
                    .ifPresent(l -> m.put("cpu", l.substring(l.indexOf(':') + 1).strip()));
        } catch (IOException e) {
            // not Linux: the model stays unknown
        }
        m.put("jvm", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
        m.put(
                "os",
                System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                        + System.getProperty("os.arch"));
        m.put("maxHeapMiB", Runtime.getRuntime().maxMemory() >> 20);
        return m;
    }

    public static Map<String, Object> percentiles(Histogram micros) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("samples", micros.getTotalCount());
        p.put("p50", ms(micros.getValueAtPercentile(50)));
        p.put("p99", ms(micros.getValueAtPercentile(99)));
        p.put("p999", ms(micros.getValueAtPercentile(99.9)));
        p.put("max", ms(micros.getMaxValue()));
        p.put("mean", round(micros.getMean() / 1000.0, 3));
        return p;
    }

    public static double ms(long micros) {
        return round(micros / 1000.0, 3);
    }

    public static double round(double value, int digits) {
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            return 0;
        }
        return BigDecimal.valueOf(value).setScale(digits, RoundingMode.HALF_UP).doubleValue();
    }

    public static void write(Path file, Map<String, Object> result) throws BenchmarkException {
        StringBuilder json = new StringBuilder();
        json(result, json, "");
        json.append('\n');
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Files.writeString(file, json, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new BenchmarkException("cannot write the result to " + file + ": " + e.getMessage());
        }
    }

    /** Just enough JSON for the result: maps, lists, strings, numbers, booleans and null, indented. */
    public static void json(Object value, StringBuilder out, String indent) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof Map<?, ?> map) {
            if (map.isEmpty()) {
                out.append("{}");
                return;
            }
            out.append("{\n");
            String inner = indent + "  ";
            int i = 0;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                out.append(inner);
                string(String.valueOf(e.getKey()), out);
                out.append(": ");
                json(e.getValue(), out, inner);
                out.append(++i < map.size() ? ",\n" : "\n");
            }
            out.append(indent).append('}');
        } else if (value instanceof List<?> list) {
            out.append('[');
            for (int i = 0; i < list.size(); i++) {
                json(list.get(i), out, indent);
                if (i + 1 < list.size()) {
                    out.append(", ");
                }
            }
            out.append(']');
        } else if (value instanceof Number || value instanceof Boolean) {
            out.append(value);
        } else {
            string(value.toString(), out);
        }
    }

    public static void string(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /**
     * Cores used by each process between two readings of CPU time taken {@code seconds} apart, and by the rest of
     * the machine ({@link #machineTicks()} readings; the machine may be shared, by a build or other tests, and what
     * others used is part of the figures' context).
     */
    public static Map<String, Object> cores(
            Map<String, Duration> before,
            Map<String, Duration> after,
            long[] machineBefore,
            long[] machineAfter,
            double seconds) {
        return cores(
                before,
                after,
                machineBefore,
                machineAfter,
                seconds,
                Runtime.getRuntime().availableProcessors());
    }

    /** As {@link #cores(Map, Map, long[], long[], double)} on a machine of {@code processors} cores. */
    public static Map<String, Object> cores(
            Map<String, Duration> before,
            Map<String, Duration> after,
            long[] machineBefore,
            long[] machineAfter,
            double seconds,
            int processors) {
        Map<String, Object> cores = new LinkedHashMap<>();
        double ours = 0;
        for (Map.Entry<String, Duration> e : after.entrySet()) {
            double used = (e.getValue().toNanos()
                            - before.getOrDefault(e.getKey(), Duration.ZERO).toNanos())
                    / 1e9
                    / seconds;
            ours += used;
            cores.put(e.getKey(), round(used, 2));
        }
        if (machineBefore != null && machineAfter != null && machineAfter[1] > machineBefore[1]) {
            double busy =
                    (double) (machineAfter[0] - machineBefore[0]) / (machineAfter[1] - machineBefore[1]) * processors;
            cores.put("otherProcesses", round(Math.max(0, busy - ours), 2));
            cores.put("machineBusy", round(busy, 2));
        }
        return cores;
    }

    /** {@code count} events in {@code seconds}, per second, to a whole number (0 for no time at all). */
    public static double perSecond(long count, double seconds) {
        return round(count / seconds, 0);
    }

    /**
     * CPU microseconds per event: the CPU time that the processes whose names start with {@code prefix} used
     * between two readings, over {@code events}, to three decimals; null without events.
     */
    public static Double cpuMicrosPer(
            Map<String, Duration> before, Map<String, Duration> after, String prefix, long events) {
        if (events == 0) {
            return null;
        }
        double seconds = (nanos(after, prefix) - nanos(before, prefix)) / 1e9;
        return round(seconds * 1e6 / events, 3);
    }

    private static long nanos(Map<String, Duration> cpu, String prefix) {
        return cpu.entrySet().stream()
                .filter(e -> e.getKey().startsWith(prefix))
                .mapToLong(e -> e.getValue().toNanos())
                .sum();
    }
}
