"""Oracle for tests/model/safetensors_test.cc: the reference `safetensors` Python library.

  safetensors_cases.py write OUT_DIR
      Writes, with safetensors.torch.save_file:
        OUT_DIR/py_all.safetensors     every dtype the C++ side supports, incl. 0-dim scalars
                                       and zero-size tensors, metadata {"format": "pt"}
        OUT_DIR/py_meta.safetensors    one tensor, several metadata entries
        OUT_DIR/ckpt_sharded/          model.safetensors.index.json + 2 shards
        OUT_DIR/ckpt_single/           model.safetensors
        OUT_DIR/expected.json          {file: {"metadata": {...}, "tensors": {name:
                                       {"dtype", "shape", "hex"}}}} (file relative to OUT_DIR;
                                       a checkpoint is keyed by its directory)

  safetensors_cases.py verify MANIFEST_JSON
      MANIFEST_JSON maps file paths (written by the C++ writer) to
      {"metadata": {...}, "tensors": {name: {"dtype", "shape", "hex"}}}. Loads each file with
      safetensors.torch.load_file and safe_open and checks every tensor and the metadata.
      Exit status 0 on success, 1 with messages on stderr otherwise.
"""

import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}
NAMES = {v: k for k, v in DTYPES.items()}


def raw_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def make_tensor(dtype, shape, seed):
    numel = 1
    for d in shape:
        numel *= d
    nbytes = numel * torch.empty((), dtype=dtype).element_size()
    if dtype == torch.bool:
        data = [(i * 7 + seed) % 2 for i in range(nbytes)]
    else:
        data = [(i * 31 + seed * 17 + 1) % 256 for i in range(nbytes)]
    flat = torch.tensor(data, dtype=torch.uint8).view(dtype)
    return flat.reshape(shape)


def describe(tensors, metadata):
    return {
        "metadata": metadata or {},
        "tensors": {
            name: {"dtype": NAMES[t.dtype], "shape": list(t.shape), "hex": raw_bytes(t).hex()}
            for name, t in tensors.items()
        },
    }


def write(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    expected = {}

    tensors = {}
    for i, (name, dtype) in enumerate(DTYPES.items()):
        tensors[f"{name.lower()}.matrix"] = make_tensor(dtype, [3, 5], i)
        tensors[f"{name.lower()}.scalar"] = make_tensor(dtype, [], i + 50)
        tensors[f"{name.lower()}.empty"] = make_tensor(dtype, [0, 4], i)
    tensors["odd.vector"] = make_tensor(torch.uint8, [7], 99)
    meta = {"format": "pt"}
    save_file(tensors, os.path.join(out_dir, "py_all.safetensors"), metadata=meta)
    expected["py_all.safetensors"] = describe(tensors, meta)

    one = {"w": make_tensor(torch.float32, [2, 2], 3)}
    meta = {"format": "pt", "model": "mamba2", "note": "caf\u00e9 \"quoted\"\n"}
    save_file(one, os.path.join(out_dir, "py_meta.safetensors"), metadata=meta)
    expected["py_meta.safetensors"] = describe(one, meta)

    # A sharded checkpoint as transformers writes it.
    sharded = {
        "backbone.embeddings.weight": make_tensor(torch.bfloat16, [16, 8], 1),
        "backbone.layers.0.mixer.A_log": make_tensor(torch.float32, [4], 2),
        "backbone.layers.0.mixer.in_proj.weight": make_tensor(torch.bfloat16, [24, 8], 3),
        "backbone.layers.1.mixer.A_log": make_tensor(torch.float32, [4], 4),
        "backbone.layers.1.mixer.in_proj.weight": make_tensor(torch.bfloat16, [24, 8], 5),
        "backbone.norm_f.weight": make_tensor(torch.float32, [8], 6),
    }
    ckpt = os.path.join(out_dir, "ckpt_sharded")
    os.makedirs(ckpt, exist_ok=True)
    names = sorted(sharded)
    shards = {
        "model-00001-of-00002.safetensors": names[:3],
        "model-00002-of-00002.safetensors": names[3:],
    }
    weight_map = {}
    total = 0
    for shard, shard_names in shards.items():
        part = {n: sharded[n] for n in shard_names}
        save_file(part, os.path.join(ckpt, shard), metadata={"format": "pt"})
        for n in shard_names:
            weight_map[n] = shard
            total += raw_bytes(sharded[n]).__len__()
    with open(os.path.join(ckpt, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    expected["ckpt_sharded"] = describe(sharded, {})

    single = os.path.join(out_dir, "ckpt_single")
    os.makedirs(single, exist_ok=True)
    save_file(sharded, os.path.join(single, "model.safetensors"), metadata={"format": "pt"})
    expected["ckpt_single"] = describe(sharded, {"format": "pt"})

    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f)


def verify_file(path, expected):
    errors = []
    try:
        loaded = load_file(path)
    except Exception as e:  # noqa: BLE001 - report any loader failure as a mismatch
        print(f"{path}: load_file failed: {e!r}", file=sys.stderr)
        return 1
    want = expected["tensors"]
    if sorted(loaded) != sorted(want):
        errors.append(f"tensor names {sorted(loaded)} != expected {sorted(want)}")
    for name, spec in want.items():
        if name not in loaded:
            continue
        t = loaded[name]
        if NAMES.get(t.dtype) != spec["dtype"]:
            errors.append(f"{name}: dtype {t.dtype} != {spec['dtype']}")
        if list(t.shape) != spec["shape"]:
            errors.append(f"{name}: shape {list(t.shape)} != {spec['shape']}")
        if raw_bytes(t).hex() != spec["hex"]:
            errors.append(f"{name}: bytes differ")
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
    if meta != expected["metadata"]:
        errors.append(f"metadata {meta} != {expected['metadata']}")
    if errors:
        print(f"{path}: " + "; ".join(errors), file=sys.stderr)
        return 1
    print(f"{path}: {len(want)} tensors OK")
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "write":
        write(argv[2])
        return 0
    if len(argv) == 3 and argv[1] == "verify":
        with open(argv[2]) as f:
            manifest = json.load(f)
        failures = sum(verify_file(path, spec) for path, spec in manifest.items())
        return 1 if failures else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
