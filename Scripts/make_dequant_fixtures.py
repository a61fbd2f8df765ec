#!/usr/bin/env python3
"""Generate dequantization test fixtures for every GGML type Peregrine reads.

Regenerate (deterministic; needs numpy and the PyPI package `gguf`, tested with 0.19.0):

    python3 Scripts/make_dequant_fixtures.py            # writes Tests/GGUFTests/Fixtures/dequant/
    python3 Scripts/make_dequant_fixtures.py --out DIR  # somewhere else

For each type the script writes, with `name` the lowercase type name (f32, f16, bf16, q4_0, ..., q6_k):

    <name>.bin  raw tensor bytes exactly as stored in a GGUF file (blocks back to back)
    <name>.f32  the expected dequantized values, little-endian float32, ELEMENTS of them
    manifest.json  [{"type", "ggml_type_id", "elements", "bin", "f32", "quantized_by"}, ...]

Where `gguf.quants.quantize` supports the type (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) the .bin is
the quantization of seeded random data (normal noise times a different scale per 32-element group; the
first group is all zeros to exercise d == 0). The K-quants (Q2_K..Q6_K) have no quantizer in the package,
so their .bin is seeded random bytes with the f16 super-block scales (`d`, `dmin`) overwritten by finite
values of magnitude below 0.05 (random sign). The expected .f32 always comes from
`gguf.quants.dequantize` on the .bin bytes, an implementation independent of Peregrine's Swift code.
F16 and BF16 also carry special values: +-0, subnormals, the largest finite values and +-inf (no NaN).
"""
import argparse
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGML_QUANT_SIZES
from gguf import quants

ELEMENTS = 512
SEED = 20240611

TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
         T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]

# Byte offsets of the f16 super-block scale fields inside one K-quant block (see ggml-common.h).
K_SCALE_OFFSETS = {
    T.Q2_K: [80, 82],   # scales[16] qs[64] d dmin            (84 bytes)
    T.Q3_K: [108],      # hmask[32] qs[64] scales[12] d       (110 bytes)
    T.Q4_K: [0, 2],     # d dmin scales[12] qs[128]           (144 bytes)
    T.Q5_K: [0, 2],     # d dmin scales[12] qh[32] qs[128]    (176 bytes)
    T.Q6_K: [208],      # ql[128] qh[64] scales[16] d         (210 bytes)
}


def source_data(rng: np.random.Generator) -> np.ndarray:
    groups = ELEMENTS // 32
    scale = 10.0 ** rng.uniform(-3.0, 1.0, size=(groups, 1))     # 0.001 .. 10 per group
    offset = rng.uniform(-0.5, 0.5, size=(groups, 1)) * scale     # some groups not centred on 0
    data = rng.standard_normal((groups, 32)) * scale + offset
    data[0] = 0.0                                                 # an all-zero block
    return data.reshape(-1).astype(np.float32)


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 0.5, -2.0], dtype=np.float32)


def float_bytes(qtype: T, data: np.ndarray) -> np.ndarray:
    data = data.copy()
    if qtype == T.F16:
        special = np.concatenate([SPECIAL, np.array([
            2.0 ** -24, -(2.0 ** -24),          # smallest subnormal
            2.0 ** -14 - 2.0 ** -24,            # largest subnormal
            2.0 ** -14,                         # smallest normal
            65504.0, -65504.0,                  # largest finite
            1e-6, 3e-5], dtype=np.float32)])
    elif qtype == T.BF16:
        special = np.concatenate([SPECIAL, np.array([
            np.float32(2.0 ** -133), -np.float32(2.0 ** -133),   # bf16 subnormals
            np.float32(2.0 ** -126),                             # smallest normal
            np.float32(3.3895314e38), -np.float32(3.3895314e38), # largest finite bf16
            1e-30, 123456.0, -7.25], dtype=np.float32)])
    else:  # F32
        special = np.concatenate([SPECIAL, np.array([
            np.float32(1e-45), -np.float32(1e-45),               # f32 subnormals
            np.finfo(np.float32).max, np.finfo(np.float32).tiny,
            1e-30, 123456.0, -7.25, 3.0], dtype=np.float32)])
    data[32:32 + len(special)] = special
    q = quants.quantize(data, qtype)
    return np.ascontiguousarray(q).view(np.uint8).reshape(-1)


def random_k_blocks(rng: np.random.Generator, qtype: T) -> np.ndarray:
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    n_blocks = ELEMENTS // block_size
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in K_SCALE_OFFSETS[qtype]:
        mag = rng.uniform(0.001, 0.05, size=n_blocks)
        sign = rng.choice([-1.0, 1.0], size=n_blocks)
        raw[:, off:off + 2] = (mag * sign).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(-1)


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "Tests", "GGUFTests", "Fixtures", "dequant")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=default_out)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    manifest = []
    for i, qtype in enumerate(TYPES):
        rng = np.random.default_rng([SEED, int(qtype)])   # per-type stream: adding a type changes nothing else
        data = source_data(rng)
        if qtype in (T.F32, T.F16, T.BF16):
            raw, how = float_bytes(qtype, data), "gguf.quants.quantize"
        else:
            try:
                raw, how = np.asarray(quants.quantize(data, qtype)).view(np.uint8).reshape(-1), "gguf.quants.quantize"
            except NotImplementedError:
                raw, how = random_k_blocks(rng, qtype), "random bytes"
        block_size, type_size = GGML_QUANT_SIZES[qtype]
        assert raw.dtype == np.uint8 and raw.size == ELEMENTS // block_size * type_size, (qtype.name, raw.size)

        deq = np.asarray(quants.dequantize(raw.copy(), qtype), dtype=np.float32).reshape(-1)
        assert deq.size == ELEMENTS, (qtype.name, deq.size)
        assert not np.isnan(deq).any(), qtype.name
        if qtype not in (T.F32, T.F16, T.BF16):
            assert np.isfinite(deq).all(), qtype.name

        name = qtype.name.lower()
        with open(os.path.join(args.out, name + ".bin"), "wb") as f:
            f.write(raw.tobytes())
        with open(os.path.join(args.out, name + ".f32"), "wb") as f:
            f.write(deq.astype("<f4").tobytes())
        manifest.append({"type": qtype.name, "ggml_type_id": int(qtype), "elements": ELEMENTS,
                         "bin": name + ".bin", "f32": name + ".f32", "quantized_by": how})
        print(f"{qtype.name:5s} id={int(qtype):2d} {raw.size:5d} bytes  {how:22s} "
              f"max|x|={np.max(np.abs(deq[np.isfinite(deq)])):.4g}")

    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
