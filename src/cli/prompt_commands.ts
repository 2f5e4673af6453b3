/**
 * Command-line side of prompting: the `verify` and `caption` sub-commands, and
 * the prompt flags (magic prompt, Hive moderation, caption strictness) that the
 * `generate` command shares, with their environment-variable fallbacks.
 */
import { parseArgs } from "node:util";
import { platform } from "../platform/mod.ts";
import { buildCaption, type CaptionSpec } from "../prompt/builder.ts";
import { canonicalizeCaption, serializeCaption } from "../prompt/canonical.ts";
import { PromptError, PromptRejectedError } from "../prompt/errors.ts";
import { UsageError } from "./usage_error.ts";
import { SERVICE_TIMEOUT_ENV } from "../prompt/http.ts";
import { rememberSecret } from "../redact.ts";
import { JsonSyntaxError } from "../prompt/json.ts";
import type { ModerationSettings } from "../prompt/moderation.ts";
import {
  DEFAULT_MAGIC_PROMPT_CONFIG,
  isMagicPromptConfigName,
  MAGIC_PROMPT_CONFIGS,
  type MagicPromptConfigName,
} from "../prompt/magic_prompt.ts";
import type { MagicPromptSettings } from "../prompt/prepare.ts";
import { type MagicPromptTemplate, parseMagicPromptFile } from "../prompt/system_prompt.ts";
import {
  type CaptionIssue,
  FIXED_BY_CANONICAL,
  formatIssue,
  verifyCaption,
} from "../prompt/verify.ts";
import { readPromptFile, readPromptStdin } from "./read_limited.ts";
import { EXIT_CODES_HELP } from "./exit_codes.ts";

/**
 * Where a command reads stdin and writes its output (replaced in tests).
 * Reading follows the prompt-file rules (`prompt/text_file.ts`: UTF-8, text,
 * size cap) and throws a {@link PromptRejectedError} (exit 2) otherwise.
 */
export interface CliIo {
  readStdin(): Promise<string>;
  readFile(path: string): Promise<string>;
  stdout(text: string): void;
  stderr(text: string): void;
}

const encoder = new TextEncoder();
export const denoIo: CliIo = {
  readStdin: readPromptStdin,
  readFile: readPromptFile,
  stdout: (text) => void Deno.stdout.writeSync(encoder.encode(text + "\n")),
  stderr: (text) => void Deno.stderr.writeSync(encoder.encode(text + "\n")),
};

/** Reads a caption file (`-` = stdin), without a UTF-8 byte-order mark. */
async function readInput(
  io: CliIo,
  path: string | undefined,
): Promise<{ name: string; text: string }> {
  const text = path === undefined || path === "-" ? await io.readStdin() : await io.readFile(path);
  return {
    name: path === undefined || path === "-" ? "<stdin>" : path,
    text: text.replace(/^\uFEFF/, ""),
  };
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---- verify -------------------------------------------------------------------

export const VERIFY_USAGE = `usage: verify [FILE...]   (stdin when no FILE or FILE is -)

Checks Ideogram 4 JSON captions against the schema the model was trained on.
Exit code 0 when every caption is valid, 2 otherwise (an unreadable, binary or
non-UTF-8 file included); messages go to stderr.

  -q, --quiet   print problems only

${EXIT_CODES_HELP}`;

/** `verify [FILE...]`: exit 0 when every caption is valid, 2 otherwise. */
export async function runVerify(args: string[], io: CliIo = denoIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { help: { type: "boolean", short: "h" }, quiet: { type: "boolean", short: "q" } },
      allowPositionals: true,
    });
  } catch (e) {
    io.stderr(`verify: ${errorMessage(e)}\n\n${VERIFY_USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    io.stdout(VERIFY_USAGE);
    return 0;
  }
  const files = parsed.positionals.length > 0 ? parsed.positionals : ["-"];
  let failed = false;
  for (const file of files) {
    let input;
    try {
      input = await readInput(io, file);
    } catch (e) {
      io.stderr(`${file}: cannot read: ${errorMessage(e)}`);
      failed = true;
      continue;
    }
    const issues = verifyCaption(input.text);
    if (issues.length === 0) {
      if (!parsed.values.quiet) io.stderr(`${input.name}: valid caption`);
      continue;
    }
    failed = true;
    for (const issue of issues) io.stderr(`${input.name}: ${formatIssue(issue)}`);
    if (fixedByCanonical(input.text, issues)) {
      io.stderr(`${input.name}: \`caption --canonical ${file}\` writes it in the canonical form`);
    }
  }
  return failed ? 2 : 0;
}

/**
 * Whether `caption --canonical` would repair every issue: suggested only when
 * the canonical text verifies clean (a lone surrogate such as `\ud800` stays
 * an escape in canonical form, so it is not).
 */
function fixedByCanonical(text: string, issues: CaptionIssue[]): boolean {
  if (!issues.every((i) => FIXED_BY_CANONICAL.has(i.rule))) return false;
  try {
    return verifyCaption(canonicalizeCaption(text)).length === 0;
  } catch {
    return false;
  }
}

// ---- caption ------------------------------------------------------------------

export const CAPTION_USAGE =
  `usage: caption --background TEXT [--element SPEC]... [flags]   build a caption
       caption --canonical [FILE]                                 rewrite one canonically

Building:
  --high-level TEXT        high_level_description (one or two sentences; recommended)
  --background TEXT        the scene shell: setting, ground, sky, light (required)
  --element SPEC           an element, back to front; repeat for more:
                             obj:BBOX:DESCRIPTION
                             text:BBOX:TEXT[:DESCRIPTION]   (in TEXT: \\: colon, \\n new line)
                           BBOX is y_min,x_min,y_max,x_max on a 0..1000 grid (top-left
                           origin), or empty: obj::a red kite
  --style-aesthetics TEXT  --style-lighting TEXT  --style-medium TEXT
  --style-photo TEXT       camera details (photographs), or
  --style-art-style TEXT   technique and look (everything else)
  --palette COLOURS        style palette, e.g. "#F5C542,#87CEEB" (at most 16)

Output (stdout): minified canonical JSON, the form the model gets.
  --pretty                 indented instead
  --canonical [FILE]       read a caption (stdin without FILE), write it with keys in
                           canonical order and non-ASCII literal; exit 2 if it still has issues

${EXIT_CODES_HELP}`;

/** `caption`: build a caption from flags, or rewrite one canonically. Exit 0, or 2 on bad input. */
export async function runCaption(args: string[], io: CliIo = denoIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        help: { type: "boolean", short: "h" },
        pretty: { type: "boolean" },
        canonical: { type: "boolean" },
        "high-level": { type: "string" },
        background: { type: "string" },
        element: { type: "string", multiple: true },
        palette: { type: "string" },
        "style-aesthetics": { type: "string" },
        "style-lighting": { type: "string" },
        "style-medium": { type: "string" },
        "style-photo": { type: "string" },
        "style-art-style": { type: "string" },
      },
      allowPositionals: true,
    });
  } catch (e) {
    io.stderr(`caption: ${errorMessage(e)}\n\n${CAPTION_USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    io.stdout(CAPTION_USAGE);
    return 0;
  }
  const indent = v.pretty ? 2 : 0;

  if (v.canonical) {
    if (parsed.positionals.length > 1) {
      io.stderr("caption --canonical: give one FILE (or none for stdin)");
      return 2;
    }
    let input;
    try {
      input = await readInput(io, parsed.positionals[0]);
    } catch (e) {
      io.stderr(`${parsed.positionals[0]}: cannot read: ${errorMessage(e)}`);
      return 2;
    }
    let text;
    try {
      text = canonicalizeCaption(input.text, { indent });
    } catch (e) {
      if (!(e instanceof JsonSyntaxError)) throw e;
      io.stderr(`${input.name}: ${e.message}`);
      return 2;
    }
    io.stdout(text);
    const issues = verifyCaption(text);
    for (const issue of issues) io.stderr(`${input.name}: ${formatIssue(issue)}`);
    return issues.length > 0 ? 2 : 0;
  }

  if (parsed.positionals.length > 0) {
    io.stderr(
      `caption: unexpected argument '${parsed.positionals[0]}' (files go with --canonical)`,
    );
    return 2;
  }
  if (v.background === undefined) {
    io.stderr(`caption: --background is required to build a caption\n\n${CAPTION_USAGE}`);
    return 2;
  }
  const styleFlags = [
    "style-aesthetics",
    "style-lighting",
    "style-medium",
    "style-photo",
    "style-art-style",
    "palette",
  ] as const;
  if (styleFlags.some((f) => v[f] !== undefined)) {
    const missing: string[] = (["style-aesthetics", "style-lighting", "style-medium"] as const)
      .filter((f) => v[f] === undefined).map((f) => `--${f}`);
    if ((v["style-photo"] === undefined) === (v["style-art-style"] === undefined)) {
      missing.push("exactly one of --style-photo / --style-art-style");
    }
    if (missing.length > 0) {
      io.stderr(
        `caption: a style description (--palette included) also needs ${missing.join(", ")}`,
      );
      return 2;
    }
  }
  const spec: CaptionSpec = {
    highLevel: v["high-level"],
    background: v.background,
    elements: v.element ?? [],
    style: {
      aesthetics: v["style-aesthetics"],
      lighting: v["style-lighting"],
      medium: v["style-medium"],
      photo: v["style-photo"],
      artStyle: v["style-art-style"],
      palette: v.palette,
    },
  };
  try {
    io.stdout(serializeCaption(buildCaption(spec), { indent }));
    return 0;
  } catch (e) {
    if (!(e instanceof PromptError)) throw e;
    io.stderr(`caption: ${e.message}`);
    return e.exitCode;
  }
}

// ---- prompt flags shared with `generate` ----------------------------------------

/** `parseArgs` options of the prompt step; spread them into a command's own options. */
export const MAGIC_PROMPT_FLAGS = {
  "magic-prompt": { type: "boolean" },
  "no-magic-prompt": { type: "boolean" },
  "magic-prompt-key": { type: "string" },
  "magic-prompt-url": { type: "string" },
  "magic-prompt-model": { type: "string" },
  "magic-prompt-system-file": { type: "string" },
  "keep-bboxes": { type: "boolean" },
  "warn-on-caption-issues": { type: "boolean" },
  "hive-text-key": { type: "string" },
  "hive-visual-key": { type: "string" },
  "ideogram-base-url": { type: "string" },
  "openrouter-base-url": { type: "string" },
  "hive-base-url": { type: "string" },
} as const;

/** Help lines for {@link MAGIC_PROMPT_FLAGS}. */
export const PROMPT_FLAGS_USAGE = `Prompt:
  --magic-prompt               expand the prompt into a JSON caption (an error without a backend);
                               on by default when a key or URL is configured
  --no-magic-prompt            send the prompt as it is
  --magic-prompt-model NAME    upstream's configurations: ideogram-4-v1 (Ideogram's hosted API, the
                               default), claude-sonnet-v1, claude-opus-v1 (OpenRouter); with
                               --magic-prompt-url: the model name that server knows
  --magic-prompt-key KEY       key of the magic prompt backend (env MAGIC_PROMPT_API_KEY, then
                               IDEOGRAM_API_KEY for the hosted API)
  --magic-prompt-url URL       any OpenAI-compatible endpoint (…/v1 or …/v1/chat/completions):
                               llama.cpp, vLLM, Ollama…
  --magic-prompt-system-file F the prompt for chat backends: plain text ({{aspect_ratio}} is filled
                               in) or upstream's [SYSTEM]/[USER] sections (e.g. its v1.txt)
  --keep-bboxes                keep the bboxes the magic prompt wrote (dropped by default)
  --warn-on-caption-issues     generate even when the JSON caption has schema issues
Safety (Hive):
  --hive-text-key KEY          screen the prompt (env HIVE_TEXT_MODERATION_KEY)
  --hive-visual-key KEY        screen the image (env HIVE_VISUAL_MODERATION_KEY)
Service addresses (tests, proxies):
  --ideogram-base-url URL      env IDEOGRAM_API_BASE_URL (default https://api.ideogram.ai)
  --openrouter-base-url URL    env OPENROUTER_API_BASE_URL (default https://openrouter.ai/api/v1)
  --hive-base-url URL          env HIVE_API_BASE_URL (default https://api.thehive.ai)
  env IDEOGRAM4_SERVICE_TIMEOUT seconds one service request may take (default 120 for the magic
                               prompt, 30 / 60 for Hive text / visual)`;

/** The values `parseArgs` gives for {@link MAGIC_PROMPT_FLAGS}. */
export interface PromptFlagValues {
  "magic-prompt"?: boolean;
  "no-magic-prompt"?: boolean;
  "magic-prompt-key"?: string;
  "magic-prompt-url"?: string;
  "magic-prompt-model"?: string;
  "magic-prompt-system-file"?: string;
  "keep-bboxes"?: boolean;
  "warn-on-caption-issues"?: boolean;
  "hive-text-key"?: string;
  "hive-visual-key"?: string;
  "ideogram-base-url"?: string;
  "openrouter-base-url"?: string;
  "hive-base-url"?: string;
}

/** Settings for `preparePrompt` / `screenImage`, from flags and environment. */
export interface PromptSettings {
  magicPrompt: MagicPromptSettings;
  moderation: ModerationSettings;
  warnOnCaptionIssues: boolean;
  /** Lines to show (e.g. a key that is set but unused). */
  warnings: string[];
}

export type EnvLookup = (name: string) => string | undefined;

/**
 * Resolves prompt flags, falling back to the environment. The backend is
 * `--magic-prompt-url` (an OpenAI-compatible server, `--magic-prompt-model`
 * naming its model) or else one of upstream's configurations
 * (`--magic-prompt-model`, default `ideogram-4-v1`). Its key, as upstream
 * looks it up: `--magic-prompt-key`, then `MAGIC_PROMPT_API_KEY`, then (for
 * the hosted API only: we send no Ideogram key to another service)
 * `IDEOGRAM_API_KEY`. Reads the prompt file. Throws
 * {@link UsageError} on contradictory flags, {@link PromptRejectedError} on an
 * unreadable or invalid magic prompt template.
 */
export async function promptSettingsFromFlags(
  values: PromptFlagValues,
  env: EnvLookup = (name) => platform().env(name),
  readFile: (path: string) => Promise<string> = (path) => platform().readText(path),
): Promise<PromptSettings> {
  const get = (name: string) => {
    const v = env(name);
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  };
  // Keys from flags or the environment: trimmed, checked without echoing them,
  // and remembered so that no message ever prints them.
  const key = (value: string | undefined, from: string) => {
    const k = value?.trim();
    if (k === undefined || k === "") return undefined;
    rememberSecret(k);
    if (/[\s\p{Cc}]/u.test(k)) {
      throw new UsageError(`${from}: the key contains spaces or control characters`);
    }
    return k;
  };
  if (values["magic-prompt"] && values["no-magic-prompt"]) {
    throw new UsageError("--magic-prompt and --no-magic-prompt contradict each other");
  }
  const url = values["magic-prompt-url"];
  const modelFlag = values["magic-prompt-model"];
  const flagKey = key(values["magic-prompt-key"], "--magic-prompt-key");
  const timeoutText = get(SERVICE_TIMEOUT_ENV);
  const timeoutS = timeoutText === undefined ? undefined : Number(timeoutText);
  if (timeoutS !== undefined && !(timeoutS > 0 && Number.isFinite(timeoutS))) {
    throw new UsageError(
      `${SERVICE_TIMEOUT_ENV}=${timeoutText}: must be a positive number of seconds`,
    );
  }
  const timeoutMs = timeoutS === undefined ? undefined : timeoutS * 1000;
  const warnings: string[] = [];

  let config: MagicPromptConfigName | undefined;
  if (url === undefined && modelFlag !== undefined) {
    if (!isMagicPromptConfigName(modelFlag)) {
      throw new UsageError(
        `--magic-prompt-model ${modelFlag}: not one of upstream's configurations (${
          Object.keys(MAGIC_PROMPT_CONFIGS).join(", ")
        }); for another model, give the server with --magic-prompt-url too`,
      );
    }
    config = modelFlag;
  }
  const chosen = config ?? DEFAULT_MAGIC_PROMPT_CONFIG;

  let template: MagicPromptTemplate | undefined;
  const systemFile = values["magic-prompt-system-file"];
  if (systemFile !== undefined) {
    let text;
    try {
      text = await readFile(systemFile);
    } catch (e) {
      throw new PromptRejectedError(`--magic-prompt-system-file ${systemFile}: ${errorMessage(e)}`);
    }
    try {
      template = parseMagicPromptFile(text, `--magic-prompt-system-file ${systemFile}`);
    } catch (e) {
      throw new PromptRejectedError(errorMessage(e));
    }
    if (!url && chosen === "ideogram-4-v1") {
      warnings.push(
        "--magic-prompt-system-file applies to chat backends (--magic-prompt-url, claude-*); " +
          "Ideogram's hosted magic prompt uses its own",
      );
    }
  }

  // Every key is read (and so remembered for redaction) even when unused.
  const envMagic = key(get("MAGIC_PROMPT_API_KEY"), "MAGIC_PROMPT_API_KEY");
  const envIdeogram = key(get("IDEOGRAM_API_KEY"), "IDEOGRAM_API_KEY");
  const apiKey = flagKey ?? envMagic ??
    (!url && chosen === "ideogram-4-v1" ? envIdeogram : undefined);
  if (!url && chosen !== "ideogram-4-v1" && !apiKey && envIdeogram) {
    warnings.push(
      `IDEOGRAM_API_KEY is not sent to OpenRouter (${chosen}); set MAGIC_PROMPT_API_KEY ` +
        "or pass --magic-prompt-key with an OpenRouter key",
    );
  }
  // Naming a configuration asks for magic prompt, as --magic-prompt does.
  const enabled = values["no-magic-prompt"]
    ? false
    : values["magic-prompt"] || config !== undefined
    ? true
    : undefined;
  return {
    magicPrompt: {
      enabled,
      config,
      apiKey,
      ideogramBaseUrl: values["ideogram-base-url"] ?? get("IDEOGRAM_API_BASE_URL"),
      openRouterBaseUrl: values["openrouter-base-url"] ?? get("OPENROUTER_API_BASE_URL"),
      url,
      model: url === undefined ? undefined : modelFlag,
      template,
      keepBboxes: values["keep-bboxes"] ?? false,
      timeoutMs,
    },
    moderation: {
      textKey: key(values["hive-text-key"], "--hive-text-key") ??
        key(get("HIVE_TEXT_MODERATION_KEY"), "HIVE_TEXT_MODERATION_KEY"),
      visualKey: key(values["hive-visual-key"], "--hive-visual-key") ??
        key(get("HIVE_VISUAL_MODERATION_KEY"), "HIVE_VISUAL_MODERATION_KEY"),
      baseUrl: values["hive-base-url"] ?? get("HIVE_API_BASE_URL"),
      timeoutMs,
    },
    warnOnCaptionIssues: values["warn-on-caption-issues"] ?? false,
    warnings,
  };
}

/**
 * Parses only the prompt flags out of `args` (other flags are an error) and
 * resolves them; `positionals` are the remaining arguments.
 */
export async function parsePromptFlags(
  args: string[],
  env?: EnvLookup,
  readFile?: (path: string) => Promise<string>,
): Promise<{ settings: PromptSettings; positionals: string[] }> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: MAGIC_PROMPT_FLAGS, allowPositionals: true });
  } catch (e) {
    throw new UsageError(errorMessage(e));
  }
  return {
    settings: await promptSettingsFromFlags(parsed.values, env, readFile),
    positionals: parsed.positionals,
  };
}
