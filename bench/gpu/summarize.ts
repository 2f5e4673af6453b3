/**
 * The last step of `bench/gpu/run.sh`: reads the results folder back and
 * writes `summary.json` (and prints it short): adapter, every step's exit
 * status and time, the kernel and projection numbers, the per-stage times and
 * memory of the real-size runs, and the PyTorch comparison with the speed
 * ratios. Missing files are reported as missing, not guessed.
 *
 *   deno run -A bench/gpu/summarize.ts RESULTS_DIR SECONDS [step:rc:seconds …]
 */
const [dir, seconds, ...steps] = Deno.args;
if (!dir) {
  console.error("usage: summarize.ts RESULTS_DIR SECONDS [step:rc:seconds ...]");
  Deno.exit(2);
}

// deno-lint-ignore no-explicit-any
type Json = any;
function readJson(name: string): Json | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(`${dir}/${name}`));
  } catch {
    return undefined;
  }
}

/** The `[e2e TAG TIME] line` records of `generate` runs in run.log, per tag. */
function e2eRuns(log: string) {
  const runs: Record<string, { t: number; line: string }[]> = {};
  for (const m of log.matchAll(/^\[e2e (\S+) ([\d.]+)\] (.*)$/gm)) {
    (runs[m[1]] ??= []).push({ t: Number(m[2]), line: m[3] });
  }
  const out: Record<string, Json> = {};
  for (const [tag, lines] of Object.entries(runs)) {
    const at = (re: RegExp) => lines.find((l) => re.test(l.line))?.t;
    const enc = at(/^encoding the prompt/), load = at(/^loading the transformers/);
    const samp = at(/^sampling \d+ steps/), dec = at(/^decoding/), wrote = at(/^wrote /);
    const span = (a?: number, b?: number) =>
      a !== undefined && b !== undefined ? +(b - a).toFixed(3) : undefined;
    const bytes = (re: RegExp) => {
      const l = lines.find((x) => re.test(x.line))?.line.match(/\((\d+) bytes/);
      return l ? Number(l[1]) : undefined;
    };
    out[tag] = {
      ok: wrote !== undefined,
      seconds: span(lines[0]?.t, lines[lines.length - 1]?.t),
      encodeS: span(enc, load),
      loadDiTsS: span(load, samp),
      samplingS: span(samp, dec),
      stepS: lines.filter((l) => /^step \d+\/\d+/.test(l.line)).map((l) =>
        Number(l.line.match(/([\d.]+) s\/step/)?.[1])
      ),
      decodeAndWriteS: span(dec, wrote),
      plan: lines.find((l) => /^memory plan/.test(l.line))?.line,
      peakMeasuredBytes: bytes(/^peak GPU memory measured/),
      peakPlannedBytes: bytes(/^peak GPU memory planned/),
      errors: lines.filter((l) => /error/i.test(l.line)).map((l) => l.line),
    };
  }
  return out;
}

const log = (() => {
  try {
    return Deno.readTextFileSync(`${dir}/run.log`);
  } catch {
    return "";
  }
})();
const adapter = readJson("adapter.json"), bench = readJson("bench.json");
const model = readJson("model.json"), dump = readJson("dump_meta.json");
const compare = readJson("compare.json"), peers = readJson("peers.json");
const ours = dump?.times_ms ?? {};
const torchDit = compare?.dit, torchEnc = compare?.encoder, torchVae = compare?.vae;
const ratio = (a?: number, b?: number) => (a && b ? +(a / b).toFixed(3) : undefined);
const summary: Json = {
  date: new Date().toISOString(),
  seconds: Number(seconds),
  steps: steps.map((s) => {
    const [name, rc, secs] = s.split(":");
    return { name, status: rc, seconds: Number(secs) };
  }),
  adapter: adapter
    ? { ...adapter.info, features: adapter.features, runtime: adapter.runtime?.describe }
    : "missing",
  limits: adapter?.limits,
  kernels: bench ? { ceilings: bench.ceilings, quick: bench.quick, rows: bench.rows } : "missing",
  peers: peers ?? (log.includes("start peers") ? "missing" : "not run (no bench/peers)"),
  projection: model
    ? {
      measured: model.measured,
      perFormat: model.dit.map((d: Json, i: number) => ({
        format: d.format,
        stepS: d.stepS,
        cpuRecordMsPerStep: d.cpuRecordMsPerStep,
        textEncodeS: model.textEncoder[i].encodeS,
        vaeDecodeS: model.vae.decodeS,
        v4Quality48S: model.totals[i].v4Quality48S,
      })),
    }
    : "missing",
  realSize: dump
    ? {
      size: `${dump.width}x${dump.height}`,
      textTokens: dump.ids?.length,
      timesMs: ours,
      peakGpuBytes: dump.peak_gpu_bytes,
    }
    : "missing",
  endToEnd: e2eRuns(log),
  torch: compare
    ? {
      device: compare.device,
      encoder: torchEnc,
      dit: torchDit,
      vae: torchVae,
      speedRatioOursOverTorchBf16: {
        encode: ratio(ours.encode, torchEnc?.torch_bf16_encode_ms),
        ditCond: ratio(ours.cond, torchDit?.cond?.torch_bf16_ms),
        ditUncond: ratio(ours.uncond, torchDit?.uncond?.torch_bf16_ms),
        vae: ratio(ours.vae, torchVae?.torch_bf16_decode_ms),
      },
    }
    : (log.match(/torch comparison skipped: .*/)?.[0] ?? "missing"),
};
Deno.writeTextFileSync(`${dir}/summary.json`, JSON.stringify(summary, null, 2) + "\n");

const line = (k: string, v: unknown) => console.log(`${k.padEnd(22)} ${v}`);
console.log(`== summary (${dir}/summary.json)`);
line("adapter", adapter ? adapter.runtime?.describe : "missing");
line("steps", summary.steps.map((s: Json) => `${s.name} ${s.status} ${s.seconds}s`).join(", "));
if (model) {
  for (const p of summary.projection.perFormat) {
    line(
      `projection ${p.format}`,
      `step ${p.stepS.toPrecision(3)} s, text ${p.textEncodeS.toPrecision(3)} s, ` +
        `VAE ${p.vaeDecodeS.toPrecision(3)} s, V4_QUALITY_48 ${p.v4Quality48S.toPrecision(3)} s, ` +
        `CPU ${p.cpuRecordMsPerStep.toPrecision(3)} ms/step`,
    );
  }
}
if (dump) {
  line(
    `components ${dump.width}²`,
    Object.entries(ours).map(([k, v]) => `${k} ${(Number(v) / 1000).toFixed(2)} s`).join(", "),
  );
}
for (const [tag, r] of Object.entries(summary.endToEnd) as [string, Json][]) {
  line(
    `e2e ${tag}`,
    `${r.ok ? "ok" : "FAILED"} ${r.seconds} s (encode ${r.encodeS}, DiT load ${r.loadDiTsS}, ` +
      `sampling ${r.samplingS}, decode+write ${r.decodeAndWriteS}); peak ` +
      `${r.peakMeasuredBytes} B measured / ${r.peakPlannedBytes} B planned`,
  );
}
if (compare) {
  const d = torchDit ?? {};
  line(
    "torch DiT cond",
    `ours ${d.cond?.ours_vs_f32?.rel_l2} vs bf16 ${d.cond?.bf16_vs_f32?.rel_l2} (rel. to f32)`,
  );
  line(
    "torch VAE",
    `ours ${torchVae?.ours_vs_f32?.rel_l2} vs bf16 ${torchVae?.bf16_vs_f32?.rel_l2}`,
  );
  line("speed ours/torch", JSON.stringify(summary.torch.speedRatioOursOverTorchBf16));
} else line("torch", summary.torch);
