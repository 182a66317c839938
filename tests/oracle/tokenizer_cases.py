"""Oracle for tests/tokenizer: the reference Hugging Face `tokenizers` library.

  tokenizer_cases.py --shared-data DIR --out OUT_DIR

Writes, for each tokenizer below, OUT_DIR/<name>.tokenizer.json (the exact file HF loaded)
and OUT_DIR/<name>.cases.json:
  {"tokenizer_file": path, "vocab_size": int, "special_ids": [int],
   "token_to_id": {content: id},                     # added tokens and a few vocab tokens
   "encode": [{"name": str,
               "nfc_stable": bool,                    # the repaired text is already NFC
               "ids": [int],                          # HF encode(repaired, add_special_tokens=False)
               # either, for generated inputs:
               "input_hex": hex,                      # raw bytes, may be invalid UTF-8
               "repaired_hex": hex,                   # bytes.decode("utf-8", "replace")
               "decoded_hex": hex,                    # HF decode(ids, skip_special_tokens=False)
               # or, for the shared corpora:
               "input_file": path, "valid_utf8": bool, "decoded_equals_input": bool}],
   "decode": [{"ids": [int], "skip_special": bool, "text_hex": hex}]}
Tokenizers: gpt-neox-20b (the shared file; also the two shared corpora), minimal_byte_level
(256 byte tokens shifted by one behind <|endoftext|> = 0, no merges), features (small trained
BPE with Sequence normalizer/pre-tokenizer, [a, b] merges, ignore_merges, lstrip/rstrip/
single_word/normalized added tokens), unk_fused / unk_unfused (vocab missing bytes, unk_token)
added_quirks (HF's rules for added-token ids and flags) and no_pre_tokenizer. Outputs are regenerated only when this script, the tokenizers version or
the shared inputs change (OUT_DIR/stamp).
"""

import argparse
import hashlib
import json
import os
import random
import sys
import unicodedata

import tokenizers
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

SEED = 20240611
NAMES = ["gpt-neox-20b", "minimal_byte_level", "features", "added_quirks", "unk_fused",
         "unk_unfused", "no_pre_tokenizer"]


def bytes_to_unicode():
    """The GPT-2 byte-level alphabet, as in HF / OpenAI's encoder.py."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()


def added(content, id_, special, normalized=None, lstrip=False, rstrip=False, single_word=False):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip,
            "rstrip": rstrip, "normalized": (not special) if normalized is None else normalized,
            "special": special}


def byte_level(add_prefix_space=False, use_regex=True):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": True,
            "use_regex": use_regex}


def tokenizer_json(vocab, merges, added_tokens, normalizer=None, pre_tokenizer=None, **model):
    spec = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
            "ignore_merges": False, "vocab": vocab, "merges": merges}
    spec.update(model)
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
            "normalizer": normalizer, "pre_tokenizer": pre_tokenizer, "post_processor": None,
            "decoder": byte_level(), "model": spec}


def minimal_byte_level():
    # Must equal minimalByteLevelJson() in tests/tokenizer/tokenizer_test.cc.
    vocab = {"<|endoftext|>": 0}
    for b in range(256):
        vocab[B2U[b]] = b + 1
    return tokenizer_json(vocab, [], [added("<|endoftext|>", 0, True)],
                          pre_tokenizer=byte_level())


def train_small_bpe(text):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=700, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([text], trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [m.split(" ", 1) if isinstance(m, str) else m for m in model["merges"]]
    return model["vocab"], merges


def features(vocab, merges):
    vocab = dict(vocab)
    # "Ġthe" is in the trained vocab: as an added token it keeps its vocab id.
    toks = [added("<s>", 0, True), added("<mask>", 0, True, lstrip=True, rstrip=True),
            added("[SEP]", 0, True, single_word=True), added("Ġthe", 0, False),
            added("n\u0303o", 0, False, normalized=True),       # matches "ño" after NFC
            added("<raw\u0301>", 0, False, normalized=False),   # only the un-normalized text
            added("<mask>", 0, True, lstrip=True, rstrip=True),  # exact duplicate: ignored
            added("xyz", 0, False, single_word=True, normalized=False)]
    return tokenizer_json(
        vocab, [list(m) for m in merges], toks,
        normalizer={"type": "Sequence", "normalizers": [{"type": "NFC"}]},
        pre_tokenizer={"type": "Sequence", "pretokenizers": [byte_level(add_prefix_space=True)]},
        ignore_merges=True)


def added_quirks():
    """HF's loading rules for added tokens: ids ignore the file, sparse vocab ids collide,
    later duplicates replace flags, normalized tokens decode from their normalized form."""
    spec = minimal_byte_level()
    del spec["model"]["vocab"]["<|endoftext|>"]  # 256 entries with ids 1..256
    spec["normalizer"] = {"type": "NFC"}
    spec["added_tokens"] = [
        added(B2U[255], 7, False, normalized=False),  # in the vocab: keeps id 256
        added("<new>", 0, False, normalized=False),   # next id = 256 entries: collides
        added("<A>", 1, True),
        added("e\u0301", 2, False, normalized=True),
        added("e\u0301", 2, False, normalized=False),  # replaces: raw match only
        added("<X>", 3, True),
        added("<X>", 3, False),                        # no longer special, still skipped
        added("e\u0301x", 4, True, normalized=True),   # special, decodes as "\xe9x"
        added("<A>", 1, True)]                         # identical: ignored
    return spec


def unk_variant(fuse):
    vocab = {"<unk>": 0}
    for b in range(256):
        if b < 0x80 and chr(b) not in "qQzZ":
            vocab[B2U[b]] = len(vocab)
    merges = [["t", "h"], ["th", "e"]]
    vocab["th"] = len(vocab)
    vocab["the"] = len(vocab)
    return tokenizer_json(vocab, merges, [added("<unk>", 0, True)],
                          pre_tokenizer=byte_level(add_prefix_space=True, use_regex=False),
                          unk_token="<unk>", fuse_unk=fuse)


def no_pre_tokenizer(vocab, merges):
    return tokenizer_json(vocab, merges, [added("<|endoftext|>", 0, True)])


# ----------------------------------------------------------------------------- random text

ADDED_STRINGS = ["<|endoftext|>", "<|padding|>", "<|im_start|>", "<|im_end|>", "assistant", "RWKV",
                 "<|endoftext", "<|", "|>", "assist", "assistants", "rwkv", "<s>", "<mask>",
                 "[SEP]", "n\u0303o", "\u00f1o", "<raw\u0301>", "<raw\u00e9>", "xyz", "Ġthe", "the"]
SPACES = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2000", "\u2007",
          "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\u180e", "\u200b", "\x1c",
          "\x1f", "\ufeff"]
PUNCT = "!?.,;:-()[]{}\"'`~@#$%^&*_+=<>/\\|\u2019\u201c\u201d\u2014\u00bf\u00a1\u00b7\u2026"
RANGES = [(0x391, 0x3C9), (0x410, 0x44F), (0x5D0, 0x5EA), (0x627, 0x64A), (0x660, 0x669),
          (0x905, 0x939), (0x93E, 0x94D), (0x966, 0x96F), (0xE01, 0xE30), (0xE31, 0xE3A),
          (0x4E00, 0x9FFF), (0x3041, 0x3096), (0x30A1, 0x30FA), (0xAC00, 0xD7A3),
          (0xFF01, 0xFF5E), (0x1D400, 0x1D7FF), (0x2160, 0x2188), (0xB2, 0xBE), (0x2070, 0x209C),
          (0x1F600, 0x1F64F), (0x1F300, 0x1F5FF), (0x2600, 0x26FF), (0x300, 0x36F),
          (0xE000, 0xE0FF), (0x1100, 0x11FF), (0x0, 0x1F), (0x7F, 0x9F)]
EMOJI = ["\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\U0001F1FA\U0001F1F8",
         "1\ufe0f\u20e3", "\u2764\ufe0f", "\U0001F600", "\U0001F9D1\u200d\U0001F4BB"]
COMPOSING = ["e\u0301", "A\u030a", "o\u0308\u0304", "a\u0323\u0302", "a\u0302\u0323", "\u212b",
             "\u2126", "\u0344", "\u0915\u093c", "\u0958", "\u304b\u3099", "\u1100\u1161\u11a8",
             "\u1112\u1161", "C\u0327", "u\u031b\u0309", "\u0301", "\u0301\u0301e", "\u00e9\u0301",
             "\u0ec0\u0e4d", "\u1e9b\u0323", "\ufb01", "\u2460", "\u00bd", "\u0340"]
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "'D", "\u2019s", "''s",
                "'", "'x", "'r", "'v"]


def random_word(rng):
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return "".join(rng.choice(letters) for _ in range(rng.randint(1, 10)))


def random_assigned_char(rng):
    while True:
        lo, hi = rng.choice(RANGES) if rng.random() < 0.8 else (0xA0, 0x2FFFF)
        c = chr(rng.randint(lo, hi))
        if unicodedata.category(c) not in ("Cn", "Cs"):
            return c


def random_piece(rng):
    kind = rng.randrange(11)
    if kind == 0:
        return random_word(rng) + (rng.choice(CONTRACTIONS) if rng.random() < 0.5 else "")
    if kind == 1:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 12)))
    if kind == 2:
        return "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 4)))
    if kind == 3:
        return "".join(rng.choice(SPACES) for _ in range(rng.randint(1, 6)))
    if kind == 4:
        return " " * rng.randint(1, 60)
    if kind == 5:
        return "".join(random_assigned_char(rng) for _ in range(rng.randint(1, 8)))
    if kind == 6:
        return rng.choice(EMOJI)
    if kind == 7:
        return rng.choice(COMPOSING)
    if kind == 8:
        return rng.choice(ADDED_STRINGS)
    if kind == 9:
        return rng.choice(["\n", "\n\n", "\r\n", "\t", " \n", "\n ", "  \t "])
    return random_word(rng).lower()


def random_text(rng, max_pieces=14):
    parts = []
    for _ in range(rng.randint(1, max_pieces)):
        parts.append(random_piece(rng))
        if rng.random() < 0.5:
            parts.append(" ")
    return "".join(parts)


HANDCRAFTED = [
    "", " ", "  ", "   ", " " * 24, " " * 25, " " * 49, " " * 100, "\n", "\n\n", " \n", "\n ",
    "a  b", "a   b", "hello world", "Hello   world", "  leading", "trailing  ", "trailing ",
    "tab\tsep", "x \t y", "x\t\ty", "x \u00a0y", "x\u00a0\u00a0y", "x\u3000\u3000y", "a\u2028b",
    "I'm can't we'll they're I've he'd it's", "'s", "''s", "'", "Don'T", "DON'T", "rock'n'roll",
    "<|endoftext|><|endoftext|>", " <|endoftext|> ", "a<|padding|>b", "assistant:", "assistants",
    "RWKV-4", "e\u0301", "<|endoftext|>\u0301", "\u0301", "\u0301\u0301", "x" * 1000,
    "9" * 500, "1234567890", "3.14159", "\u0663\u0664\u0665", "\u216b", "\u00bd", "a\u200bb",
    "\u180e", "\x00", "a\x00b", "\x7f\x1b[0m", "\U0001F468\u200d\U0001F469\u200d\U0001F467 family",
    "<s> <mask> [SEP]", "a<mask>b", "x <mask>\t y", " [SEP] ", "a[SEP]b", "[SEP]x", "\u00e9[SEP]",
    "the the  the", "n\u0303o \u00f1o", "<raw\u0301> <raw\u00e9>", "xyz xyzw wxyz (xyz)",
    "quiz QUIZ zebra", "\u00ff\u00fe", "\ufffd", "\ufeffBOM", "<new> <A><X>", "\u00e9 e\u0301",
    "e\u0301x \u00e9x", "\u00ff<new>\u00ff",
]


def invalid_bytes_cases(rng, valid_texts):
    fixed = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xe0\x9f\xbf",
             b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf0\x80\x80\xaf", b"\xf0\x8f\xbf\xbf",
             b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\xfe\xff", b"\xf0\x9f\x98",
             b"\xf0\x9f", b"\xf0", b"\xe2\x82", b"\xc3", b"a\xc3", b"\xc3a", b"\xe2\x82a",
             b"\xf0\x9f\x98\x80\x80", b"\xf1\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xf8\x88\x80\x80\x80",
             b"hello \xff world", b"\xe0\xa0", b"\xed\x9f\xbf", b"\xef\xbf\xbe", b"  \x80  x"]
    out = list(fixed)
    for _ in range(200):
        kind = rng.randrange(4)
        if kind == 0:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 48))))
            continue
        data = bytearray(rng.choice(valid_texts).encode("utf-8") or b"x")
        for _ in range(rng.randint(1, 4)):
            pos = rng.randint(0, len(data))
            if kind == 1:
                data[pos:pos] = bytes([rng.choice([0x80, 0xBF, 0xC0, 0xC2, 0xE0, 0xED, 0xF0,
                                                   0xF4, 0xF5, 0xFF, rng.randrange(128, 256)])])
            elif kind == 2 and data:
                data[min(pos, len(data) - 1)] = rng.randrange(256)
            else:
                data = data[:pos]
        out.append(bytes(data))
    return out


# ----------------------------------------------------------------------------- writing

def encode_case(tok, name, raw, input_file=None):
    text = raw.decode("utf-8", errors="replace")
    ids = tok.encode(text, add_special_tokens=False).ids
    decoded = tok.decode(ids, skip_special_tokens=False)
    case = {"name": name, "nfc_stable": unicodedata.is_normalized("NFC", text), "ids": ids}
    if input_file is None:
        case.update(input_hex=raw.hex(), repaired_hex=text.encode("utf-8").hex(),
                    decoded_hex=decoded.encode("utf-8").hex())
    else:  # large: keep the file small
        case.update(input_file=input_file, valid_utf8=text.encode("utf-8") == raw,
                    decoded_equals_input=decoded == text)
    return case


def decode_cases(tok, rng, n):
    size = tok.get_vocab_size(with_added_tokens=True)
    special = sorted(i for i, t in tok.get_added_tokens_decoder().items() if t.special)
    out = []
    for i in range(n):
        ids = []
        for _ in range(rng.randint(0, 20)):
            r = rng.random()
            if r < 0.15 and special:
                ids.append(rng.choice(special))
            elif r < 0.25:
                ids.append(rng.randint(size - 40 if size > 40 else 0, size + 10))
            else:
                ids.append(rng.randrange(size))
        skip = i % 2 == 1
        text = tok.decode(ids, skip_special_tokens=skip)
        out.append({"ids": ids, "skip_special": skip, "text_hex": text.encode("utf-8").hex()})
    return out


def write_cases(out_dir, name, spec_text, texts, byte_inputs, corpora, rng):
    path = os.path.join(out_dir, name + ".tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(spec_text)
    tok = Tokenizer.from_file(path)
    cases = [encode_case(tok, "handcrafted[%d]" % i, t.encode("utf-8"))
             for i, t in enumerate(HANDCRAFTED)]
    cases += [encode_case(tok, "random_utf8[%d]" % i, t.encode("utf-8")) for i, t in enumerate(texts)]
    cases += [encode_case(tok, "random_bytes[%d]" % i, b) for i, b in enumerate(byte_inputs)]
    for corpus in corpora:
        with open(corpus, "rb") as f:
            cases.append(encode_case(tok, os.path.basename(corpus), f.read(), input_file=corpus))
    decoder = tok.get_added_tokens_decoder()
    token_to_id = {t.content: tok.token_to_id(t.content) for t in decoder.values()}
    for t in ["Ġthe", "the", "Ġ", "a", "Ċ", "ĠĠ", "<unk>", "not-a-token"]:
        token_to_id[t] = tok.token_to_id(t)
    result = {"tokenizer_file": path, "vocab_size": tok.get_vocab_size(with_added_tokens=True),
              "special_ids": sorted(i for i, t in decoder.items() if t.special),
              "token_to_id": token_to_id, "encode": cases, "decode": decode_cases(tok, rng, 200)}
    with open(os.path.join(out_dir, name + ".cases.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, separators=(",", ":"))


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared-data", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    neox = os.path.join(args.shared_data, "tokenizers", "gpt-neox-20b.json")
    corpora = [os.path.join(args.shared_data, "text", n)
               for n in ("tinyshakespeare.txt", "wikitext2-valid.txt")]
    for p in [neox] + corpora:
        if not os.path.isfile(p):
            sys.exit("tokenizer_cases.py: missing shared input %s" % p)
    os.makedirs(args.out, exist_ok=True)
    stamp = "\n".join([tokenizers.__version__, file_digest(__file__)] +
                      ["%s %s" % (os.path.abspath(p), file_digest(p)) for p in [neox] + corpora])
    stamp_path = os.path.join(args.out, "stamp")
    outputs = [os.path.join(args.out, n + ".cases.json") for n in NAMES]
    if (os.path.exists(stamp_path) and open(stamp_path).read() == stamp
            and all(os.path.exists(p) for p in outputs)):
        print("tokenizer oracle: up to date in", args.out)
        return

    rng = random.Random(SEED)
    texts = [random_text(rng) for _ in range(400)] + [random_text(rng, 400) for _ in range(4)]
    byte_inputs = invalid_bytes_cases(rng, texts)
    with open(corpora[0], encoding="utf-8") as f:
        small_vocab, small_merges = train_small_bpe(f.read()[:200000])
    with open(neox, encoding="utf-8") as f:
        neox_text = f.read()

    dumps = lambda spec: json.dumps(spec, ensure_ascii=False, indent=1)
    write_cases(args.out, "gpt-neox-20b", neox_text, texts, byte_inputs, corpora, rng)
    sub_texts, sub_bytes = texts[:150], byte_inputs[:60]
    for name, spec in [("minimal_byte_level", minimal_byte_level()),
                       ("features", features(small_vocab, small_merges)),
                       ("added_quirks", added_quirks()),
                       ("unk_fused", unk_variant(True)),
                       ("unk_unfused", unk_variant(False)),
                       ("no_pre_tokenizer", no_pre_tokenizer(
                           small_vocab, [" ".join(m) for m in small_merges]))]:
        write_cases(args.out, name, dumps(spec), sub_texts, sub_bytes, [], rng)
    assert all(os.path.exists(p) for p in outputs)
    with open(stamp_path, "w") as f:
        f.write(stamp)
    print("tokenizer oracle: wrote cases to", args.out)


if __name__ == "__main__":
    main()
