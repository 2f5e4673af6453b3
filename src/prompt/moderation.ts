/**
 * Hive moderation: text moderation of the prompt before any weight is loaded,
 * visual moderation of the PNG before it is written. Classes and thresholds
 * are those of the reference pipeline (spec §7). Without a key a check is
 * skipped with a warning that screening is off; with a key, a service failure
 * is an error (nothing is generated unscreened).
 */
import { type ModerationFlag, ModerationFlaggedError, ModerationServiceError } from "./errors.ts";
import { DEFAULT_RETRY, postJson, type RetryPolicy } from "./http.ts";
import { joinUrl } from "./magic_prompt.ts";
import { redact } from "../redact.ts";

export const HIVE_API_BASE_URL = "https://api.thehive.ai";
export const HIVE_TEXT_PATH = "/api/v3/hive/text-moderation";
export const HIVE_VISUAL_PATH = "/api/v3/hive/visual-moderation";

/** Text classes are integer severities (0 = absent); any presence flags. */
export const HIVE_TEXT_THRESHOLD = 1;
/** Visual classes are probabilities in [0, 1]. */
export const HIVE_VISUAL_THRESHOLD = 0.9;

export const HIVE_TEXT_CLASSES: ReadonlySet<string> = new Set([
  "bullying",
  "child_exploitation",
  "child_safety",
  "drugs",
  "hate",
  "self_harm",
  "self_harm_intent",
  "sexual",
  "sexual_description",
  "violence",
  "violent_description",
]);

export const HIVE_VISUAL_CLASSES: ReadonlySet<string> = new Set([
  "general_nsfw",
  "general_suggestive",
  "yes_sexual_activity",
  "yes_sexual_intent",
  "yes_realistic_nsfw",
  "very_bloody",
  "yes_animal_abuse",
  "yes_self_harm",
  "yes_confederate",
  "yes_kkk",
  "yes_nazi",
]);

/** Hive moderation keys and how to call it. */
export interface ModerationSettings {
  /** Hive Text Moderation key; absent = prompt screening off (with a warning). */
  textKey?: string;
  /** Hive Visual Moderation key; absent = image screening off (with a warning). */
  visualKey?: string;
  /** Defaults to {@link HIVE_API_BASE_URL}; tests point it at a local server. */
  baseUrl?: string;
  /** Default 30 s for text, 60 s for images. */
  timeoutMs?: number;
  /** Retries on 429 / 5xx; default {@link DEFAULT_RETRY}. */
  retry?: RetryPolicy;
  /** Replaces the global `fetch`. */
  fetch?: typeof fetch;
  /** Aborts the calls. */
  signal?: AbortSignal;
}

export const TEXT_SCREENING_OFF =
  "no Hive text moderation key (--hive-text-key or HIVE_TEXT_MODERATION_KEY): prompt safety screening is off";
export const IMAGE_SCREENING_OFF =
  "no Hive visual moderation key (--hive-visual-key or HIVE_VISUAL_MODERATION_KEY): image safety screening is off";

/** Classes of the text model at or above the threshold, in reply order. */
export async function moderateText(
  text: string,
  settings: ModerationSettings & { textKey: string },
) {
  const service = "Hive text moderation";
  const reply = await postJson({
    url: joinUrl(settings.baseUrl ?? HIVE_API_BASE_URL, HIVE_TEXT_PATH),
    headers: { Authorization: `Bearer ${settings.textKey}`, "Content-Type": "application/json" },
    body: () => JSON.stringify({ input: [{ text }] }),
    timeoutMs: settings.timeoutMs ?? 30_000,
    retry: settings.retry ?? DEFAULT_RETRY,
    secrets: [settings.textKey],
    error: (status, message) => new ModerationServiceError(service, status, message),
    fetch: settings.fetch,
    signal: settings.signal,
  });
  return flagsOf(reply, HIVE_TEXT_CLASSES, HIVE_TEXT_THRESHOLD, service);
}

/** Classes of the visual model at or above the threshold; `png` is sent as multipart field `media`. */
export async function moderateImage(
  png: Uint8Array,
  settings: ModerationSettings & { visualKey: string },
) {
  const service = "Hive visual moderation";
  const reply = await postJson({
    url: joinUrl(settings.baseUrl ?? HIVE_API_BASE_URL, HIVE_VISUAL_PATH),
    // No Content-Type: fetch sets multipart/form-data with its boundary.
    headers: { Authorization: `Bearer ${settings.visualKey}` },
    body: () => {
      const form = new FormData();
      form.append(
        "media",
        new Blob([png as Uint8Array<ArrayBuffer>], { type: "image/png" }),
        "image.png",
      );
      return form;
    },
    timeoutMs: settings.timeoutMs ?? 60_000,
    retry: settings.retry ?? DEFAULT_RETRY,
    secrets: [settings.visualKey],
    error: (status, message) => new ModerationServiceError(service, status, message),
    fetch: settings.fetch,
    signal: settings.signal,
  });
  return flagsOf(reply, HIVE_VISUAL_CLASSES, HIVE_VISUAL_THRESHOLD, service);
}

/**
 * `output[].classes[] = {class, value}` → the watched classes at or above
 * `threshold`. Fails closed: a reply that cannot be read as a verdict (no
 * output, an item without classes, a class without a numeric value, none of
 * the watched classes scored) is a {@link ModerationServiceError}, never a pass.
 */
function flagsOf(reply: unknown, watched: ReadonlySet<string>, threshold: number, service: string) {
  const unreadable = (why: string) =>
    new ModerationServiceError(
      service,
      200,
      `the reply is not a moderation verdict (${why}): ${
        redact(JSON.stringify(reply) ?? "")
          .slice(0, 200)
      }; nothing is generated unscreened`,
    );
  const output = (reply as { output?: unknown } | null)?.output;
  if (!Array.isArray(output) || output.length === 0) throw unreadable("no output list");
  const flags: ModerationFlag[] = [];
  let scored = 0;
  for (const item of output) {
    const classes = (item as { classes?: unknown } | null)?.classes;
    if (!Array.isArray(classes) || classes.length === 0) {
      throw unreadable("an output without classes");
    }
    for (const c of classes) {
      const name = c?.class, score = c?.value;
      if (typeof name !== "string" || typeof score !== "number" || !Number.isFinite(score)) {
        throw unreadable("a class without a name and a numeric value");
      }
      if (!watched.has(name)) continue;
      scored++;
      if (score >= threshold) flags.push({ class: name, score });
    }
  }
  if (scored === 0) throw unreadable("none of the screened classes is scored");
  return flags;
}

/** What a screening step did. */
export interface ScreenResult {
  /** Whether Hive was asked (false: no key, screening off). */
  screened: boolean;
  /** Lines to show the user (screening off). */
  warnings: string[];
}

/**
 * Screens a prompt before any weight is loaded: throws
 * {@link ModerationFlaggedError} (exit code 2) when flagged.
 */
export async function screenPrompt(
  text: string,
  settings: ModerationSettings = {},
): Promise<ScreenResult> {
  if (!settings.textKey) return { screened: false, warnings: [TEXT_SCREENING_OFF] };
  const flags = await moderateText(text, { ...settings, textKey: settings.textKey });
  if (flags.length > 0) throw new ModerationFlaggedError("prompt", flags);
  return { screened: true, warnings: [] };
}

/**
 * Screens a generated PNG before it is written: throws
 * {@link ModerationFlaggedError} (exit code 2, write nothing) when flagged.
 */
export async function screenImage(
  png: Uint8Array,
  settings: ModerationSettings = {},
): Promise<ScreenResult> {
  if (!settings.visualKey) return { screened: false, warnings: [IMAGE_SCREENING_OFF] };
  const flags = await moderateImage(png, { ...settings, visualKey: settings.visualKey });
  if (flags.length > 0) throw new ModerationFlaggedError("image", flags);
  return { screened: true, warnings: [] };
}
