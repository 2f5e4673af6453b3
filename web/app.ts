/// <reference lib="dom" />
/**
 * The demo page (`web/index.html`, bundled to `web/dist/app.js`): pick a
 * checkpoint (embedded, a folder, or a URL), write a prompt or a JSON caption
 * (verified as it is typed, palettes and boxes previewed), generate with
 * per-step progress, and download the PNG.
 *
 * The pipeline runs in a dedicated worker (`web/worker.ts`, messages in
 * `web/protocol.ts`): this thread never touches the GPU device. It sends
 * requests, which queue in the worker while one runs, and draws the stages,
 * steps, pool counters and the image (a transferred buffer) that come back.
 *
 * `document.body.dataset.state` says where the page is, for people and for
 * `tests/web/browser_test.ts`: `loading` → `ready` | `no-webgpu`, then
 * `running` (while any request runs or waits) → `done` | `error` (the last
 * request's outcome; a cancelled one is an `error` saying "cancelled").
 * `dataset.gpuLive` is the worker's live GPU bytes after its last report.
 */
import {
  filesByRelativePath,
  formatBytes,
  type MemoryStats,
  PRESET_NAMES,
  validateSize,
} from "./ideogram4.ts";
import { type CaptionPreview, previewCaption } from "./caption_preview.ts";
import { drawBoxes, drawPlaceholder, drawRgb } from "./image_view.ts";
import type { ModelSource } from "./model_source.ts";
import type { FromWorker, Job, ToWorker } from "./protocol.ts";
import type { KeptCheckpoint } from "./opfs_cache.ts";
import { RunProgress } from "./progress.ts";
import { droppedFiles } from "./dropped_folder.ts";
import { el } from "./dom.ts";

/** What the embedded-model button runs: the CLI's defaults for that model. */
const EMBEDDED_RUN = { width: 256, height: 256, preset: "V4_TURBO_12", seed: 0 } as const;
const EXAMPLE_PROMPT = "a red fox in fresh snow, morning light";

type PageState = "loading" | "ready" | "no-webgpu" | "running" | "done" | "error";

const ui = {
  adapter: el("adapter"),
  noWebGpu: el("no-webgpu"),
  embeddedRun: el<HTMLButtonElement>("embedded-run"),
  folder: el<HTMLInputElement>("model-folder"),
  url: el<HTMLInputElement>("model-url"),
  modelNote: el("model-note"),
  budget: el<HTMLInputElement>("budget"),
  keep: el<HTMLInputElement>("keep"),
  kept: el<HTMLUListElement>("kept"),
  plan: el<HTMLButtonElement>("plan"),
  planOut: el("plan-out"),
  prompt: el<HTMLTextAreaElement>("prompt"),
  issues: el<HTMLUListElement>("caption-issues"),
  palettes: el("palettes"),
  warnOnly: el<HTMLInputElement>("warn-only"),
  width: el<HTMLInputElement>("width"),
  height: el<HTMLInputElement>("height"),
  sizePreset: el<HTMLSelectElement>("size-preset"),
  preset: el<HTMLSelectElement>("preset"),
  steps: el<HTMLInputElement>("steps"),
  seed: el<HTMLInputElement>("seed"),
  formError: el("form-error"),
  generate: el<HTMLButtonElement>("generate"),
  cancel: el<HTMLButtonElement>("cancel"),
  progress: el<HTMLProgressElement>("progress"),
  progressText: el("progress-text"),
  queue: el("queue"),
  memory: el("memory"),
  log: el("log"),
  image: el<HTMLCanvasElement>("image"),
  overlay: el<HTMLCanvasElement>("overlay"),
  showBoxes: el<HTMLInputElement>("show-boxes"),
  download: el<HTMLAnchorElement>("download"),
  result: el("result"),
};

/** The generation worker, from start until it fails. */
let spawned: Worker | undefined;
/** The same worker once it said it has a device (requests go there). */
let worker: Worker | undefined;
/** Bumped when a new folder is picked, so a pipeline over the old files is not reused. */
let folderGeneration = 0;
/** A folder dropped on the page (wins over the picker until a folder is picked). */
let dropped: Map<string, File> | undefined;
/** Requests sent and not answered yet, in order; the first one runs. */
const pending: number[] = [];
let nextId = 1;
/** Progress of the running request. */
let progress = new RunProgress();
let preview: CaptionPreview = previewCaption("");
/** Size of the picture on screen (the last image, or the form's size before one). */
let shown = { width: 1024, height: 1024, hasImage: false };
let downloadUrl: string | undefined;

function setState(state: PageState): void {
  document.body.dataset.state = state;
  // A request while another runs waits in the worker's queue.
  const usable = worker !== undefined;
  ui.generate.disabled = !usable;
  ui.embeddedRun.disabled = !usable;
  ui.plan.disabled = !usable;
  ui.cancel.disabled = pending.length === 0;
  ui.queue.textContent = pending.length > 1 ? `${pending.length - 1} waiting` : "";
}

/** When the current run started, for the log's time stamps. */
let runStarted = performance.now();

function log(line: string): void {
  const at = ((performance.now() - runStarted) / 1000).toFixed(1).padStart(6);
  ui.log.textContent += `${at} s  ${line}\n`;
  ui.log.scrollTop = ui.log.scrollHeight;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---- prompt preview -------------------------------------------------------

function renderPreview(): void {
  preview = previewCaption(ui.prompt.value);
  ui.issues.replaceChildren();
  ui.issues.classList.toggle("ok", preview.isJson && preview.issues.length === 0);
  if (preview.isJson && preview.issues.length === 0) {
    ui.issues.append(item("✓ valid JSON caption"));
  }
  for (const issue of preview.issues) ui.issues.append(item(issue));
  // Plain text: the same warning the CLI and the library give.
  for (const w of preview.warnings) ui.issues.append(item(`⚠ ${w}`));

  ui.palettes.replaceChildren();
  for (const p of preview.palettes) {
    const row = document.createElement("div");
    row.className = "palette";
    row.append(`${p.source}:`);
    for (const c of p.colours) {
      const sw = document.createElement("span");
      sw.className = "swatch";
      const chip = document.createElement("i");
      chip.style.background = c;
      sw.append(chip, c);
      row.append(sw);
    }
    ui.palettes.append(row);
  }
  renderBoxes();
}

function item(text: string): HTMLLIElement {
  const li = document.createElement("li");
  li.textContent = text;
  return li;
}

/** Small images are shown enlarged (at least this many CSS pixels wide), large ones fit. */
const MIN_SHOWN_WIDTH = 512;

function sizeStage(): void {
  ui.image.style.width = `${Math.max(shown.width, MIN_SHOWN_WIDTH)}px`;
}

function renderBoxes(): void {
  const boxes = ui.showBoxes.checked ? preview.boxes : [];
  drawBoxes(ui.overlay, boxes, shown.width, shown.height);
}

/** Before the first image, the stage follows the size fields. */
function followFormSize(): void {
  if (shown.hasImage) return;
  const w = Number(ui.width.value), h = Number(ui.height.value);
  if (!(w >= 16 && h >= 16 && w <= 4096 && h <= 4096)) return;
  shown = { width: w, height: h, hasImage: false };
  drawPlaceholder(ui.image, w, h);
  sizeStage();
  renderBoxes();
}

// ---- model source ----------------------------------------------------------

function chosenSource(): { source: ModelSource; key: string } {
  const kind = (document.querySelector<HTMLInputElement>('input[name="source"]:checked')?.value ??
    "embedded") as ModelSource["kind"];
  if (kind === "folder") {
    if (dropped) return { source: { kind, files: dropped }, key: `folder#${folderGeneration}` };
    const files = ui.folder.files;
    if (!files || files.length === 0) throw new Error("pick the checkpoint's folder first");
    // A cloned File loses its webkitRelativePath: send the paths along.
    const byPath = filesByRelativePath(Array.from(files));
    return { source: { kind, files: byPath }, key: `folder#${folderGeneration}` };
  }
  if (kind === "url") return { source: { kind, url: ui.url.value }, key: `url:${ui.url.value}` };
  return { source: { kind: "embedded" }, key: "embedded" };
}

function selectSource(kind: ModelSource["kind"]): void {
  const radio = document.querySelector<HTMLInputElement>(`input[name="source"][value="${kind}"]`);
  if (radio) radio.checked = true;
}

// ---- generation -------------------------------------------------------------

function readForm(): Job {
  const prompt = ui.prompt.value;
  if (prompt.trim() === "") throw new Error("write a prompt first");
  const width = Number(ui.width.value), height = Number(ui.height.value);
  validateSize(width, height);
  const steps = ui.steps.value.trim() === "" ? undefined : Number(ui.steps.value);
  if (steps !== undefined && !(Number.isInteger(steps) && steps >= 1 && steps <= 1000)) {
    throw new Error(
      `steps ${ui.steps.value}: a whole number from 1 to 1000, or empty for the preset's`,
    );
  }
  const seed = Number(ui.seed.value || "0");
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`seed ${ui.seed.value}: a whole number from 0 to 2^53-1`);
  }
  const gib = ui.budget.value.trim() === "" ? undefined : Number(ui.budget.value);
  if (gib !== undefined && !(gib >= 0.25 && gib <= 4096)) {
    throw new Error(`GPU budget ${ui.budget.value}: GiB from 0.25 to 4096, or empty for 8`);
  }
  return {
    prompt,
    width,
    height,
    preset: ui.preset.value || undefined,
    steps,
    seed,
    warnOnCaptionIssues: ui.warnOnly.checked,
    budgetBytes: gib === undefined ? undefined : Math.round(gib * 2 ** 30),
  };
}

function generate(): void {
  if (!worker) return;
  ui.formError.textContent = "";
  let job: Job, source: { source: ModelSource; key: string };
  try {
    job = readForm();
    source = chosenSource();
  } catch (e) {
    ui.formError.textContent = message(e);
    return;
  }
  const id = nextId++;
  if (pending.length === 0) {
    ui.log.textContent = "";
    startRun();
  }
  pending.push(id);
  send({
    type: "generate",
    id,
    job,
    source: source.source,
    sourceKey: source.key,
    pageUrl: location.href,
    keep: ui.keep.checked,
  });
  log(`request ${id} sent`);
  setState("running");
}

/** Asks the worker to check the checkpoint and plan the form's request (no weight is read). */
function requestPlan(): void {
  if (!worker) return;
  ui.formError.textContent = "";
  let job: Job, source: { source: ModelSource; key: string };
  try {
    job = readForm();
    source = chosenSource();
  } catch (e) {
    ui.formError.textContent = message(e);
    return;
  }
  ui.planOut.hidden = false;
  ui.planOut.textContent = "checking the checkpoint's headers…";
  document.body.dataset.plan = "running";
  send({
    type: "plan",
    id: nextId++,
    job,
    source: source.source,
    sourceKey: source.key,
    pageUrl: location.href,
  });
}

function showPlan(p: Extract<FromWorker, { type: "plan" }>): void {
  const b = formatBytes;
  const lines = [
    `budget ${b(p.budget.bytes)} (${
      p.budget.from === "you"
        ? "yours"
        : "the default: WebGPU reports no memory size; set yours above"
    })`,
    `adapter limits: maxBufferSize ${b(p.limits.maxBufferSize)}, ` +
    `maxStorageBufferBindingSize ${b(p.limits.maxStorageBufferBindingSize)}`,
    ...p.problems.map((x) => `problem: ${x}`),
    ...p.lines,
    p.fits
      ? `fits${p.streaming ? ", streaming DiT blocks" : ""}: nothing was downloaded to find out`
      : `refused before downloading: ${p.reason}`,
  ];
  ui.planOut.textContent = lines.join("\n");
  document.body.dataset.plan = p.fits ? "fits" : "refused";
}

/** The list of checkpoints kept in OPFS, each with its size and a delete button. */
function showKept(list: KeptCheckpoint[], error?: string): void {
  ui.kept.replaceChildren();
  if (error) ui.kept.append(item(`cannot list them: ${error}`));
  else if (list.length === 0) ui.kept.append(item("nothing yet"));
  for (const k of list) {
    const li = item(
      `${k.url}: ${k.files} files, ${formatBytes(k.bytes)}` +
        (k.partialBytes > 0 ? ` (+ ${formatBytes(k.partialBytes)} of an unfinished download)` : ""),
    );
    li.dataset.key = k.key;
    const del = document.createElement("button");
    del.type = "button";
    del.textContent = "Delete";
    del.className = "small";
    del.addEventListener("click", () => send({ type: "delete-kept", key: k.key }));
    li.append(" ", del);
    ui.kept.append(li);
  }
  document.body.dataset.kept = String(list.length);
}

function send(msg: ToWorker): void {
  worker!.postMessage(msg);
}

/** Clears the progress for the request that runs next (the log goes on). */
function startRun(): void {
  runStarted = performance.now();
  progress = new RunProgress();
  ui.progress.value = 0;
  ui.progressText.textContent = "waiting for the worker";
}

function cancel(): void {
  if (pending.length > 0) send({ type: "cancel", id: pending[0] });
}

function showMemory(m: MemoryStats): void {
  document.body.dataset.gpuLive = String(m.liveBytes);
  ui.memory.textContent = `GPU memory (worker): ${formatBytes(m.liveBytes)} live, ` +
    `${formatBytes(m.peakBytes)} peak, ${formatBytes(m.allocatedBytes)} allocated`;
}

/** The worker's live GPU bytes once a request is over (exact: the test compares them). */
function liveLine(m: MemoryStats): string {
  return `GPU live bytes after: ${m.liveBytes}`;
}

/** A request was answered (result or failure): drop it, and start showing the next. */
function finish(id: number, state: "done" | "error"): void {
  send({ type: "list-kept" });
  const at = pending.indexOf(id);
  if (at >= 0) pending.splice(at, 1);
  if (pending.length > 0) {
    if (at === 0) startRun();
    setState("running");
  } else {
    setState(state);
  }
}

function stopWorker(): void {
  spawned?.terminate();
  spawned = worker = undefined;
  pending.length = 0;
}

function onWorkerMessage(msg: FromWorker): void {
  switch (msg.type) {
    case "ready":
      worker = spawned;
      ui.adapter.textContent = `WebGPU adapter (in the worker): ${msg.adapter}`;
      showMemory(msg.memory);
      setState("ready");
      send({ type: "list-kept" });
      return;
    case "no-gpu":
      stopWorker();
      noWebGpu(msg.why);
      return;
    case "lost":
      stopWorker();
      noWebGpu(`the GPU device was lost (${msg.why}); reload the page.`);
      return;
    case "plan":
      showPlan(msg);
      return;
    case "kept":
      showKept(msg.list, msg.error);
      return;
    case "queued":
      log(`request ${msg.id} queued behind ${msg.ahead}`);
      return;
    case "started":
      log(`request ${msg.id} started`);
      return;
    case "stage":
      progress.setStage(msg.stage);
      ui.progressText.textContent = progress.line();
      log(msg.stage);
      return;
    case "warning":
      log(`warning: ${msg.text}`);
      return;
    case "step":
      progress.addStep(msg.step, msg.steps, msg.ms);
      ui.progress.max = msg.steps;
      ui.progress.value = msg.step;
      ui.progressText.textContent = progress.line();
      log(`step ${msg.step}/${msg.steps}  ${msg.ms.toFixed(0)} ms`);
      showMemory(msg.memory);
      return;
    case "result":
      showResult(msg);
      showMemory(msg.memory);
      ui.progressText.textContent = `done in ${msg.seconds.toFixed(1)} s`;
      log(`request ${msg.id} done in ${msg.seconds.toFixed(1)} s; ${liveLine(msg.memory)}`);
      finish(msg.id, "done");
      return;
    case "failed": {
      if (!pending.includes(msg.id)) {
        // A plan request (generation requests are all pending until answered).
        ui.planOut.textContent = `could not check the checkpoint: ${msg.message}`;
        document.body.dataset.plan = "failed";
        return;
      }
      const text = msg.cancelled
        ? "cancelled"
        : msg.captionIssues !== undefined
        ? `the caption has ${msg.captionIssues} problem${msg.captionIssues === 1 ? "" : "s"} ` +
          "(listed under the prompt): fix them, or tick “Generate despite caption issues”"
        : msg.message;
      ui.formError.textContent = text;
      ui.progressText.textContent = msg.cancelled ? "cancelled" : "failed";
      log(
        `request ${msg.id} ${msg.cancelled ? "cancelled" : `failed: ${msg.message}`}; ` +
          liveLine(msg.memory),
      );
      showMemory(msg.memory);
      finish(msg.id, "error");
      return;
    }
  }
}

function showResult(r: Extract<FromWorker, { type: "result" }>): void {
  drawRgb(ui.image, r.rgb, r.width, r.height);
  shown = { width: r.width, height: r.height, hasImage: true };
  sizeStage();
  renderBoxes();
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(new Blob([r.png as BlobPart], { type: "image/png" }));
  ui.download.href = downloadUrl;
  ui.download.download = `ideogram4-${r.width}x${r.height}-seed${r.seed ?? "x"}.png`;
  ui.download.hidden = false;
  ui.result.textContent = `${r.width}×${r.height}, ${r.plan}, seed ${r.seed ?? "-"}, ` +
    `${r.tokens} prompt tokens, ${r.seconds.toFixed(1)} s`;
}

// ---- start ------------------------------------------------------------------

function wire(): void {
  for (const name of PRESET_NAMES) ui.preset.add(new Option(name, name));
  ui.preset.value = "V4_QUALITY_48";
  ui.prompt.addEventListener("input", renderPreview);
  ui.showBoxes.addEventListener("change", renderBoxes);
  ui.width.addEventListener("input", followFormSize);
  ui.height.addEventListener("input", followFormSize);
  ui.sizePreset.addEventListener("change", () => {
    const [w, h] = ui.sizePreset.value.split("x");
    if (!h) return;
    ui.width.value = w;
    ui.height.value = h;
    ui.sizePreset.value = "";
    followFormSize();
  });
  ui.folder.addEventListener("change", () => {
    folderGeneration++;
    dropped = undefined;
    selectSource("folder");
    const n = ui.folder.files?.length ?? 0;
    ui.modelNote.textContent =
      `${n} files picked; they are read in pieces as needed, never uploaded`;
  });
  ui.url.addEventListener("input", () => selectSource("url"));
  // A checkpoint folder dropped anywhere on the page.
  document.addEventListener("dragover", (ev) => ev.preventDefault());
  document.addEventListener("drop", async (ev) => {
    ev.preventDefault();
    if (!ev.dataTransfer) return;
    try {
      const files = await droppedFiles(ev.dataTransfer.items);
      if (files.size === 0) throw new Error("nothing was dropped");
      dropped = files;
      folderGeneration++;
      selectSource("folder");
      ui.modelNote.textContent =
        `${files.size} files dropped; they are read in pieces as needed, never uploaded`;
    } catch (e) {
      ui.modelNote.textContent = `could not read the dropped folder: ${message(e)}`;
    }
  });
  ui.generate.addEventListener("click", generate);
  ui.cancel.addEventListener("click", cancel);
  ui.plan.addEventListener("click", requestPlan);
  ui.embeddedRun.addEventListener("click", () => {
    selectSource("embedded");
    ui.width.value = String(EMBEDDED_RUN.width);
    ui.height.value = String(EMBEDDED_RUN.height);
    ui.preset.value = EMBEDDED_RUN.preset;
    ui.steps.value = "";
    ui.seed.value = String(EMBEDDED_RUN.seed);
    if (ui.prompt.value.trim() === "") {
      ui.prompt.value = EXAMPLE_PROMPT;
      renderPreview();
    }
    followFormSize();
    generate();
  });
}

function noWebGpu(why: string): void {
  ui.noWebGpu.hidden = false;
  ui.noWebGpu.textContent =
    `WebGPU is not available, so this page cannot generate images: ${why} ` +
    "Use a browser with WebGPU enabled (e.g. Chrome or Edge 113+) and open the page through " +
    "http://127.0.0.1 or https. The caption checker still works.";
  ui.adapter.textContent = "no WebGPU";
  setState("no-webgpu");
}

function start(): void {
  wire();
  followFormSize();
  renderPreview();
  if (!("gpu" in navigator) || !navigator.gpu) {
    const insecure = globalThis.isSecureContext === false
      ? " (this page is not a secure context: open it through http://127.0.0.1 or https)"
      : "";
    noWebGpu(`this browser exposes no navigator.gpu${insecure}.`);
    return;
  }
  // The worker's bundle sits beside this one in dist/.
  const w = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  w.onmessage = (ev: MessageEvent<FromWorker>) => onWorkerMessage(ev.data);
  w.onerror = (ev) => {
    ev.preventDefault();
    stopWorker();
    noWebGpu(`the generation worker failed (${ev.message || "it did not load"}).`);
  };
  spawned = w;
}

try {
  start();
} catch (e) {
  ui.noWebGpu.hidden = false;
  ui.noWebGpu.textContent = `The page failed to start: ${message(e)}`;
  setState("error");
}
