/**
 * The caption verifier: checks a JSON caption against the schema the model was
 * trained on (spec §7) and returns every problem with its JSON path, e.g.
 * `compositional_deconstruction.elements[2].bbox[3]: 1200 is outside 0..1000`.
 * An empty list means the caption is valid.
 *
 * Its verdicts are those of upstream's `caption_verifier.py` (the contract of
 * what the model was trained on; tests/prompt/upstream_verdicts.json holds a
 * corpus with upstream's verdicts): top-level keys in any order, values of
 * style fields, `desc` and `text` of any type, a key written twice read as
 * Python reads it (last value, first position), floats refused in a bbox by
 * how the number was written, the escape check run over the raw text. One
 * deliberate difference: `true`/`false` are refused as bbox values (Python
 * counts them as integers); README, "Differences from upstream".
 */
import {
  BBOX_FIELDS,
  BBOX_MAX,
  BBOX_MIN,
  COMPOSITION_KEYS,
  ELEMENT_KEYS,
  ELEMENT_PALETTE_MAX,
  ELEMENT_TYPES,
  HEX_COLOUR,
  STYLE_KEYS,
  STYLE_PALETTE_MAX,
  TOP_LEVEL_KEYS,
} from "./caption.ts";
import {
  isObject,
  joinPath,
  type JsonObject,
  JsonSyntaxError,
  type JsonValue,
  parseJson,
} from "./json.ts";

/** Which rule an issue breaks (stable identifiers, for tests and tooling). */
export type CaptionRule =
  | "json" // not parseable JSON
  | "unicode-escape" // non-ASCII only as \uXXXX escapes
  | "type" // wrong JSON type for a field
  | "unknown-key" // not part of the schema
  | "key-not-allowed" // a schema key in the wrong place (`text` in an `obj` element)
  | "required" // a required key is missing
  | "key-order" // keys not in the canonical order (inside the top level's objects)
  | "photo-or-art-style" // style needs exactly one of the two
  | "element-type" // element type is not obj/text
  | "palette-size" // too many colours
  | "hex-colour" // not an upper-case #RRGGBB
  | "bbox-shape" // not a list of four
  | "bbox-int" // a bbox value that is not an integer
  | "bbox-range" // a bbox value outside 0..1000
  | "bbox-order"; // min greater than max

/** One problem of a JSON caption. */
export interface CaptionIssue {
  /** Which rule it breaks. */
  rule: CaptionRule;
  /** JSON path of the offending value (`""` for the caption as a whole). */
  path: string;
  /** What is wrong, in words. */
  message: string;
  /** Where a `json` issue is (1-based). */
  line?: number;
  /** Column of a `json` issue (1-based). */
  column?: number;
}

/** Rules that {@link canonicalizeCaption} repairs by itself (re-ordering, literal text). */
export const FIXED_BY_CANONICAL: ReadonlySet<CaptionRule> = new Set([
  "key-order",
  "unicode-escape",
]);

/** `path: message`, or just the message for the caption as a whole. */
export function formatIssue(issue: CaptionIssue): string {
  return issue.path === "" ? issue.message : `${issue.path}: ${issue.message}`;
}

/**
 * Whether a prompt is meant as a JSON caption (it starts with `{`). Anything
 * else is a plain-text prompt, which the model also accepts.
 */
export function isJsonCaption(prompt: string): boolean {
  return prompt.trimStart().startsWith("{");
}

/**
 * `\uXXXX` escapes of characters above U+007F, found in the raw text as
 * upstream finds them (so `\\u00e9`, an escaped backslash before `u00e9`,
 * counts too).
 */
const NON_ASCII_ESCAPE =
  /\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})/g;

/** Verifies the raw text of a caption: encoding, JSON syntax, then the schema. */
export function verifyCaption(text: string): CaptionIssue[] {
  const issues: CaptionIssue[] = [];
  const escapes = [...new Set(text.match(NON_ASCII_ESCAPE) ?? [])];
  if (escapes.length > 0 && !/[\u0080-\uffff]/.test(text)) {
    const shown = escapes.slice(0, 3).join(", ");
    const more = escapes.length > 3 ? ", …" : "";
    issues.push({
      rule: "unicode-escape",
      path: "",
      message: `non-ASCII characters are written only as escapes (${shown}${more}); ` +
        "write them as literal UTF-8 text, as the model was trained on " +
        "(JSON.stringify does; Python needs ensure_ascii=False)",
    });
  }
  let parsed;
  try {
    parsed = parseJson(text);
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    issues.push({ rule: "json", path: "", message: e.message, line: e.line, column: e.column });
    return issues;
  }
  return issues.concat(verifyCaptionValue(parsed.value, parsed.floatNumbers));
}

/**
 * Verifies an already parsed caption (see `fromPlain` for typed captions).
 * `floatNumbers`: paths of numbers written as floats (from `parseJson`).
 */
export function verifyCaptionValue(
  caption: JsonValue,
  floatNumbers: ReadonlySet<string> = new Set(),
): CaptionIssue[] {
  const v = new Checker(floatNumbers);
  v.root(caption);
  return v.issues;
}

/** "a string", "a list", … for messages. */
function describe(value: JsonValue): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (isObject(value)) return "an object";
  if (typeof value === "boolean") return `${value}`;
  if (typeof value === "number") return `the number ${value}`;
  return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
}

class Checker {
  readonly issues: CaptionIssue[] = [];

  constructor(private readonly floatNumbers: ReadonlySet<string>) {}

  private add(rule: CaptionRule, path: string, message: string): void {
    this.issues.push({ rule, path, message });
  }

  root(caption: JsonValue): void {
    if (!isObject(caption)) {
      this.add("type", "", `a caption is a JSON object, got ${describe(caption)}`);
      return;
    }
    // The top level's keys may come in any order (upstream checks only their names).
    this.unknownKeys(caption, "", TOP_LEVEL_KEYS);
    const hld = caption.get("high_level_description");
    if (hld !== undefined && typeof hld !== "string") {
      this.add("type", "high_level_description", `expected a string, got ${describe(hld)}`);
    }
    const style = caption.get("style_description");
    if (style !== undefined) this.style(style, "style_description");
    const comp = caption.get("compositional_deconstruction");
    if (comp === undefined) {
      this.add("required", "", "'compositional_deconstruction' is required");
    } else {
      this.composition(comp, "compositional_deconstruction");
    }
  }

  private unknownKeys(obj: JsonObject, path: string, known: readonly string[]): void {
    for (const key of obj.keys()) {
      if (!known.includes(key)) {
        this.add(
          "unknown-key",
          joinPath(path, key),
          `unknown key (known here: ${known.join(", ")})`,
        );
      }
    }
  }

  /**
   * The keys of an object whose layout is fixed: `expected` in this order,
   * each required, nothing else of `known` (`others` are reported elsewhere
   * as unknown keys).
   */
  private layout(
    obj: JsonObject,
    path: string,
    expected: readonly string[],
    known: readonly string[],
    notAllowedWhy = "",
  ): void {
    for (const key of obj.keys()) {
      if (known.includes(key) && !expected.includes(key)) {
        this.add("key-not-allowed", joinPath(path, key), `not allowed ${notAllowedWhy}`.trim());
      }
    }
    for (const key of expected) {
      if (!obj.has(key)) this.add("required", path, `'${key}' is required`);
    }
    const present = [...obj.keys()].filter((k) => expected.includes(k));
    const order = expected.filter((k) => obj.has(k));
    if (present.join() !== order.join()) {
      this.add(
        "key-order",
        path,
        `keys are in the order ${present.join(", ")}; expected ${order.join(", ")}`,
      );
    }
  }

  private object(value: JsonValue, path: string): value is JsonObject {
    if (isObject(value)) return true;
    this.add("type", path, `expected an object, got ${describe(value)}`);
    return false;
  }

  private style(style: JsonValue, path: string): void {
    if (!this.object(style, path)) return;
    this.unknownKeys(style, path, STYLE_KEYS);
    const hasPhoto = style.has("photo"), hasArt = style.has("art_style");
    if (hasPhoto === hasArt) {
      this.add(
        "photo-or-art-style",
        path,
        hasPhoto
          ? "has both 'photo' and 'art_style'; keep exactly one"
          : "needs exactly one of 'photo' (photographs) or 'art_style' (everything else)",
      );
      return;
    }
    // The values are free text; upstream checks only the keys (and the palette).
    const expected = STYLE_KEYS.filter((k) =>
      k !== (hasPhoto ? "art_style" : "photo") && (k !== "color_palette" || style.has(k))
    );
    this.layout(style, path, expected, STYLE_KEYS);
    const palette = style.get("color_palette");
    if (palette !== undefined) {
      this.palette(palette, joinPath(path, "color_palette"), STYLE_PALETTE_MAX);
    }
  }

  private composition(comp: JsonValue, path: string): void {
    if (!this.object(comp, path)) return;
    const background = comp.get("background");
    if (background === undefined) {
      this.add("required", path, "'background' is required");
      return;
    }
    if (typeof background !== "string") {
      this.add(
        "type",
        joinPath(path, "background"),
        `expected a string, got ${describe(background)}`,
      );
      return;
    }
    if (!comp.has("elements")) {
      this.add("required", path, "'elements' is required");
      return;
    }
    this.unknownKeys(comp, path, COMPOSITION_KEYS);
    this.layout(comp, path, COMPOSITION_KEYS, COMPOSITION_KEYS);
    const elements = comp.get("elements")!;
    const elementsPath = joinPath(path, "elements");
    if (!Array.isArray(elements)) {
      this.add("type", elementsPath, `expected a list, got ${describe(elements)}`);
      return;
    }
    elements.forEach((el, i) => this.element(el, `${elementsPath}[${i}]`));
  }

  private element(el: JsonValue, path: string): void {
    if (!this.object(el, path)) return;
    this.unknownKeys(el, path, ELEMENT_KEYS);
    const type = el.get("type");
    if (type === undefined) {
      this.add("required", path, "'type' is required (obj or text)");
      return;
    }
    if (type !== "obj" && type !== "text") {
      this.add(
        "element-type",
        joinPath(path, "type"),
        `${describe(type)} is not an element type (${ELEMENT_TYPES.join(" or ")})`,
      );
      return;
    }
    // `text` and `desc` may hold any value; upstream checks only that they exist.
    const expected = ELEMENT_KEYS.filter((k) =>
      (k !== "text" || type === "text") &&
      ((k !== "bbox" && k !== "color_palette") || el.has(k))
    );
    this.layout(el, path, expected, ELEMENT_KEYS, `in an '${type}' element`);
    const bbox = el.get("bbox");
    if (bbox !== undefined) this.bbox(bbox, joinPath(path, "bbox"));
    const palette = el.get("color_palette");
    if (palette !== undefined) {
      this.palette(palette, joinPath(path, "color_palette"), ELEMENT_PALETTE_MAX);
    }
  }

  private palette(palette: JsonValue, path: string, max: number): void {
    if (!Array.isArray(palette)) {
      this.add("type", path, `expected a list of #RRGGBB colours, got ${describe(palette)}`);
      return;
    }
    if (palette.length > max) {
      this.add(
        "palette-size",
        path,
        `has ${palette.length} colours; at most ${max} are allowed here`,
      );
    }
    palette.forEach((colour, i) => {
      if (typeof colour === "string" && HEX_COLOUR.test(colour)) return;
      const hint = typeof colour === "string" && /^#[0-9a-f]{6}$/i.test(colour)
        ? ` (write it as '${colour.toUpperCase()}')`
        : "";
      this.add(
        "hex-colour",
        `${path}[${i}]`,
        `${describe(colour)} is not an upper-case #RRGGBB colour${hint}`,
      );
    });
  }

  private bbox(bbox: JsonValue, path: string): void {
    if (!Array.isArray(bbox) || bbox.length !== 4) {
      const got = Array.isArray(bbox) ? `a list of ${bbox.length}` : describe(bbox);
      this.add("bbox-shape", path, `expected [${BBOX_FIELDS.join(", ")}], got ${got}`);
      return;
    }
    let allValid = true;
    bbox.forEach((v, i) => {
      const at = `${path}[${i}]`;
      // An integer as written: `1.0` and `1e2` are floats to Python, and so here.
      if (typeof v !== "number" || !Number.isInteger(v) || this.floatNumbers.has(at)) {
        const what = typeof v === "number" && Number.isInteger(v)
          ? `the number ${v}, written as a float,`
          : describe(v);
        this.add("bbox-int", at, `${what} is not an integer (${BBOX_FIELDS[i]})`);
        allValid = false;
      } else if (v < BBOX_MIN || v > BBOX_MAX) {
        this.add("bbox-range", at, `${v} is outside ${BBOX_MIN}..${BBOX_MAX}`);
      }
    });
    if (!allValid) return;
    const [yMin, xMin, yMax, xMax] = bbox as number[];
    // Equal edges are accepted, as the reference verifier does; only reversed ones are errors.
    if (yMin > yMax) this.add("bbox-order", path, `y_min ${yMin} is greater than y_max ${yMax}`);
    if (xMin > xMax) this.add("bbox-order", path, `x_min ${xMin} is greater than x_max ${xMax}`);
  }
}
