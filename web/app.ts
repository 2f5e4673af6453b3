/// <reference lib="dom" />
/**
 * The demo page (`web/index.html`, bundled to `web/dist/app.js`): pick a
 * checkpoint (embedded, a folder, or a URL), write a prompt or a JSON caption
 * (verified as it is typed, palettes and boxes previewed), generate with
 * per-step progress, and download the PNG.
 *
 * `document.body.dataset.state` says where the page is, for people and for
 * `tests/web/browser_test.ts`: `loading` → `ready` | `no-webgpu`, then
 * `running` → `done` | `error` (and back to `running` on the next try).
 */
import {
  CaptionInvalidError,
  createGpu,
  encodePng,
  type GenerateResult,
  type GpuContext,
  Ideogram4Pipeline,
  preparePrompt,
  PRESET_NAMES,
  setPlatform,
  sizeAdvice,
  type StepProgress,
  validateSize,
} from "./ideogram4.ts";
import { type CaptionPreview, previewCaption } from "./caption_preview.ts";
import { drawBoxes, drawPlaceholder, drawRgb } from "./image_view.ts";
import { type ModelSource, openSource } from "./model_source.ts";

/** What the embedded-model button runs: the CLI's defaults for that model. */
const EMBEDDED_RUN = { width: 256, height: 256, preset: "V4_TURBO_12", seed: 0 } as const;
const EXAMPLE_PROMPT = "a red fox in fresh snow, morning light";

type PageState = "loading" | "ready" | "no-webgpu" | "running" | "done" | "error";

const el = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
};

const ui = {
  adapter: el("adapter"),
  noWebGpu: el("no-webgpu"),
  embeddedRun: el<HTMLButtonElement>("embedded-run"),
  folder: el<HTMLInputElement>("model-folder"),
  url: el<HTMLInputElement>("model-url"),
  modelNote: el("model-note"),
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
  log: el("log"),
  image: el<HTMLCanvasElement>("image"),
  overlay: el<HTMLCanvasElement>("overlay"),
  showBoxes: el<HTMLInputElement>("show-boxes"),
  download: el<HTMLAnchorElement>("download"),
  result: el("result"),
};

let gpu: GpuContext | undefined;
/** The open pipeline and the source it reads, reused while the source stays the same. */
let open: { key: string; pipe: Ideogram4Pipeline } | undefined;
/** Bumped when a new folder is picked, so a pipeline over the old files is not reused. */
let folderGeneration = 0;
let running: AbortController | undefined;
let preview: CaptionPreview = previewCaption("");
/** Size of the picture on screen (the last image, or the form's size before one). */
let shown = { width: 1024, height: 1024, hasImage: false };
let downloadUrl: string | undefined;

function setState(state: PageState): void {
  document.body.dataset.state = state;
  const busy = state === "running";
  const usable = gpu !== undefined;
  ui.generate.disabled = busy || !usable;
  ui.embeddedRun.disabled = busy || !usable;
  ui.cancel.disabled = !busy;
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
    const files = ui.folder.files;
    if (!files || files.length === 0) throw new Error("pick the checkpoint's folder first");
    return { source: { kind, files: Array.from(files) }, key: `folder#${folderGeneration}` };
  }
  if (kind === "url") return { source: { kind, url: ui.url.value }, key: `url:${ui.url.value}` };
  return { source: { kind: "embedded" }, key: "embedded" };
}

function selectSource(kind: ModelSource["kind"]): void {
  const radio = document.querySelector<HTMLInputElement>(`input[name="source"][value="${kind}"]`);
  if (radio) radio.checked = true;
}

async function pipelineFor(source: ModelSource, key: string): Promise<Ideogram4Pipeline> {
  if (open?.key === key) return open.pipe;
  open?.pipe.release();
  open = undefined;
  const opened = openSource(source, location.href);
  // Components that read through the registered platform see the same files.
  setPlatform(opened.platform);
  log(`opening ${opened.label}${opened.dir ? ` (${opened.dir}/)` : ""}`);
  const pipe = await Ideogram4Pipeline.open(gpu!, opened.dir, { platform: opened.platform });
  open = { key, pipe };
  return pipe;
}

// ---- generation -------------------------------------------------------------

interface Job {
  prompt: string;
  width: number;
  height: number;
  preset?: string;
  steps?: number;
  seed: number;
}

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
  return { prompt, width, height, preset: ui.preset.value || undefined, steps, seed };
}

async function generate(): Promise<void> {
  if (!gpu || running) return;
  ui.formError.textContent = "";
  let req: Job, source: { source: ModelSource; key: string };
  try {
    req = readForm();
    source = chosenSource();
  } catch (e) {
    ui.formError.textContent = message(e);
    return;
  }
  running = new AbortController();
  const signal = running.signal;
  setState("running");
  ui.log.textContent = "";
  ui.progress.value = 0;
  ui.progressText.textContent = "preparing the prompt";
  const started = runStarted = performance.now();
  try {
    const prepared = await preparePrompt({
      prompt: req.prompt,
      width: req.width,
      height: req.height,
      magicPrompt: { enabled: false },
      warnOnCaptionIssues: ui.warnOnly.checked,
      signal,
    });
    for (const w of prepared.warnings) log(`warning: ${w}`);
    const sizeWarning = sizeAdvice(req.width, req.height);
    if (sizeWarning) log(`warning: ${sizeWarning}`);
    const pipe = await pipelineFor(source.source, source.key);
    const result = await pipe.generate({
      prompt: prepared.prompt,
      allowCaptionIssues: ui.warnOnly.checked,
      width: req.width,
      height: req.height,
      preset: req.preset,
      steps: req.steps,
      seed: req.seed,
      signal,
      onStatus: (line) => {
        ui.progressText.textContent = line;
        log(line);
      },
      onProgress: (p: StepProgress) => showProgress(p, started),
    });
    const seconds = (performance.now() - started) / 1000;
    showResult(result, prepared.prompt, seconds);
    ui.progressText.textContent = `done in ${seconds.toFixed(1)} s`;
    log(`done in ${seconds.toFixed(1)} s`);
    setState("done");
  } catch (e) {
    const aborted = signal.aborted;
    const text = aborted
      ? "cancelled"
      : e instanceof CaptionInvalidError
      ? `the caption has ${e.issues.length} problem${e.issues.length === 1 ? "" : "s"} ` +
        "(listed under the prompt): fix them, or tick “Generate despite caption issues”"
      : message(e);
    ui.formError.textContent = text;
    ui.progressText.textContent = aborted ? "cancelled" : "failed";
    log(`error: ${message(e)}`);
    setState("error");
  } finally {
    running = undefined;
    ui.cancel.disabled = true;
  }
}

function showProgress(p: StepProgress, started: number): void {
  const elapsed = performance.now() - started;
  ui.progress.max = p.steps;
  ui.progress.value = p.step;
  ui.progressText.textContent = `step ${p.step}/${p.steps} · ${p.ms.toFixed(0)} ms · ` +
    `${(elapsed / 1000).toFixed(1)} s elapsed`;
  log(`step ${p.step}/${p.steps}  ${p.ms.toFixed(0)} ms`);
}

function showResult(r: GenerateResult, prompt: string, seconds: number): void {
  drawRgb(ui.image, r.rgb, r.width, r.height);
  shown = { width: r.width, height: r.height, hasImage: true };
  sizeStage();
  renderBoxes();
  const planName = r.sampling.preset ?? `custom ${r.sampling.steps} steps`;
  const png = encodePng(r.rgb, r.width, r.height, {
    Caption: prompt,
    Seed: String(r.seed ?? "-"),
    Size: `${r.width}x${r.height}`,
    Preset: planName,
    Steps: String(r.sampling.steps),
    Software: "ideogram4-webgpu (browser)",
  });
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(new Blob([png], { type: "image/png" }));
  ui.download.href = downloadUrl;
  ui.download.download = `ideogram4-${r.width}x${r.height}-seed${r.seed ?? "x"}.png`;
  ui.download.hidden = false;
  ui.result.textContent = `${r.width}×${r.height}, ${planName}, seed ${r.seed ?? "-"}, ` +
    `${r.tokens} prompt tokens, ${seconds.toFixed(1)} s`;
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
    selectSource("folder");
    const n = ui.folder.files?.length ?? 0;
    ui.modelNote.textContent =
      `${n} files picked; they are read in pieces as needed, never uploaded`;
  });
  ui.url.addEventListener("input", () => selectSource("url"));
  ui.generate.addEventListener("click", generate);
  ui.cancel.addEventListener("click", () => running?.abort());
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

async function start(): Promise<void> {
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
  try {
    gpu = await createGpu();
  } catch (e) {
    noWebGpu(`no adapter or device (${message(e).split(". ")[0]}).`);
    return;
  }
  ui.adapter.textContent = `WebGPU adapter: ${gpu.describe()}`;
  gpu.device.lost.then((info) => {
    if (info.reason === "destroyed") return;
    gpu = undefined;
    noWebGpu(`the GPU device was lost (${info.message}); reload the page.`);
  });
  setState("ready");
}

start().catch((e) => {
  ui.noWebGpu.hidden = false;
  ui.noWebGpu.textContent = `The page failed to start: ${message(e)}`;
  setState("error");
});
