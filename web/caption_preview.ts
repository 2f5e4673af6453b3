/**
 * What the page shows about the prompt as it is typed: the verifier's issues
 * for a JSON caption, its palettes and its element boxes. Plain data, no DOM,
 * so it is tested under Deno.
 */
import {
  type CaptionIssue,
  formatIssue,
  isJsonCaption,
  PLAIN_TEXT_WARNING,
  verifyCaption,
} from "./ideogram4.ts";

/** One element's box, in the caption's 0…1000 coordinates. */
export interface PreviewBox {
  /** Index of the element in `compositional_deconstruction.elements`. */
  index: number;
  /** Short label: the element's type and the start of its text or description. */
  label: string;
  yMin: number;
  xMin: number;
  yMax: number;
  xMax: number;
  /** The element's first palette colour, when it has one. */
  colour?: string;
}

export interface PalettePreview {
  /** Where the colours come from, e.g. `style` or `element 2`. */
  source: string;
  colours: string[];
}

export interface CaptionPreview {
  /** False for a plain-text prompt: nothing else applies. */
  isJson: boolean;
  /** Verifier messages, `path: message` (a syntax error names its line and column). */
  issues: string[];
  rawIssues: CaptionIssue[];
  /** For plain text: the warning that the model was trained on JSON captions. */
  warnings: string[];
  palettes: PalettePreview[];
  boxes: PreviewBox[];
}

/** A colour the preview can paint (the verifier separately insists on upper case). */
const PAINTABLE = /^#[0-9a-fA-F]{6}$/;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function colours(v: unknown): string[] {
  return Array.isArray(v)
    ? v.filter((c): c is string => typeof c === "string" && PAINTABLE.test(c))
    : [];
}

function bbox(v: unknown): [number, number, number, number] | undefined {
  if (!Array.isArray(v) || v.length !== 4) return undefined;
  if (!v.every((n) => typeof n === "number" && Number.isFinite(n))) return undefined;
  const [yMin, xMin, yMax, xMax] = v as number[];
  return yMin <= yMax && xMin <= xMax ? [yMin, xMin, yMax, xMax] : undefined;
}

function shorten(s: string, n = 32): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > n ? t.slice(0, n - 1) + "…" : t;
}

/**
 * The preview of `prompt`. Palettes and boxes are read from whatever parses,
 * even when the verifier has complaints, so a user sees the layout while
 * fixing it.
 */
export function previewCaption(prompt: string): CaptionPreview {
  if (!isJsonCaption(prompt)) {
    const warnings = prompt.trim() === "" ? [] : [PLAIN_TEXT_WARNING];
    return { isJson: false, issues: [], rawIssues: [], warnings, palettes: [], boxes: [] };
  }
  const rawIssues = verifyCaption(prompt);
  const issues = rawIssues.map(formatIssue);
  let caption: unknown;
  try {
    caption = JSON.parse(prompt);
  } catch {
    return { isJson: true, issues, rawIssues, warnings: [], palettes: [], boxes: [] };
  }
  const palettes: PalettePreview[] = [];
  const boxes: PreviewBox[] = [];
  if (isObject(caption)) {
    const style = caption.style_description;
    if (isObject(style)) {
      const c = colours(style.color_palette);
      if (c.length > 0) palettes.push({ source: "style", colours: c });
    }
    const comp = caption.compositional_deconstruction;
    const elements = isObject(comp) && Array.isArray(comp.elements) ? comp.elements : [];
    elements.forEach((el, index) => {
      if (!isObject(el)) return;
      const c = colours(el.color_palette);
      if (c.length > 0) palettes.push({ source: `element ${index}`, colours: c });
      const b = bbox(el.bbox);
      if (!b) return;
      const words = typeof el.text === "string" ? `"${el.text}"` : String(el.desc ?? "");
      boxes.push({
        index,
        label: `${index}: ${String(el.type ?? "?")} ${shorten(words)}`.trimEnd(),
        yMin: b[0],
        xMin: b[1],
        yMax: b[2],
        xMax: b[3],
        colour: c[0],
      });
    });
  }
  return { isJson: true, issues, rawIssues, warnings: [], palettes, boxes };
}
