#!/usr/bin/env python3
"""The instruction mix of a CUDA kernel's main loop, from its SASS, without a GPU: for each
kernel in OBJECT whose (mangled) name contains SUBSTRING, the longest loop (the backward branch
spanning most instructions) and its opcodes by count. Static counts: every path of the loop body
appears once whatever the warp takes, so compare the same kernel before and after a change, not
against Nsight Compute's executed instructions.

Needs cuobjdump and nvdisasm: on the GPU machine with the CUDA toolkit, here from PyPI
(`pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm`; the binaries land in
site-packages/nvidia/cu13/bin, which this script also searches).
Usage: scripts/sass_loop_mix.py OBJECT SUBSTRING [--arch sm_90] [--top 30]
e.g. the SSD walk: compile kernels/ssd_prefill/ssd_prefill_bf16.cu.o (ninja -t commands prints
the nvcc line) and run with SUBSTRING ssdSequentialKernel."""
import argparse
import collections
import glob
import os
import re
import shutil
import site
import subprocess
import sys


def find_tool(name):
    exe = shutil.which(name)
    if exe:
        return exe
    for root in site.getsitepackages() + [site.getusersitepackages()]:
        for hit in glob.glob(os.path.join(root, "nvidia", "*", "bin", name)):
            return hit
    sys.exit(f"{name} not found: install the CUDA toolkit or "
             "`pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm`")


def functions(sass):
    """(name, [(address, instruction)]) per function of a cuobjdump -sass listing."""
    name, body = None, []
    for line in sass.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            if name:
                yield name, body
            name, body = m.group(1), []
            continue
        m = re.match(r"\s+/\*([0-9a-f]{4,})\*/\s+(.*?);", line)
        if m and name:
            body.append((int(m.group(1), 16), m.group(2).strip()))
    if name:
        yield name, body


def opcode(instruction):
    return re.sub(r"^@!?U?P\w+\s+", "", instruction).split()[0].split(".")[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("object")
    ap.add_argument("substring")
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args()
    env = dict(os.environ, NVDISASM_PATH=os.path.dirname(find_tool("nvdisasm")))
    done = subprocess.run([find_tool("cuobjdump"), "-sass", "-arch", a.arch, a.object], capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"cuobjdump failed: {done.stderr.strip()}")
    sass = done.stdout
    found = False
    for name, body in functions(sass):
        if a.substring not in name:
            continue
        found = True
        loops = []
        for addr, ins in body:
            m = re.search(r"BRA\s.*?0x([0-9a-f]+)", ins)
            if m and int(m.group(1), 16) < addr:
                lo = int(m.group(1), 16)
                loops.append((sum(1 for x, _ in body if lo <= x <= addr), lo, addr))
        print(f"== {name}: {len(body)} instructions")
        if not loops:
            print("   no loop")
            continue
        n, lo, hi = max(loops)
        mix = collections.Counter(opcode(ins) for x, ins in body if lo <= x <= hi)
        print(f"   longest loop [{lo:#x}, {hi:#x}]: {n} instructions")
        for op, count in mix.most_common(a.top):
            print(f"   {count:6d}  {op}")
    if not found:
        sys.exit(f"no kernel name contains {a.substring!r}")


if __name__ == "__main__":
    main()
