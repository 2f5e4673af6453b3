/**
 * `GET /metrics` in the Prometheus text format (version 0.0.4): the queue,
 * the images made, time per sampling step, weight loads, and the GPU memory
 * the buffer pool holds (WebGPU cannot report the device's own numbers).
 */
import type { MemoryStats } from "../gpu/buffer_pool.ts";
import type { EngineStats } from "./engine.ts";

export interface MetricsSnapshot {
  queueLength: number;
  queueCapacity: number;
  running: number;
  cancelled: number;
  engine: EngineStats;
  memory: MemoryStats;
  /** Requests answered, by HTTP status. */
  responses: Map<number, number>;
}

/** Prometheus exposition text of one snapshot. */
export function prometheusText(m: MetricsSnapshot): string {
  const lines: string[] = [];
  const metric = (
    name: string,
    type: "gauge" | "counter",
    help: string,
    samples: [string, number][],
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
  };
  metric("ideogram4_queue_length", "gauge", "Requests waiting for the GPU.", [["", m.queueLength]]);
  metric("ideogram4_queue_capacity", "gauge", "Requests that may wait before 429.", [
    ["", m.queueCapacity],
  ]);
  metric("ideogram4_jobs_running", "gauge", "Requests on the GPU now (0 or 1).", [["", m.running]]);
  metric(
    "ideogram4_jobs_cancelled_total",
    "counter",
    "Requests cancelled (client gone, timeout).",
    [
      ["", m.cancelled],
    ],
  );
  metric("ideogram4_images_total", "counter", "Images generated.", [["", m.engine.images]]);
  metric("ideogram4_steps_total", "counter", "Sampling steps run.", [["", m.engine.steps]]);
  metric("ideogram4_step_seconds_total", "counter", "Seconds spent in sampling steps.", [
    ["", round(m.engine.stepSeconds)],
  ]);
  metric(
    "ideogram4_seconds_per_step",
    "gauge",
    "Mean seconds per sampling step so far.",
    [["", m.engine.steps > 0 ? round(m.engine.stepSeconds / m.engine.steps) : 0]],
  );
  metric(
    "ideogram4_model_loads_total",
    "counter",
    "Times a component's weights were read and uploaded.",
    ["text_encoder", "transformers", "vae"].map((c) => [
      `{component="${c}"}`,
      m.engine.loads[c] ?? 0,
    ]),
  );
  metric("ideogram4_load_seconds_total", "counter", "Seconds spent loading weights.", [
    ["", round(m.engine.loadSeconds)],
  ]);
  metric("ideogram4_gpu_memory_live_bytes", "gauge", "GPU buffers in use.", [
    ["", m.memory.liveBytes],
  ]);
  metric("ideogram4_gpu_memory_peak_bytes", "gauge", "Highest GPU buffer use so far.", [
    ["", m.memory.peakBytes],
  ]);
  metric(
    "ideogram4_gpu_memory_allocated_bytes",
    "gauge",
    "GPU buffers that exist (in use and pooled).",
    [["", m.memory.allocatedBytes]],
  );
  metric(
    "ideogram4_http_responses_total",
    "counter",
    "HTTP responses by status code.",
    [...m.responses].sort((a, b) => a[0] - b[0]).map(([s, n]) => [`{code="${s}"}`, n]),
  );
  return lines.join("\n") + "\n";
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** One sample's value from exposition text (tests, bench): `name{labels}` → number. */
export function readMetric(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(series + " ")) return Number(line.slice(series.length + 1));
  }
  return undefined;
}
