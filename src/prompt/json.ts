/**
 * A small JSON parser for captions.
 *
 * `JSON.parse` is not enough for a caption verifier: its error messages differ
 * between engines (no line/column in some), it silently keeps the last of two
 * equal keys, and JavaScript objects move integer-like keys ("1", "2") to the
 * front, which loses the key order the verifier has to check. This parser keeps
 * objects as `Map`s (insertion order, exactly as written), reports syntax
 * errors with line and column, records duplicate keys, and notes whether
 * non-ASCII characters were written as `\uXXXX` escapes or literally.
 *
 * It accepts what Python's `json.loads` accepts, since upstream's verifier
 * parses captions with it: a key written twice keeps its first position and
 * its last value, and `NaN`, `Infinity` and `-Infinity` are numbers. Which
 * numbers were written as floats (`1.0`, `1e2`) is recorded by path: the
 * value cannot tell, and upstream refuses a float where it wants an integer.
 */

/** A parsed JSON value; objects keep their keys in the order they were written. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export type JsonObject = Map<string, JsonValue>;

/** A syntax error with its 1-based line and column (UTF-16 code units). */
export class JsonSyntaxError extends Error {
  override name = "JsonSyntaxError";
  constructor(
    readonly reason: string,
    readonly offset: number,
    readonly line: number,
    readonly column: number,
  ) {
    super(`invalid JSON at line ${line}, column ${column}: ${reason}`);
  }
}

/** What the parser noticed besides the value. */
export interface JsonParseResult {
  value: JsonValue;
  /** JSON paths (`a.b[2]`) of keys that appear more than once in their object. */
  duplicateKeys: string[];
  /** Distinct `\uXXXX` escapes of characters above U+007F, in order of appearance. */
  nonAsciiEscapes: string[];
  /** Whether the raw text holds any literal character above U+007F. */
  hasLiteralNonAscii: boolean;
  /**
   * JSON paths of numbers written as floats (with a fraction or an exponent,
   * or `NaN` / `Infinity`), which Python parses as `float`, not `int`.
   */
  floatNumbers: Set<string>;
}

/** Deepest nesting accepted; deeper input is refused instead of overflowing the stack. */
const MAX_DEPTH = 256;

/** Parses `text` as one JSON value. Throws {@link JsonSyntaxError}. */
export function parseJson(text: string): JsonParseResult {
  return new Parser(text).parseDocument();
}

/** Appends an object key to a JSON path: `a` + `b` → `a.b`. */
export function joinPath(path: string, key: string): string {
  const safe = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : JSON.stringify(key);
  return path === "" ? safe : `${path}.${safe}`;
}

/** 1-based line and column of `offset` in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1, lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

class Parser {
  private pos = 0;
  private readonly duplicateKeys: string[] = [];
  private readonly escapes = new Set<string>();
  private readonly floats = new Set<string>();

  constructor(private readonly text: string) {}

  parseDocument(): JsonParseResult {
    this.skipSpace();
    const value = this.parseValue("", 0);
    this.skipSpace();
    if (this.pos < this.text.length) this.fail("unexpected text after the JSON value");
    return {
      value,
      duplicateKeys: this.duplicateKeys,
      nonAsciiEscapes: [...this.escapes],
      hasLiteralNonAscii: hasNonAscii(this.text),
      floatNumbers: this.floats,
    };
  }

  private fail(reason: string, at = this.pos): never {
    const { line, column } = lineColumn(this.text, at);
    throw new JsonSyntaxError(reason, at, line, column);
  }

  /** The next character, quoted for a message. */
  private describeHere(): string {
    if (this.pos >= this.text.length) return "end of input";
    const ch = String.fromCodePoint(this.text.codePointAt(this.pos)!);
    return ch < " " ? `control character U+${hex4(ch.charCodeAt(0))}` : `'${ch}'`;
  }

  private skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.pos++;
      else break;
    }
  }

  private parseValue(path: string, depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH} levels`);
    const c = this.text[this.pos];
    if (c === "{") return this.parseObject(path, depth);
    if (c === "[") return this.parseArray(path, depth);
    if (c === '"') return this.parseString();
    if (c === "-" || (c >= "0" && c <= "9")) return this.parseNumber(path);
    for (
      const [word, value] of [
        ["true", true],
        ["false", false],
        ["null", null],
        // Python's json module reads these too (and writes them back the same way).
        ["NaN", NaN],
        ["Infinity", Infinity],
      ] as const
    ) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        if (typeof value === "number") this.floats.add(path);
        return value;
      }
    }
    if (c === "'") this.fail("strings must use double quotes");
    return this.fail(`expected a value, found ${this.describeHere()}`);
  }

  private parseObject(path: string, depth: number): JsonObject {
    const obj: JsonObject = new Map();
    this.pos++; // {
    this.skipSpace();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return obj;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === "}") this.fail("trailing comma before '}'");
      if (this.text[this.pos] !== '"') {
        this.fail(`expected a key in double quotes, found ${this.describeHere()}`);
      }
      const key = this.parseString();
      this.skipSpace();
      if (this.text[this.pos] !== ":") {
        this.fail(`expected ':' after the key "${key}", found ${this.describeHere()}`);
      }
      this.pos++;
      this.skipSpace();
      const keyPath = joinPath(path, key);
      if (obj.has(key)) {
        this.duplicateKeys.push(keyPath);
        // The last value wins: forget what the earlier one's numbers were written as.
        for (const p of this.floats) {
          if (p === keyPath || p.startsWith(keyPath + ".") || p.startsWith(keyPath + "[")) {
            this.floats.delete(p);
          }
        }
      }
      obj.set(key, this.parseValue(keyPath, depth + 1));
      this.skipSpace();
      const next = this.text[this.pos];
      if (next === ",") {
        this.pos++;
        continue;
      }
      if (next === "}") {
        this.pos++;
        return obj;
      }
      this.fail(`expected ',' or '}' after the value of "${key}", found ${this.describeHere()}`);
    }
  }

  private parseArray(path: string, depth: number): JsonValue[] {
    const arr: JsonValue[] = [];
    this.pos++; // [
    this.skipSpace();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return arr;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === "]") this.fail("trailing comma before ']'");
      arr.push(this.parseValue(`${path}[${arr.length}]`, depth + 1));
      this.skipSpace();
      const next = this.text[this.pos];
      if (next === ",") {
        this.pos++;
        continue;
      }
      if (next === "]") {
        this.pos++;
        return arr;
      }
      this.fail(`expected ',' or ']' after a list item, found ${this.describeHere()}`);
    }
  }

  private parseString(): string {
    const start = this.pos;
    this.pos++; // opening quote
    let out = "";
    let runStart = this.pos;
    for (;;) {
      if (this.pos >= this.text.length) this.fail("unterminated string", start);
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x22) { // closing quote
        out += this.text.slice(runStart, this.pos);
        this.pos++;
        return out;
      }
      if (c < 0x20) {
        this.fail(`control character U+${hex4(c)} inside a string (write it as an escape)`);
      }
      if (c !== 0x5c) { // not a backslash
        this.pos++;
        continue;
      }
      out += this.text.slice(runStart, this.pos);
      out += this.parseEscape();
      runStart = this.pos;
    }
  }

  /** One escape sequence starting at the backslash; returns the characters it stands for. */
  private parseEscape(): string {
    const at = this.pos;
    const e = this.text[this.pos + 1];
    const simple: Record<string, string> = {
      '"': '"',
      "\\": "\\",
      "/": "/",
      b: "\b",
      f: "\f",
      n: "\n",
      r: "\r",
      t: "\t",
    };
    if (e !== undefined && e in simple) {
      this.pos += 2;
      return simple[e];
    }
    if (e === "u") {
      const digits = this.text.slice(this.pos + 2, this.pos + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(digits)) this.fail("\\u must be followed by 4 hex digits", at);
      this.pos += 6;
      const code = parseInt(digits, 16);
      if (code > 0x7f) this.escapes.add(`\\u${digits}`);
      return String.fromCharCode(code);
    }
    return this.fail(`invalid escape '\\${e ?? ""}' in a string`, at);
  }

  private parseNumber(path: string): number {
    if (this.text.startsWith("-Infinity", this.pos)) {
      this.pos += "-Infinity".length;
      this.floats.add(path);
      return -Infinity;
    }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.text.slice(this.pos));
    if (!m) this.fail(`invalid number, found ${this.describeHere()}`);
    if (m[2] !== undefined || m[3] !== undefined) this.floats.add(path);
    const after = this.text[this.pos + m[0].length];
    if (after !== undefined && /[0-9.eE+\-]/.test(after)) {
      this.fail("invalid number (leading zero or malformed fraction/exponent)");
    }
    this.pos += m[0].length;
    return Number(m[0]);
  }
}

function hasNonAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return true;
  return false;
}

function hex4(code: number): string {
  return code.toString(16).toUpperCase().padStart(4, "0");
}

/** Converts plain JavaScript data (a typed caption) into ordered {@link JsonValue}s. */
export function fromPlain(value: unknown, path = ""): JsonValue {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") {
    // In plain data NaN is a bug (JSON.stringify would write null); parsed text may hold
    // NaN/Infinity as Python's json module reads them, but that comes as JsonValues already.
    if (!Number.isFinite(value)) throw new Error(`${path || "value"}: ${value} is not valid JSON`);
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => fromPlain(v, `${path}[${i}]`));
  if (value instanceof Map) {
    const out: JsonObject = new Map();
    for (const [k, v] of value) {
      if (v !== undefined) out.set(String(k), fromPlain(v, joinPath(path, String(k))));
    }
    return out;
  }
  if (typeof value === "object") {
    const out: JsonObject = new Map();
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== undefined) out.set(k, fromPlain(v, joinPath(path, k)));
    }
    return out;
  }
  throw new Error(`${path || "value"}: a ${typeof value} cannot be written as JSON`);
}

/** Converts parsed {@link JsonValue}s into plain JavaScript objects and arrays. */
export function toPlain(value: JsonValue): unknown {
  if (Array.isArray(value)) return value.map(toPlain);
  if (value instanceof Map) {
    return Object.fromEntries([...value].map(([k, v]) => [k, toPlain(v)]));
  }
  return value;
}

/** Whether a parsed value is a JSON object. */
export function isObject(value: JsonValue | undefined): value is JsonObject {
  return value instanceof Map;
}
