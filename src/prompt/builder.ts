/**
 * Builds captions from small pieces — a palette string, element specs like
 * `obj:200,300,800,900:a golden retriever`, style fields — checking each piece
 * as it comes in, so mistakes are reported against what the user typed.
 */
import {
  type BBox,
  BBOX_FIELDS,
  BBOX_MAX,
  BBOX_MIN,
  type Caption,
  type CaptionElement,
  ELEMENT_PALETTE_MAX,
  type HexColour,
  STYLE_PALETTE_MAX,
  type StyleDescription,
} from "./caption.ts";
import { PromptRejectedError } from "./errors.ts";
import { fromPlain } from "./json.ts";
import { formatIssue, verifyCaptionValue } from "./verify.ts";

/** A builder input that cannot make a valid caption (exit code 2). */
export class CaptionBuildError extends PromptRejectedError {
  /** Error name. */
  override name = "CaptionBuildError";
}

/** Style fields; give aesthetics, lighting, medium and exactly one of photo / artStyle. */
export interface StyleSpec {
  /** `style_description.aesthetics`. */
  aesthetics?: string;
  /** `style_description.lighting`. */
  lighting?: string;
  /** `style_description.medium`. */
  medium?: string;
  /** Camera details: makes this a photo style. */
  photo?: string;
  /** Technique and look: makes this a non-photo style. */
  artStyle?: string;
  /** `style_description.color_palette`: colours or a comma-separated string. */
  palette?: string[] | string;
}

/** The parts of a caption, for {@link buildCaption}. */
export interface CaptionSpec {
  /** `high_level_description`. */
  highLevel?: string;
  /** `compositional_deconstruction.background`. */
  background: string;
  /** Elements, or element specs (see {@link parseElementSpec}), back to front. */
  elements?: (CaptionElement | string)[];
  /** `style_description`. */
  style?: StyleSpec;
}

/**
 * Colours from `"#F5C542,#87CEEB"` (or a list), upper-cased; `max` bounds the count.
 * Each must be `#RRGGBB` (a lower-case one is accepted and upper-cased).
 */
export function parsePalette(
  palette: string[] | string,
  max = STYLE_PALETTE_MAX,
  what = "palette",
): HexColour[] {
  const parts = typeof palette === "string" ? palette.split(",") : palette;
  const colours = parts.map((p) => p.trim()).filter((p) => p !== "");
  for (const c of colours) {
    if (!/^#[0-9A-Fa-f]{6}$/.test(c)) {
      throw new CaptionBuildError(`${what}: '${c}' is not a #RRGGBB colour (e.g. #F5C542)`);
    }
  }
  if (colours.length === 0) throw new CaptionBuildError(`${what}: no colours given`);
  if (colours.length > max) {
    throw new CaptionBuildError(`${what}: ${colours.length} colours; at most ${max} are allowed`);
  }
  return colours.map((c) => c.toUpperCase());
}

/** `"200,300,800,900"` → `[200, 300, 800, 900]` (`y_min, x_min, y_max, x_max` on the 0..1000 grid). */
export function parseBBox(text: string, what = "bbox"): BBox {
  const parts = text.split(",").map((p) => p.trim());
  if (parts.length !== 4) {
    throw new CaptionBuildError(`${what}: '${text}' needs four numbers ${BBOX_FIELDS.join(",")}`);
  }
  const values = parts.map((p, i) => {
    if (!/^\d+$/.test(p)) {
      throw new CaptionBuildError(`${what}: ${BBOX_FIELDS[i]} '${p}' is not a whole number`);
    }
    const v = Number(p);
    if (v < BBOX_MIN || v > BBOX_MAX) {
      throw new CaptionBuildError(
        `${what}: ${BBOX_FIELDS[i]} ${v} is outside ${BBOX_MIN}..${BBOX_MAX}`,
      );
    }
    return v;
  }) as BBox;
  const [yMin, xMin, yMax, xMax] = values;
  if (yMin > yMax) {
    throw new CaptionBuildError(`${what}: y_min ${yMin} is greater than y_max ${yMax}`);
  }
  if (xMin > xMax) {
    throw new CaptionBuildError(`${what}: x_min ${xMin} is greater than x_max ${xMax}`);
  }
  return values;
}

/**
 * One element from a spec:
 * - `obj:BBOX:DESC` — DESC is the rest of the spec, colons included;
 * - `text:BBOX:TEXT[:DESC]` — in TEXT, `\:` is a colon, `\n` a line break and
 *   `\\` a backslash; without DESC a plain description of the lettering is used.
 *
 * BBOX is `y_min,x_min,y_max,x_max` on the 0..1000 grid, or empty for none.
 */
export function parseElementSpec(spec: string): CaptionElement {
  const what = `element '${spec.length > 60 ? spec.slice(0, 60) + "…" : spec}'`;
  const first = spec.indexOf(":"), second = first < 0 ? -1 : spec.indexOf(":", first + 1);
  if (second < 0) {
    throw new CaptionBuildError(
      `${what}: expected TYPE:BBOX:… (e.g. obj:200,300,800,900:a red kite)`,
    );
  }
  const type = spec.slice(0, first).trim();
  const bboxText = spec.slice(first + 1, second).trim();
  const rest = spec.slice(second + 1);
  const bbox = bboxText === "" ? undefined : parseBBox(bboxText, what);
  if (type === "obj") {
    return withBBox({ type: "obj", desc: nonEmpty(rest, `${what}: the description`) }, bbox);
  }
  if (type === "text") {
    const { text, remainder } = unescapeUntilColon(rest);
    const lettering = nonEmpty(text, `${what}: the text`);
    const desc = remainder === undefined
      ? `Lettering that reads '${lettering}'.`
      : nonEmpty(remainder, `${what}: the description`);
    return withBBox({ type: "text", text: lettering, desc }, bbox);
  }
  throw new CaptionBuildError(`${what}: type '${type}' is not obj or text`);
}

/** TEXT of a text spec up to the first unescaped colon, and what follows it. */
function unescapeUntilColon(s: string): { text: string; remainder?: string } {
  let text = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === ":") return { text, remainder: s.slice(i + 1) };
    if (c === "\\" && i + 1 < s.length) {
      const n = s[++i];
      text += n === "n" ? "\n" : n; // \: → :, \\ → \, \n → line break
      continue;
    }
    text += c;
  }
  return { text };
}

function nonEmpty(s: string, what: string): string {
  const t = s.trim();
  if (t === "") throw new CaptionBuildError(`${what} is empty`);
  return t;
}

/** Adds the bbox in its canonical place (right after `type`). */
function withBBox(el: CaptionElement, bbox: BBox | undefined): CaptionElement {
  if (!bbox) return el;
  const { type, ...rest } = el;
  return { type, bbox, ...rest } as CaptionElement;
}

/** The style description from its fields; undefined when no field is given. */
export function buildStyle(spec: StyleSpec): StyleDescription | undefined {
  const given = Object.values(spec).some((v) => v !== undefined && v !== "");
  if (!given) return undefined;
  const missing = (["aesthetics", "lighting", "medium"] as const).filter((k) => !spec[k]?.trim());
  if (missing.length > 0) {
    throw new CaptionBuildError(
      `a style description needs ${missing.join(", ")} too (with photo or art style)`,
    );
  }
  if (!!spec.photo === !!spec.artStyle) {
    throw new CaptionBuildError(
      "a style description needs exactly one of photo (photographs) or art style",
    );
  }
  const palette = spec.palette === undefined
    ? undefined
    : parsePalette(spec.palette, STYLE_PALETTE_MAX);
  const base = { aesthetics: spec.aesthetics!.trim(), lighting: spec.lighting!.trim() };
  const style: StyleDescription = spec.photo
    ? { ...base, photo: spec.photo.trim(), medium: spec.medium!.trim() }
    : { ...base, medium: spec.medium!.trim(), art_style: spec.artStyle!.trim() };
  if (palette) style.color_palette = palette;
  return style;
}

/** A caption from its parts, in canonical key order; checked by the verifier before it is returned. */
export function buildCaption(spec: CaptionSpec): Caption {
  const caption: Caption = {
    compositional_deconstruction: {
      background: nonEmpty(spec.background ?? "", "the background"),
      elements: (spec.elements ?? []).map((e) => typeof e === "string" ? parseElementSpec(e) : e),
    },
  };
  const style = spec.style ? buildStyle(spec.style) : undefined;
  const ordered: Caption = {
    ...(spec.highLevel?.trim() ? { high_level_description: spec.highLevel.trim() } : {}),
    ...(style ? { style_description: style } : {}),
    ...caption,
  };
  const issues = verifyCaptionValue(fromPlain(ordered));
  if (issues.length > 0) {
    throw new CaptionBuildError(
      `the caption is not valid:\n${issues.map((i) => `  ${formatIssue(i)}`).join("\n")}`,
    );
  }
  return ordered;
}

/** An element palette (at most five colours), for programmatic builders. */
export function elementPalette(palette: string[] | string): HexColour[] {
  return parsePalette(palette, ELEMENT_PALETTE_MAX, "element palette");
}
