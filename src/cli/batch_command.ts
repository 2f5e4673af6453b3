/**
 * `batch prompts.jsonl --out DIR`: many images with the model loaded once.
 *
 * One JSON object a line (blank lines and lines starting with `#` are
 * skipped): `prompt` (text) or `caption` (a JSON caption, object or
 * string), and optionally `output` (file name in DIR, default
 * `line-NNNNN.png` from the line number), `seed` (default 0, as for
 * `generate`), `size` ("WxH") or `width`/`height`, `preset` or
 * `sampler-preset`, `steps`, `guidance`, `mu`, `std`, and the magic prompt
 * switches — the same options, checked by the same code, as `generate`.
 *
 * Every line is checked before the model loads (a bad line: exit 2, nothing
 * generated). Lines whose output exists are skipped, so a killed batch
 * resumes where it stopped; each PNG is written atomically. A failure is
 * listed and the batch goes on (`--fail-fast` stops). `--shard i/n` takes
 * the lines whose index (among prompt lines, from 0) is i modulo n, so n
 * machines split one file with no coordinator. Exit 0 when every line has
 * its image, 2 when only refusals failed (moderation, caption), else 1.
 */
import { parseArgs } from "node:util";
import { redact } from "../redact.ts";
import { platform } from "../platform/mod.ts";
import { PromptError, PromptRejectedError } from "../prompt/errors.ts";
import { UsageError } from "./usage_error.ts";
import { SizeError } from "../pipeline/size.ts";
import { PromptTooLongError } from "../text/tokenizer.ts";
import { NATIVE_OPTIONS, overridesFrom } from "../serve/api.ts";
import type { ImageEngine } from "../serve/engine.ts";
import { duration, type GenerateIo } from "./generate_command.ts";
import {
  flagsFromJson,
  type ImageRequest,
  imageRequestFromFlags,
  type OptionKinds,
  type RequestFlags,
} from "./generate_request.ts";
import { denoIo, PROMPT_FLAGS_USAGE } from "./prompt_commands.ts";
import type { PromptOverrides } from "../serve/engine.ts";
import { openEngineFromFlags, WARM_MODEL_FLAGS, WARM_MODEL_USAGE } from "./warm_model.ts";

export const BATCH_USAGE = `usage: batch PROMPTS.jsonl --out DIR [flags]

Generates one PNG per line of PROMPTS.jsonl into DIR, loading the model once.
A line: {"prompt": "a red fox", "seed": 3, "size": "512x512", "preset": "V4_TURBO_12",
         "output": "fox.png"}  or  {"caption": {…a JSON caption…}, …}
(also width, height, sampler-preset, steps, guidance, mu, std, magic prompt switches).
Lines whose output exists are skipped: rerun the same command to resume.

  --out DIR                 folder for the images (created)
  --shard I/N               only lines I, I+N, I+2N, … (0 ≤ I < N, counting prompt lines from 0)
  --fail-fast               stop at the first failure (default: list failures at the end)

${WARM_MODEL_USAGE}

${PROMPT_FLAGS_USAGE}`;

const BATCH_FLAGS = {
  ...WARM_MODEL_FLAGS,
  out: { type: "string" },
  shard: { type: "string" },
  "fail-fast": { type: "boolean" },
} as const;

/** One checked line of the file. */
export interface BatchLine {
  /** 1-based line number in the file. */
  lineNo: number;
  /** 0-based index among prompt lines (what --shard counts). */
  index: number;
  prompt: string;
  request: ImageRequest;
  seed: number;
  output: string;
  overrides: PromptOverrides;
}

/** Keys a line may have: `generate`'s per-image options and the batch's own. */
const LINE_OPTIONS: OptionKinds = {
  ...Object.fromEntries(
    Object.entries(NATIVE_OPTIONS).filter(([k]) => k !== "n" && k !== "stream"),
  ),
  output: "string",
  size: "string",
  preset: "string",
};

/** Parses `--shard I/N`. */
export function parseShard(v: string | undefined): { i: number; n: number } {
  if (v === undefined) return { i: 0, n: 1 };
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) {
    throw new UsageError(`--shard ${v}: expected I/N with 0 ≤ I < N, e.g. 0/4`);
  }
  return { i: Number(m[1]), n: Number(m[2]) };
}

/**
 * Every prompt line of a JSONL file, checked; throws one
 * {@link PromptRejectedError} listing every bad line (`file:line: $.key …`).
 */
export function parseBatchFile(text: string, file: string, embedded: boolean): BatchLine[] {
  const lines: BatchLine[] = [];
  const problems: string[] = [];
  const outputs = new Map<string, number>();
  let index = 0;
  text.replace(/^\uFEFF/, "").split(/\r?\n/).forEach((raw, i) => {
    const lineNo = i + 1;
    if (raw.trim() === "" || raw.trimStart().startsWith("#")) return;
    const lineIndex = index++;
    try {
      let obj: unknown;
      try {
        obj = JSON.parse(raw);
      } catch (e) {
        throw new PromptRejectedError(`not JSON: ${(e as Error).message}`);
      }
      if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
        throw new PromptRejectedError("$: expected a JSON object");
      }
      const o = { ...obj } as Record<string, unknown>;
      if ((o.prompt === undefined) === (o.caption === undefined)) {
        throw new PromptRejectedError("give exactly one of $.prompt and $.caption");
      }
      if (o.caption !== undefined) {
        if (typeof o.caption === "object" && o.caption !== null) {
          o.prompt = JSON.stringify(o.caption);
        } else if (typeof o.caption === "string") o.prompt = o.caption;
        else throw new PromptRejectedError("$.caption: expected a JSON object or a string");
        delete o.caption;
      }
      const v = flagsFromJson(o, LINE_OPTIONS, "$");
      if (typeof v.prompt !== "string" || v.prompt.trim() === "") {
        throw new PromptRejectedError("$.prompt: must be non-empty text");
      }
      const flags: RequestFlags = { seed: "0", ...v } as RequestFlags;
      if (v.size !== undefined) {
        const m = /^(\d+)x(\d+)$/.exec(v.size as string);
        if (!m) throw new UsageError(`$.size ${v.size}: expected WIDTHxHEIGHT`);
        if (v.width !== undefined || v.height !== undefined) {
          throw new UsageError("$.size: give size or width/height, not both");
        }
        [flags.width, flags.height] = [m[1], m[2]];
      }
      if (v.preset !== undefined) {
        if (v["sampler-preset"] !== undefined) {
          throw new UsageError("$.preset: give preset or sampler-preset, not both");
        }
        flags["sampler-preset"] = v.preset as string;
      }
      const request = imageRequestFromFlags(flags, embedded, (k) => `$.${k}`);
      const output = (v.output as string | undefined) ??
        `line-${String(lineNo).padStart(5, "0")}.png`;
      if (!/^[^/\\]+\.png$/i.test(output) || output.startsWith(".")) {
        throw new UsageError(
          `$.output ${output}: a file name ending in .png, without folders or a leading dot`,
        );
      }
      const seen = outputs.get(output);
      if (seen !== undefined) {
        throw new UsageError(`$.output ${output}: line ${seen} writes it too`);
      }
      outputs.set(output, lineNo);
      lines.push({
        lineNo,
        index: lineIndex,
        prompt: v.prompt,
        request,
        seed: request.seed ?? 0,
        output,
        overrides: overridesFrom(v),
      });
    } catch (e) {
      problems.push(`${file}:${lineNo}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  if (problems.length > 0) {
    throw new PromptRejectedError(
      `${problems.length} bad line(s) in ${file}; nothing was generated:\n  ` +
        problems.join("\n  "),
    );
  }
  if (lines.length === 0) throw new PromptRejectedError(`${file}: no prompt lines`);
  return lines;
}

/** `[#######.............]` */
function bar(done: number, total: number, width = 20): string {
  const full = total === 0 ? width : Math.round((width * done) / total);
  return `[${"#".repeat(full)}${".".repeat(width - full)}]`;
}

function isRefusal(e: unknown): boolean {
  return e instanceof PromptError || e instanceof UsageError
    ? e.exitCode === 2
    : e instanceof SizeError || e instanceof PromptTooLongError;
}

/** `batch …` → exit code. */
export async function runBatch(args: string[], raw: GenerateIo = denoIo): Promise<number> {
  // Every line passes the redaction (src/redact.ts).
  const io: GenerateIo = { ...raw, stderr: (text) => raw.stderr(redact(text)) };
  try {
    return await batch(args, io);
  } catch (e) {
    io.stderr(`batch: ${e instanceof Error ? e.message : String(e)}`);
    return isRefusal(e) ? 2 : 1;
  }
}

async function batch(args: string[], io: GenerateIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: BATCH_FLAGS, allowPositionals: true });
  } catch (e) {
    throw new UsageError(`${e instanceof Error ? e.message : e}\n\n${BATCH_USAGE}`);
  }
  const v = parsed.values;
  if (v.help) {
    io.stdout(BATCH_USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    throw new UsageError(`give one PROMPTS.jsonl file\n\n${BATCH_USAGE}`);
  }
  if (v.out === undefined) throw new UsageError("--out DIR is required");
  const file = parsed.positionals[0];
  const shard = parseShard(v.shard);
  const p = platform();
  let text;
  try {
    text = await io.readFile(file);
  } catch (e) {
    throw new Error(`${file}: cannot read: ${e instanceof Error ? e.message : e}`);
  }
  const env = io.env ?? ((name: string) => p.env(name));
  const embedded = (v.model ?? env("IDEOGRAM4_MODEL")) === undefined &&
    v.quantization === undefined;
  const all = parseBatchFile(text, file, embedded);
  const mine = all.filter((l) => l.index % shard.n === shard.i);
  const out = v.out;
  await Deno.mkdir(out, { recursive: true });
  const todo: BatchLine[] = [];
  let skipped = 0;
  for (const line of mine) {
    if (await p.exists(p.join(out, line.output))) skipped++;
    else todo.push(line);
  }
  const quiet = v.quiet === true;
  io.stderr(
    `batch: ${mine.length} line(s)${shard.n > 1 ? ` in shard ${shard.i}/${shard.n}` : ""}; ` +
      `${skipped} already done, ${todo.length} to generate`,
  );
  const failures: { line: BatchLine; error: unknown }[] = [];
  let written = 0;
  const t0 = performance.now();
  if (todo.length > 0) {
    const { engine } = await openEngineFromFlags(v, io);
    try {
      await runLines(
        engine,
        todo,
        out,
        io,
        quiet,
        v["fail-fast"] === true,
        failures,
        () => written++,
      );
    } finally {
      engine.close();
    }
  }
  const elapsed = performance.now() - t0;
  io.stderr(
    `batch: ${written} written, ${skipped} skipped (already there), ${failures.length} failed` +
      (written > 0
        ? ` in ${duration(elapsed)} (${(elapsed / 1000 / written).toFixed(2)} s/image)`
        : ""),
  );
  for (const f of failures) {
    io.stderr(
      `  line ${f.line.lineNo} (${f.line.output}): ${
        f.error instanceof Error ? f.error.message : String(f.error)
      }`,
    );
  }
  const notRun = todo.length - written - failures.length;
  if (notRun > 0) io.stderr(`batch: stopped (--fail-fast); ${notRun} line(s) not run`);
  if (failures.length === 0 && notRun === 0) return 0;
  return failures.every((f) => isRefusal(f.error)) ? 2 : 1;
}

async function runLines(
  engine: ImageEngine,
  todo: BatchLine[],
  out: string,
  io: GenerateIo,
  quiet: boolean,
  failFast: boolean,
  failures: { line: BatchLine; error: unknown }[],
  onWritten: () => void,
): Promise<void> {
  const p = platform();
  const t0 = performance.now();
  for (let k = 0; k < todo.length; k++) {
    const line = todo[k];
    const started = performance.now();
    try {
      const result = await engine.run({
        prompt: line.prompt,
        request: line.request,
        seeds: [line.seed],
        overrides: line.overrides,
      });
      if (k === 0) { for (const w of result.warnings) io.stderr(`warning: ${w}`); }
      await p.writeFileAtomic(p.join(out, line.output), result.images[0].png);
      onWritten();
    } catch (e) {
      failures.push({ line, error: e });
      if (!quiet) io.stderr(`line ${line.lineNo}: failed: ${e instanceof Error ? e.message : e}`);
      if (failFast) return;
    }
    if (!quiet) {
      const done = k + 1;
      const eta = ((performance.now() - t0) / done) * (todo.length - done);
      io.stderr(
        `${bar(done, todo.length)} ${done}/${todo.length}  line ${line.lineNo} ${line.output}  ` +
          `${((performance.now() - started) / 1000).toFixed(2)} s  ETA ${duration(eta)}`,
      );
    }
  }
}
