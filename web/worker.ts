/**
 * The page's generation worker (bundled to `web/dist/worker.js`): it owns the
 * WebGPU device and the open pipeline, and runs requests one at a time in
 * the order they came; the others wait in a queue. Decoding weights,
 * tokenizing and every kernel dispatch happen here, so the page stays
 * responsive. Messages are in `web/protocol.ts`.
 *
 * A cancel aborts the running request between steps (the pipeline checks its
 * `AbortSignal` after each step's GPU work) or drops a queued one. Either
 * way the request's tensors are released before the worker answers, and the
 * answer carries the pool's counters so the page (and its test) can see the
 * live bytes are back where they were.
 */
import {
  CaptionInvalidError,
  checkCheckpoint,
  createGpu,
  DEFAULT_GPU_BUDGET_BYTES,
  encodePng,
  formatBytes,
  formatPlan,
  type GpuContext,
  Ideogram4Pipeline,
  planMemory,
  type Platform,
  preparePrompt,
  resolveSampling,
  setPlatform,
  sizeAdvice,
} from "./ideogram4.ts";
import { openSource } from "./model_source.ts";
import { deleteKept, keptUrlPlatform, listKept } from "./opfs_cache.ts";
import { type FromWorker, type Job, snapshot, type ToWorker } from "./protocol.ts";

type Request = Extract<ToWorker, { type: "generate" }>;
type PlanRequest = Extract<ToWorker, { type: "plan" }>;

/** What this file uses of a dedicated worker's global scope (no lib that would clash with dom). */
interface WorkerScope {
  postMessage(msg: unknown, transfer: Transferable[]): void;
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
}
const scope = globalThis as unknown as WorkerScope;
let gpu: GpuContext | undefined;
/** The open pipeline and the source it reads, reused while the source stays the same. */
let open: { key: string; pipe: Ideogram4Pipeline } | undefined;
const queue: Request[] = [];
let running: { id: number; abort: AbortController } | undefined;

function post(msg: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(msg, transfer);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The budget a request plans for, and where it came from. */
function budgetOf(job: Job): { bytes: number; from: "you" | "default" } {
  return job.budgetBytes === undefined
    ? { bytes: DEFAULT_GPU_BUDGET_BYTES, from: "default" }
    : { bytes: job.budgetBytes, from: "you" };
}

async function pipelineFor(req: Request): Promise<Ideogram4Pipeline> {
  const key = `${req.sourceKey} budget ${budgetOf(req.job).bytes} keep ${!!req.keep}`;
  if (open?.key === key) return open.pipe;
  open?.pipe.release();
  open = undefined;
  const opened = openSource(req.source, req.pageUrl);
  if (req.keep && opened.baseUrl) {
    // Refuse before downloading: plan from what is kept plus the server's headers.
    post({ type: "stage", id: req.id, stage: "checking and planning before downloading" });
    const peek = await keptUrlPlatform(opened.baseUrl, { peek: true });
    const answer = await planFor(req.id, req.job, peek, opened.dir);
    if (!answer.fits) {
      throw new Error(
        `refused before downloading: ${answer.reason}` +
          (answer.problems.length > 0 ? `:\n  ${answer.problems.join("\n  ")}` : ""),
      );
    }
    // Download once: files come from OPFS, downloaded there first when missing.
    let shown = "";
    opened.platform = await keptUrlPlatform(opened.baseUrl, {
      onDownload: (path, done, size) => {
        const line = `downloading ${path}: ${formatBytes(done)} of ${formatBytes(size)}`;
        if (line !== shown) post({ type: "stage", id: req.id, stage: shown = line });
      },
    });
    opened.label += " (kept in this browser)";
  }
  // Components that read through the registered platform see the same files.
  setPlatform(opened.platform);
  post({
    type: "stage",
    id: req.id,
    stage: `opening ${opened.label}${opened.dir ? ` (${opened.dir}/)` : ""}`,
  });
  const budget = budgetOf(req.job);
  // With a budget each request is planned first: DiTs stream when they must,
  // and a request that cannot fit is refused before any weight is read.
  const pipe = await Ideogram4Pipeline.open(gpu!, opened.dir, {
    platform: opened.platform,
    gpuBudgetBytes: budget.bytes,
    onPlan: (plan) =>
      post({
        type: "stage",
        id: req.id,
        stage: `memory plan (budget ${formatBytes(budget.bytes)}, ${budget.from}): ` +
          `peak ${formatBytes(plan.peakBytes)}, ` +
          (plan.streaming ? "streaming DiT blocks" : "both DiTs resident"),
      }),
  });
  open = { key, pipe };
  return pipe;
}

async function run(req: Request, signal: AbortSignal): Promise<void> {
  const { id, job } = req;
  const started = performance.now();
  post({ type: "stage", id, stage: "preparing the prompt" });
  const prepared = await preparePrompt({
    prompt: job.prompt,
    width: job.width,
    height: job.height,
    magicPrompt: { enabled: false },
    warnOnCaptionIssues: job.warnOnCaptionIssues,
    signal,
  });
  for (const text of prepared.warnings) post({ type: "warning", id, text });
  const sizeWarning = sizeAdvice(job.width, job.height);
  if (sizeWarning) post({ type: "warning", id, text: sizeWarning });
  const pipe = await pipelineFor(req);
  const r = await pipe.generate({
    prompt: prepared.prompt,
    // Checked by preparePrompt; its warnings (the same as the result's) were posted above.
    allowCaptionIssues: job.warnOnCaptionIssues,
    width: job.width,
    height: job.height,
    preset: job.preset,
    steps: job.steps,
    seed: job.seed,
    signal,
    onStatus: (stage) => post({ type: "stage", id, stage }),
    onProgress: (p) =>
      post({
        type: "step",
        id,
        step: p.step,
        steps: p.steps,
        ms: p.ms,
        memory: snapshot(gpu!.pool.stats),
      }),
  });
  const plan = r.sampling.preset ?? `custom ${r.sampling.steps} steps`;
  const png = encodePng(r.rgb, r.width, r.height, {
    Caption: prepared.prompt,
    Seed: String(r.seed ?? "-"),
    Size: `${r.width}x${r.height}`,
    Preset: plan,
    Steps: String(r.sampling.steps),
    Software: "ideogram4-webgpu (browser)",
  });
  post({
    type: "result",
    id,
    rgb: r.rgb,
    png,
    width: r.width,
    height: r.height,
    seed: r.seed === undefined ? null : String(r.seed),
    plan,
    steps: r.sampling.steps,
    tokens: r.tokens,
    seconds: (performance.now() - started) / 1000,
    memory: snapshot(gpu!.pool.stats),
  }, [r.rgb.buffer as ArrayBuffer, png.buffer as ArrayBuffer]);
}

type PlanAnswer = Extract<FromWorker, { type: "plan" }>;

/** Checks the checkpoint and plans the job with this device's limits; reads no weights. */
async function planFor(
  id: number,
  job: Job,
  platform: Platform,
  dir: string,
): Promise<PlanAnswer> {
  const check = await checkCheckpoint(dir, { platform, prompt: job.prompt });
  const budget = budgetOf(job);
  const limits = {
    maxBufferSize: gpu!.limits.maxBufferSize,
    maxStorageBufferBindingSize: gpu!.limits.maxStorageBufferBindingSize,
  };
  const base = { type: "plan", id, budget, limits } as const;
  if (check.problems.length > 0) {
    return {
      ...base,
      problems: check.problems,
      lines: [],
      fits: false,
      reason: "the checkpoint has problems",
      streaming: false,
    };
  }
  const p = await planMemory(dir, {
    width: job.width,
    height: job.height,
    textTokens: check.promptTokens ?? 0,
    budgetBytes: budget.bytes,
    steps: resolveSampling({ preset: job.preset, steps: job.steps }).steps,
  }, {
    platform,
    gpu: { limits: gpu!.limits, features: gpu!.features, adapterInfo: gpu!.adapterInfo },
  });
  return {
    ...base,
    problems: [],
    lines: formatPlan(p),
    fits: p.fits,
    // The plan's own reason: the budget, or one buffer above the adapter's binding limit.
    reason: p.refusal,
    streaming: p.streaming,
  };
}

async function plan(req: PlanRequest): Promise<void> {
  const opened = openSource(req.source, req.pageUrl);
  post(await planFor(req.id, req.job, opened.platform, opened.dir));
}

/** Runs queued requests until the queue is empty (one at a time). */
async function drain(): Promise<void> {
  while (!running && queue.length > 0) {
    const req = queue.shift()!;
    running = { id: req.id, abort: new AbortController() };
    const signal = running.abort.signal;
    post({ type: "started", id: req.id });
    try {
      await run(req, signal);
    } catch (e) {
      post({
        type: "failed",
        id: req.id,
        cancelled: signal.aborted,
        captionIssues: e instanceof CaptionInvalidError ? e.issues.length : undefined,
        message: signal.aborted ? "cancelled" : message(e),
        memory: snapshot(gpu!.pool.stats),
      });
    } finally {
      running = undefined;
    }
  }
}

function cancel(id: number): void {
  if (running?.id === id) {
    running.abort.abort(new DOMException("cancelled", "AbortError"));
    return;
  }
  const at = queue.findIndex((r) => r.id === id);
  if (at < 0) return;
  queue.splice(at, 1);
  post({
    type: "failed",
    id,
    cancelled: true,
    message: "cancelled before it started",
    memory: snapshot(gpu!.pool.stats),
  });
}

scope.onmessage = (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  if (msg.type === "cancel") return cancel(msg.id);
  if (msg.type === "list-kept" || msg.type === "delete-kept") {
    (msg.type === "delete-kept" ? deleteKept(msg.key) : Promise.resolve())
      .then(listKept)
      .then((list) => post({ type: "kept", list }))
      .catch((e) => post({ type: "kept", list: [], error: message(e) }));
    return;
  }
  if (msg.type === "plan" && gpu) {
    plan(msg).catch((e) =>
      post({
        type: "failed",
        id: msg.id,
        cancelled: false,
        message: message(e),
        memory: snapshot(gpu!.pool.stats),
      })
    );
    return;
  }
  if (!gpu) {
    post({
      type: "failed",
      id: msg.id,
      cancelled: false,
      message: "the worker has no GPU device",
      memory: { liveBytes: 0, peakBytes: 0, allocatedBytes: 0 },
    });
    return;
  }
  if (msg.type !== "generate") return;
  queue.push(msg);
  if (running) post({ type: "queued", id: msg.id, ahead: queue.length });
  drain();
};

async function start(): Promise<void> {
  if (!("gpu" in navigator) || !navigator.gpu) {
    post({ type: "no-gpu", why: "this browser exposes no navigator.gpu in workers." });
    return;
  }
  try {
    gpu = await createGpu();
  } catch (e) {
    post({ type: "no-gpu", why: `no adapter or device (${message(e).split(". ")[0]}).` });
    return;
  }
  gpu.device.lost.then((info) => {
    if (info.reason === "destroyed") return;
    gpu = undefined;
    post({ type: "lost", why: info.message });
  });
  post({ type: "ready", adapter: gpu.describe(), memory: snapshot(gpu.pool.stats) });
}

start();
