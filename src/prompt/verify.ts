/**
 * The caption verifier: checks a JSON caption against the schema the model was
 * trained on (spec §7) and returns every problem with its JSON path, e.g.
 * `compositional_deconstruction.elements[2].bbox[3]: 1200 is outside 0..1000`.
 * An empty list means the caption is valid.
 */
import {
  BBOX_FIELDS,
  BBOX_MAX,
  BBOX_MIN,
  COMPOSITION_KEYS,
  ELEMENT_KEYS,
  ELEMENT_PALETTE_MAX,
  ELEMENT_REQUIRED_KEYS,
  ELEMENT_TYPES,
  type ElementType,
  HEX_COLOUR,
  STYLE_KEYS,
  STYLE_PALETTE_MAX,
  STYLE_REQUIRED_KEYS,
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
  | "duplicate-key" // a key written twice in one object
  | "unicode-escape" // non-ASCII only as \uXXXX escapes
  | "type" // wrong JSON type for a field
  | "unknown-key" // not part of the schema
  | "key-not-allowed" // a schema key in the wrong place (`text` in an `obj` element)
  | "required" // a required key is missing
  | "key-order" // keys not in the canonical order
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

/** Verifies the raw text of a caption: JSON syntax, encoding, then the schema. */
export function verifyCaption(text: string): CaptionIssue[] {
  let parsed;
  try {
    parsed = parseJson(text);
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    return [{ rule: "json", path: "", message: e.message, line: e.line, column: e.column }];
  }
  const issues: CaptionIssue[] = [];
  if (parsed.nonAsciiEscapes.length > 0 && !parsed.hasLiteralNonAscii) {
    const shown = parsed.nonAsciiEscapes.slice(0, 3).join(", ");
    const more = parsed.nonAsciiEscapes.length > 3 ? ", …" : "";
    issues.push({
      rule: "unicode-escape",
      path: "",
      message: `non-ASCII characters are written only as escapes (${shown}${more}); ` +
        "write them as literal UTF-8 text, as the model was trained on " +
        "(JSON.stringify does; Python needs ensure_ascii=False)",
    });
  }
  for (const path of parsed.duplicateKeys) {
    issues.push({
      rule: "duplicate-key",
      path,
      message: "key appears more than once in its object",
    });
  }
  return issues.concat(verifyCaptionValue(parsed.value));
}

/** Verifies an already parsed caption (see `fromPlain` for typed captions). */
export function verifyCaptionValue(caption: JsonValue): CaptionIssue[] {
  const v = new Checker();
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

  private add(rule: CaptionRule, path: string, message: string): void {
    this.issues.push({ rule, path, message });
  }

  root(caption: JsonValue): void {
    if (!isObject(caption)) {
      this.add("type", "", `a caption is a JSON object, got ${describe(caption)}`);
      return;
    }
    this.keys(caption, "", TOP_LEVEL_KEYS, TOP_LEVEL_KEYS);
    const hld = caption.get("high_level_description");
    if (hld !== undefined) this.string(hld, "high_level_description");
    const style = caption.get("style_description");
    if (style !== undefined) this.style(style, "style_description");
    const comp = caption.get("compositional_deconstruction");
    if (comp === undefined) {
      this.add("required", "", "'compositional_deconstruction' is required");
    } else {
      this.composition(comp, "compositional_deconstruction");
    }
  }

  /**
   * Unknown keys, schema keys not allowed here, and the order of the allowed
   * ones. `known` is every key of this kind of object, `allowed` the subset
   * (in canonical order) that this particular object may hold.
   */
  private keys(
    obj: JsonObject,
    path: string,
    known: readonly string[],
    allowed: readonly string[],
    notAllowedWhy = "",
  ): void {
    for (const key of obj.keys()) {
      if (!known.includes(key)) {
        this.add(
          "unknown-key",
          joinPath(path, key),
          `unknown key (known here: ${known.join(", ")})`,
        );
      } else if (!allowed.includes(key)) {
        this.add("key-not-allowed", joinPath(path, key), `not allowed ${notAllowedWhy}`.trim());
      }
    }
    const present = [...obj.keys()].filter((k) => allowed.includes(k));
    const expected = allowed.filter((k) => obj.has(k));
    if (present.join() !== expected.join()) {
      this.add(
        "key-order",
        path,
        `keys are in the order ${present.join(", ")}; expected ${expected.join(", ")}`,
      );
    }
  }

  private required(obj: JsonObject, path: string, keys: readonly string[]): void {
    for (const key of keys) {
      if (!obj.has(key)) this.add("required", path, `'${key}' is required`);
    }
  }

  private string(value: JsonValue, path: string): void {
    if (typeof value !== "string") {
      this.add("type", path, `expected a string, got ${describe(value)}`);
    }
  }

  private object(value: JsonValue, path: string): value is JsonObject {
    if (isObject(value)) return true;
    this.add("type", path, `expected an object, got ${describe(value)}`);
    return false;
  }

  private style(style: JsonValue, path: string): void {
    if (!this.object(style, path)) return;
    const hasPhoto = style.has("photo"), hasArt = style.has("art_style");
    if (hasPhoto && hasArt) {
      this.add("photo-or-art-style", path, "has both 'photo' and 'art_style'; keep exactly one");
    } else if (!hasPhoto && !hasArt) {
      this.add(
        "photo-or-art-style",
        path,
        "needs exactly one of 'photo' (photographs) or 'art_style' (everything else)",
      );
    }
    this.keys(style, path, STYLE_KEYS, STYLE_KEYS);
    this.required(style, path, STYLE_REQUIRED_KEYS);
    for (const key of ["aesthetics", "lighting", "photo", "medium", "art_style"]) {
      const v = style.get(key);
      if (v !== undefined) this.string(v, joinPath(path, key));
    }
    const palette = style.get("color_palette");
    if (palette !== undefined) {
      this.palette(palette, joinPath(path, "color_palette"), STYLE_PALETTE_MAX);
    }
  }

  private composition(comp: JsonValue, path: string): void {
    if (!this.object(comp, path)) return;
    this.keys(comp, path, COMPOSITION_KEYS, COMPOSITION_KEYS);
    this.required(comp, path, COMPOSITION_KEYS);
    const background = comp.get("background");
    if (background !== undefined) this.string(background, joinPath(path, "background"));
    const elements = comp.get("elements");
    if (elements === undefined) return;
    const elementsPath = joinPath(path, "elements");
    if (!Array.isArray(elements)) {
      this.add("type", elementsPath, `expected a list, got ${describe(elements)}`);
      return;
    }
    elements.forEach((el, i) => this.element(el, `${elementsPath}[${i}]`));
  }

  private element(el: JsonValue, path: string): void {
    if (!this.object(el, path)) return;
    const type = el.get("type");
    if (type === undefined) {
      this.add("required", path, "'type' is required (obj or text)");
    } else if (!ELEMENT_TYPES.includes(type as ElementType)) {
      this.add(
        "element-type",
        joinPath(path, "type"),
        `${describe(type)} is not an element type (obj or text)`,
      );
    }
    if (type === "obj" || type === "text") {
      const allowed = ELEMENT_KEYS.filter((k) => type === "text" || k !== "text");
      this.keys(el, path, ELEMENT_KEYS, allowed, `in an '${type}' element`);
      this.required(el, path, ELEMENT_REQUIRED_KEYS[type]);
    } else {
      // Unknown type: key names can still be checked, their order cannot.
      for (const key of el.keys()) {
        if (!(ELEMENT_KEYS as readonly string[]).includes(key)) {
          this.add(
            "unknown-key",
            joinPath(path, key),
            `unknown key (known here: ${ELEMENT_KEYS.join(", ")})`,
          );
        }
      }
    }
    for (const key of ["text", "desc"]) {
      const v = el.get(key);
      if (v !== undefined) this.string(v, joinPath(path, key));
    }
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
      if (typeof v !== "number" || !Number.isInteger(v)) {
        this.add(
          "bbox-int",
          `${path}[${i}]`,
          `${describe(v)} is not an integer (${BBOX_FIELDS[i]})`,
        );
        allValid = false;
      } else if (v < BBOX_MIN || v > BBOX_MAX) {
        this.add("bbox-range", `${path}[${i}]`, `${v} is outside ${BBOX_MIN}..${BBOX_MAX}`);
      }
    });
    if (!allValid) return;
    const [yMin, xMin, yMax, xMax] = bbox as number[];
    // Equal edges are accepted, as the reference verifier does; only reversed ones are errors.
    if (yMin > yMax) this.add("bbox-order", path, `y_min ${yMin} is greater than y_max ${yMax}`);
    if (xMin > xMax) this.add("bbox-order", path, `x_min ${xMin} is greater than x_max ${xMax}`);
  }
}
