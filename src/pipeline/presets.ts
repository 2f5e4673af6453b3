/**
 * Named sampler presets (spec §5) and the resolution of user options into one
 * {@link SamplingPlan}.
 *
 * Guidance order: every guidance list in this project is CHRONOLOGICAL —
 * `guidance[0]` is used by the first step executed (pure noise), the last
 * entry by the final step. The reference stores its lists the other way
 * round (indexed by its loop counter, which counts down, so its index 0 is
 * the last step); its presets "3 × 3.0 then 45 × 7.0" in that order are
 * "45 × 7.0 then 3 × 3.0" here, as in the spec's table.
 */

export const PRESET_NAMES = ["V4_QUALITY_48", "V4_DEFAULT_20", "V4_TURBO_12"] as const;
/** One of {@link PRESET_NAMES}. */
export type PresetName = typeof PRESET_NAMES[number];

/** A named sampler setting of the reference CLI. */
export interface SamplingPreset {
  /** Sampling steps. */
  steps: number;
  /** Per step, chronological (first step executed first). */
  guidance: number[];
  /** Logit-normal schedule mean at 512² (shifted by resolution, see schedule.ts). */
  mu: number;
  /** Logit-normal schedule standard deviation. */
  std: number;
}

/** Main guidance, used for most steps. */
const MAIN_GUIDANCE = 7.0;
/** Guidance of the final "polish" steps. */
const POLISH_GUIDANCE = 3.0;

/** `steps - polish` steps at 7.0, then `polish` steps at 3.0. */
function guidanceShape(steps: number, polish: number): number[] {
  return Array.from(
    { length: steps },
    (_, n) => n < steps - polish ? MAIN_GUIDANCE : POLISH_GUIDANCE,
  );
}

/** The reference CLI's sampler presets, by name. */
export const PRESETS: Record<PresetName, SamplingPreset> = {
  V4_QUALITY_48: { steps: 48, guidance: guidanceShape(48, 3), mu: 0.0, std: 1.5 },
  V4_DEFAULT_20: { steps: 20, guidance: guidanceShape(20, 2), mu: 0.0, std: 1.75 },
  V4_TURBO_12: { steps: 12, guidance: guidanceShape(12, 1), mu: 0.5, std: 1.75 },
};

export const DEFAULT_PRESET: PresetName = "V4_QUALITY_48";
export const MAX_STEPS = 1000;
/**
 * Bounds on custom numbers. Guidance multiplies the velocity difference in
 * f32: far beyond any useful value (≈ 1–15) it overflows the latents
 * (`1e308` is Inf once rounded to f32). Beyond |mu| or std of 100 the
 * logit-normal schedule saturates (every time value clamps to an end), so
 * such numbers cannot give a meaningful image either.
 */
export const MAX_ABS_GUIDANCE = 1000;
export const MAX_ABS_MU = 100;
export const MAX_STD = 100;

/** Sampler settings: a preset, with any value overridden. */
export interface SamplingOptions {
  /** A name from {@link PRESET_NAMES}; default V4_QUALITY_48. */
  preset?: PresetName | string;
  /** Sampling steps (a preset's guidance list is stretched or cut to match). */
  steps?: number;
  /** One value for every step, or one per step (chronological), or a list of one. */
  guidance?: number | number[];
  /** Logit-normal schedule mean at 512². */
  mu?: number;
  /** Logit-normal schedule standard deviation. */
  std?: number;
}

/** The sampler settings that will run, every value resolved. */
export interface SamplingPlan {
  /** Set only when the plan is exactly a named preset (no option overrode it). */
  preset?: PresetName;
  /** Sampling steps. */
  steps: number;
  /** Length `steps`, chronological: `guidance[0]` is used for the FIRST step executed. */
  guidance: number[];
  /** Logit-normal schedule mean at 512². */
  mu: number;
  /** Logit-normal schedule standard deviation. */
  std: number;
}

export function isPresetName(name: string): name is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

/**
 * How many final polish steps a preset's guidance shape gets at `steps`
 * steps: the preset's own count scaled proportionally, rounded half up, and
 * kept within 1…steps-1 — except a single step, which uses the main
 * guidance. E.g. V4_QUALITY_48 (3 of 48): 12 → 1, 20 → 1, 40 → 3, 100 → 6.
 */
export function polishSteps(preset: SamplingPreset, steps: number): number {
  if (steps < 2) return 0;
  const polish = preset.guidance.filter((g) => g === POLISH_GUIDANCE).length;
  return Math.min(steps - 1, Math.max(1, Math.round(steps * polish / preset.steps)));
}

/**
 * One sampling plan from user options. Options not given come from the named
 * preset, or from V4_QUALITY_48 when none is named. When `steps` changes a
 * preset's count and no `guidance` is given, the preset's shape is kept:
 * 7.0, then {@link polishSteps} final steps at 3.0.
 */
export function resolveSampling(o: SamplingOptions): SamplingPlan {
  if (o.preset !== undefined && !isPresetName(o.preset)) {
    throw new Error(
      `unknown sampler preset '${o.preset}'; valid presets: ${PRESET_NAMES.join(", ")}`,
    );
  }
  const name: PresetName = o.preset ?? DEFAULT_PRESET;
  const base = PRESETS[name];

  const steps = o.steps ?? base.steps;
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_STEPS) {
    throw new Error(`steps ${steps} must be an integer from 1 to ${MAX_STEPS}`);
  }
  const mu = o.mu ?? base.mu;
  if (!(Math.abs(mu) <= MAX_ABS_MU)) {
    throw new Error(`mu ${mu} must be a number from -${MAX_ABS_MU} to ${MAX_ABS_MU}`);
  }
  const std = o.std ?? base.std;
  if (!(std > 0 && std <= MAX_STD)) {
    throw new Error(`std ${std} must be a number > 0 and ≤ ${MAX_STD}`);
  }

  let guidance: number[];
  if (o.guidance === undefined) {
    guidance = steps === base.steps
      ? [...base.guidance]
      : guidanceShape(steps, polishSteps(base, steps));
  } else if (typeof o.guidance === "number") {
    guidance = new Array(steps).fill(o.guidance);
  } else if (o.guidance.length === 1) {
    guidance = new Array(steps).fill(o.guidance[0]);
  } else if (o.guidance.length === steps) {
    guidance = [...o.guidance];
  } else {
    throw new Error(
      `guidance has ${o.guidance.length} values; ${steps} steps need ${steps} ` +
        `(one per step, first step first) or a single value for all steps`,
    );
  }
  const bad = guidance.findIndex((g) =>
    typeof g !== "number" || !(Math.abs(g) <= MAX_ABS_GUIDANCE)
  );
  if (bad >= 0) {
    throw new Error(
      `guidance value ${guidance[bad]} (step ${bad + 1}) must be a number from ` +
        `-${MAX_ABS_GUIDANCE} to ${MAX_ABS_GUIDANCE} (useful values are about 1 to 15)`,
    );
  }

  const custom = o.steps !== undefined || o.guidance !== undefined || o.mu !== undefined ||
    o.std !== undefined;
  return { ...(custom ? {} : { preset: name }), steps, guidance, mu, std };
}
