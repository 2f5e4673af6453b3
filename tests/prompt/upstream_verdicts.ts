/**
 * Captions with the verdict of upstream's verifier (`caption_verifier.py`,
 * `CaptionVerifier().verify_raw(text)` at commit 415abf4: "accept" when it
 * returns no warning, "refuse" otherwise, "raises" when it throws). Each
 * verdict was derived by reading upstream's code and confirmed by running it
 * on this exact text with Python 3.
 *
 * `ours` is set only where we deliberately differ; each such case has a row
 * in the README's "Differences from upstream" table.
 */

export type Verdict = "accept" | "refuse";

export interface VerdictCase {
  name: string;
  /** The caption exactly as given to the verifier. */
  text: string;
  upstream: Verdict | "raises";
  /** Our verdict where it deliberately differs from upstream's. */
  ours?: Verdict;
  /** With `ours`: words of the README's differences row that explains it. */
  readme?: string;
}

/** `{"compositional_deconstruction": …}` around `elements`, minified. */
function withElements(elements: string): string {
  return `{"compositional_deconstruction":{"background":"b","elements":[${elements}]}}`;
}

/** A caption with the given `style_description` text. */
function withStyle(style: string): string {
  return `{"style_description":${style},"compositional_deconstruction":{"background":"b","elements":[]}}`;
}

const PHOTO_STYLE =
  `{"aesthetics":"calm","lighting":"soft","photo":"50mm","medium":"photograph","color_palette":["#C8553D","#FFFFFF"]}`;

const FULL =
  `{"high_level_description":"A cat in a window box.","style_description":${PHOTO_STYLE},` +
  `"compositional_deconstruction":{"background":"A wall.","elements":[` +
  `{"type":"obj","bbox":[520,80,900,920],"desc":"A window box.","color_palette":["#C8553D"]},` +
  `{"type":"text","bbox":[10,10,100,500],"text":"CAFÉ\\nOPEN","desc":"Painted letters."}]}}`;

const PRETTY = `{
  "high_level_description": "A cat in a window box.",
  "compositional_deconstruction": {
    "background": "A wall.",
    "elements": [
      {
        "type": "obj",
        "bbox": [
          520,
          80,
          900,
          920
        ],
        "desc": "A window box."
      }
    ]
  }
}`;

export const UPSTREAM_VERDICTS: VerdictCase[] = [
  // ---- valid captions, however they are written
  { name: "minimal", text: withElements(""), upstream: "accept" },
  { name: "full photo caption, minified", text: FULL, upstream: "accept" },
  { name: "pretty-printed (json.dumps indent=2)", text: PRETTY, upstream: "accept" },
  {
    name: "', ' and ': ' separators",
    text:
      `{"compositional_deconstruction": {"background": "b", "elements": [{"type": "obj", "desc": "d"}]}}`,
    upstream: "accept",
  },
  { name: "whitespace around the object", text: `\n  ${withElements("")}  \n`, upstream: "accept" },
  {
    name: "top level: composition before high_level_description",
    text:
      `{"compositional_deconstruction":{"background":"b","elements":[]},"high_level_description":"h"}`,
    upstream: "accept",
  },
  {
    name: "top level: style after composition",
    text:
      `{"compositional_deconstruction":{"background":"b","elements":[]},"style_description":${PHOTO_STYLE}}`,
    upstream: "accept",
  },
  {
    name: "literal non-ASCII",
    text: withElements(`{"type":"text","text":"Ünïcødé 日本","desc":"d"}`),
    upstream: "accept",
  },
  // ---- value types upstream does not check
  {
    name: "style aesthetics as a number",
    text: withStyle(`{"aesthetics":3,"lighting":"l","photo":"p","medium":"m"}`),
    upstream: "accept",
  },
  {
    name: "style lighting as a list, medium null",
    text: withStyle(`{"aesthetics":"a","lighting":["l"],"photo":"p","medium":null}`),
    upstream: "accept",
  },
  {
    name: "style art_style as an object",
    text: withStyle(`{"aesthetics":"a","lighting":"l","medium":"m","art_style":{"x":1}}`),
    upstream: "accept",
  },
  { name: "desc as a number", text: withElements(`{"type":"obj","desc":42}`), upstream: "accept" },
  { name: "desc null", text: withElements(`{"type":"obj","desc":null}`), upstream: "accept" },
  {
    name: "text element's text as a number",
    text: withElements(`{"type":"text","text":7,"desc":"d"}`),
    upstream: "accept",
  },
  {
    name: "desc NaN (Python reads NaN)",
    text: withElements(`{"type":"obj","desc":NaN}`),
    upstream: "accept",
  },
  {
    name: "high_level_description as a number",
    text:
      `{"high_level_description":1,"compositional_deconstruction":{"background":"b","elements":[]}}`,
    upstream: "refuse",
  },
  // ---- duplicate keys: last value, first position
  {
    name: "duplicate top-level key",
    text:
      `{"high_level_description":"a","high_level_description":"b","compositional_deconstruction":{"background":"b","elements":[]}}`,
    upstream: "accept",
  },
  {
    name: "duplicate: an invalid value replaced by a valid one",
    text: withElements(`{"type":"obj","bbox":[1.0,0,5,5],"bbox":[1,0,5,5],"desc":"d"}`),
    upstream: "accept",
  },
  {
    name: "duplicate: a valid value replaced by an invalid one",
    text:
      `{"high_level_description":"a","high_level_description":3,"compositional_deconstruction":{"background":"b","elements":[]}}`,
    upstream: "refuse",
  },
  {
    name: "duplicate 'type' keeps its first position",
    text: withElements(`{"type":"obj","desc":"d","type":"obj"}`),
    upstream: "accept",
  },
  {
    name: "duplicate 'desc' before 'type' keeps the wrong order",
    text: withElements(`{"desc":"a","type":"obj","desc":"b"}`),
    upstream: "refuse",
  },
  // ---- bboxes
  {
    name: "bbox of integers",
    text: withElements(`{"type":"obj","bbox":[0,0,1000,1000],"desc":"d"}`),
    upstream: "accept",
  },
  {
    name: "bbox with equal edges",
    text: withElements(`{"type":"obj","bbox":[5,5,5,5],"desc":"d"}`),
    upstream: "accept",
  },
  {
    name: "bbox -0 is the integer 0",
    text: withElements(`{"type":"obj","bbox":[-0,0,5,5],"desc":"d"}`),
    upstream: "accept",
  },
  {
    name: "bbox 1.0 is a float",
    text: withElements(`{"type":"obj","bbox":[1.0,0,5,5],"desc":"d"}`),
    upstream: "refuse",
  },
  {
    name: "bbox 1e2 is a float",
    text: withElements(`{"type":"obj","bbox":[0,0,1e2,5],"desc":"d"}`),
    upstream: "refuse",
  },
  {
    name: "bbox 100E0 is a float",
    text: withElements(`{"type":"obj","bbox":[0,0,100E0,500],"desc":"d"}`),
    upstream: "refuse",
  },
  {
    name: "bbox Infinity",
    text: withElements(`{"type":"obj","bbox":[0,0,Infinity,5],"desc":"d"}`),
    upstream: "refuse",
  },
  {
    name: "bbox value 1001",
    text: withElements(`{"type":"obj","bbox":[0,0,1001,5],"desc":"d"}`),
    upstream: "refuse",
  },
  {
    name: "bbox value 10^20",
    text: withElements(`{"type":"obj","bbox":[0,0,100000000000000000000,5],"desc":"d"}`),
    upstream: "refuse",
  },
  {
    name: "bbox y_min above y_max",
    text: withElements(`{"type":"obj","bbox":[600,0,500,5],"desc":"d"}`),
    upstream: "refuse",
  },
  {
    name: "bbox of three",
    text: withElements(`{"type":"obj","bbox":[0,0,5],"desc":"d"}`),
    upstream: "refuse",
  },
  {
    name: "bbox as a string",
    text: withElements(`{"type":"obj","bbox":"0,0,5,5","desc":"d"}`),
    upstream: "refuse",
  },
  {
    name: "bbox with booleans (Python's bool is an int)",
    text: withElements(`{"type":"obj","bbox":[false,false,true,true],"desc":"d"}`),
    upstream: "accept",
    ours: "refuse",
    readme: "Booleans as bbox values",
  },
  // ---- escapes of non-ASCII characters, checked over the raw text
  {
    name: "\\u00e9 without literal non-ASCII",
    text: withElements(`{"type":"obj","desc":"caf\\u00e9"}`),
    upstream: "refuse",
  },
  {
    name: "\\u00e9 beside a literal é",
    text: withElements(`{"type":"obj","desc":"caf\\u00e9 café"}`),
    upstream: "accept",
  },
  {
    name: "escaped backslash before u00e9 (raw text \\\\u00e9)",
    text: withElements(`{"type":"obj","desc":"path C:\\\\u00e9"}`),
    upstream: "refuse",
  },
  {
    name: "\\u0041 is ASCII",
    text: withElements(`{"type":"obj","desc":"\\u0041"}`),
    upstream: "accept",
  },
  {
    name: "\\u20AC upper-case digits",
    text: withElements(`{"type":"obj","desc":"\\u20AC"}`),
    upstream: "refuse",
  },
  {
    name: "escaped surrogate pair",
    text: withElements(`{"type":"obj","desc":"\\ud83d\\ude00"}`),
    upstream: "refuse",
  },
  // ---- not a caption
  { name: "plain text", text: "a red fox in the snow", upstream: "refuse" },
  {
    name: "trailing comma",
    text: `{"compositional_deconstruction":{"background":"b","elements":[],}}`,
    upstream: "refuse",
  },
  { name: "a list at the root", text: `[${withElements("")}]`, upstream: "refuse" },
  { name: "single quotes", text: `{'compositional_deconstruction':{}}`, upstream: "refuse" },
  // ---- structure
  {
    name: "no compositional_deconstruction",
    text: `{"high_level_description":"h"}`,
    upstream: "refuse",
  },
  {
    name: "no background",
    text: `{"compositional_deconstruction":{"elements":[]}}`,
    upstream: "refuse",
  },
  {
    name: "background a number",
    text: `{"compositional_deconstruction":{"background":1,"elements":[]}}`,
    upstream: "refuse",
  },
  {
    name: "no elements",
    text: `{"compositional_deconstruction":{"background":"b"}}`,
    upstream: "refuse",
  },
  {
    name: "elements an object",
    text: `{"compositional_deconstruction":{"background":"b","elements":{}}}`,
    upstream: "refuse",
  },
  {
    name: "elements before background",
    text: `{"compositional_deconstruction":{"elements":[],"background":"b"}}`,
    upstream: "refuse",
  },
  {
    name: "unknown key in the composition",
    text: `{"compositional_deconstruction":{"background":"b","elements":[],"mood":"m"}}`,
    upstream: "refuse",
  },
  {
    name: "unknown top-level key",
    text: `{"mood":"m","compositional_deconstruction":{"background":"b","elements":[]}}`,
    upstream: "refuse",
  },
  {
    name: "aspect_ratio left in",
    text: `{"aspect_ratio":"16:9","compositional_deconstruction":{"background":"b","elements":[]}}`,
    upstream: "refuse",
  },
  { name: "element a string", text: withElements(`"a cat"`), upstream: "refuse" },
  { name: "element without type", text: withElements(`{"desc":"d"}`), upstream: "refuse" },
  {
    name: "element type image",
    text: withElements(`{"type":"image","desc":"d"}`),
    upstream: "refuse",
  },
  {
    name: "element type a list (upstream: TypeError, unhashable)",
    text: withElements(`{"type":["obj"],"desc":"d"}`),
    upstream: "raises",
    ours: "refuse",
    readme: "A list or object as an element's `type`",
  },
  { name: "obj element without desc", text: withElements(`{"type":"obj"}`), upstream: "refuse" },
  {
    name: "text key in an obj element",
    text: withElements(`{"type":"obj","text":"T","desc":"d"}`),
    upstream: "refuse",
  },
  {
    name: "text element without text",
    text: withElements(`{"type":"text","desc":"d"}`),
    upstream: "refuse",
  },
  {
    name: "unknown element key",
    text: withElements(`{"type":"obj","desc":"d","size":"big"}`),
    upstream: "refuse",
  },
  {
    name: "element: desc before type",
    text: withElements(`{"desc":"d","type":"obj"}`),
    upstream: "refuse",
  },
  {
    name: "element: bbox after desc",
    text: withElements(`{"type":"obj","desc":"d","bbox":[0,0,5,5]}`),
    upstream: "refuse",
  },
  {
    name: "text element: desc before text",
    text: withElements(`{"type":"text","desc":"d","text":"T"}`),
    upstream: "refuse",
  },
  // ---- style
  { name: "style a string", text: withStyle(`"photo"`), upstream: "refuse" },
  {
    name: "style with photo and art_style",
    text: withStyle(`{"aesthetics":"a","lighting":"l","photo":"p","medium":"m","art_style":"s"}`),
    upstream: "refuse",
  },
  {
    name: "style with neither photo nor art_style",
    text: withStyle(`{"aesthetics":"a","lighting":"l","medium":"m"}`),
    upstream: "refuse",
  },
  {
    name: "style without lighting",
    text: withStyle(`{"aesthetics":"a","photo":"p","medium":"m"}`),
    upstream: "refuse",
  },
  {
    name: "style: lighting before aesthetics",
    text: withStyle(`{"lighting":"l","aesthetics":"a","photo":"p","medium":"m"}`),
    upstream: "refuse",
  },
  {
    name: "style: unknown key",
    text: withStyle(`{"aesthetics":"a","lighting":"l","photo":"p","medium":"m","mood":"x"}`),
    upstream: "refuse",
  },
  // ---- palettes
  {
    name: "style palette of 16",
    text: withStyle(
      `{"aesthetics":"a","lighting":"l","photo":"p","medium":"m","color_palette":[${
        Array(16).fill(`"#ABCDEF"`).join(",")
      }]}`,
    ),
    upstream: "accept",
  },
  {
    name: "style palette of 17",
    text: withStyle(
      `{"aesthetics":"a","lighting":"l","photo":"p","medium":"m","color_palette":[${
        Array(17).fill(`"#ABCDEF"`).join(",")
      }]}`,
    ),
    upstream: "refuse",
  },
  {
    name: "lower-case hex colour",
    text: withElements(`{"type":"obj","desc":"d","color_palette":["#abcdef"]}`),
    upstream: "refuse",
  },
  {
    name: "element palette of 6",
    text: withElements(
      `{"type":"obj","desc":"d","color_palette":[${Array(6).fill(`"#000000"`).join(",")}]}`,
    ),
    upstream: "refuse",
  },
  {
    name: "element palette of 5",
    text: withElements(
      `{"type":"obj","desc":"d","color_palette":[${Array(5).fill(`"#000000"`).join(",")}]}`,
    ),
    upstream: "accept",
  },
  {
    name: "palette colour a number",
    text: withElements(`{"type":"obj","desc":"d","color_palette":[255]}`),
    upstream: "refuse",
  },
];
