#!/usr/bin/env python3
"""Check Scripts/reference_forward.py against llama.cpp itself on tiny random mixture-of-experts GGUF files.

    python3 Scripts/moe_llamacpp_check.py                       # write + check qwen3moe, qwen2moe, mixtral (F32, Q8_0)
    python3 Scripts/moe_llamacpp_check.py --archs qwen3moe --types f32 --keep /tmp/moe
    python3 Scripts/moe_llamacpp_check.py --files A.gguf,B.gguf  # check given files instead

For each model, a fixed sequence of token ids is evaluated once by llama.cpp (through llama-cpp-python, CPU, F32
KV cache, no flash attention, logits for every position) and once by the NumPy reference. Printed per position:
max |delta logit|, whether the argmax agrees, the largest difference among the reference's top-5 log-probabilities
(log-softmax) and the reference's router margin (smallest gap over the layers between the k-th and (k+1)-th
router probability; a tiny one means llama.cpp may legitimately pick another expert). A position over the bound
for its weight type (--tol for F32, --tol-quant for Q8_0 and others) is re-run through the reference with one
routing decision flipped (at that token, in each layer in turn, the (k+1)-th most probable expert instead of the
k-th); if that brings it within the bound, the mismatch is a near-tie resolved the other way and is reported but
not counted (unless --strict). Exits 1 when any other position exceeds the bound.

The random models (hidden 64, 4 query heads, 2 KV heads, head dim 16, 2 layers, 8 experts top-2, expert width 64,
context 256, vocab 300, byte-level "gpt2" tokenizer) are:
  qwen3moe  NeoX RoPE, per-head Q/K RMSNorm, top-k weights renormalized;
  qwen2moe  NeoX RoPE, Q/K/V biases, top-k weights as they are, plus a sigmoid-gated shared expert (width 96);
  mixtral   general.architecture "llama" with llama.expert_count: adjacent-pair RoPE, experts of
            feed_forward_length, top-k weights renormalized.

Needs numpy, the PyPI packages `gguf` and `llama-cpp-python` (Scripts/install_llamacpp.sh).
"""
import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_forward  # noqa: E402  (the NumPy reference; shares nothing with llama.cpp)

TOKENS = [3, 72, 101, 108, 257, 32, 119, 111, 299, 100, 33, 180]
ARCHS = ("qwen3moe", "qwen2moe", "mixtral")
SIZES = dict(hidden=64, n_head=4, n_kv=2, head_dim=16, n_layer=2, n_expert=8, n_used=2, ff_exp=64, ff_shexp=96,
             ctx=256, vocab=300)


# ------------------------------------------------------------------------------------------------ writing models

def byte_tokens() -> list[str]:
    """GPT-2's byte -> printable character map, in byte order (the 256 byte-level tokens)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return [chr(table[b]) for b in range(256)]


def tokenizer(vocab: int) -> tuple[list[str], list[int], list[str], int]:
    """(tokens, token types, merges, eos id): 256 byte tokens, merged pairs up to vocab - 1, then EOS."""
    import gguf
    toks = byte_tokens()
    merges = []
    letters = byte_tokens()[ord("a"):ord("z") + 1] + ["Ġ"]
    for a in letters:
        for b in letters:
            if len(toks) >= vocab - 1:
                break
            merges.append(f"{a} {b}")
            toks.append(a + b)
    types = [gguf.TokenType.NORMAL] * len(toks)
    toks.append("<|endoftext|>")
    types.append(gguf.TokenType.CONTROL)
    return toks, [int(t) for t in types], merges, len(toks) - 1


def write_model(path: str, kind: str, qtype: str, seed: int) -> None:
    """A tiny random MoE model of `kind` (see ARCHS) with 2-D/3-D weights stored as `qtype` ("f32" or "q8_0")."""
    import gguf
    s = SIZES
    rng = np.random.default_rng(seed)
    arch = "llama" if kind == "mixtral" else kind
    d, hd, nh, nkv, E = s["hidden"], s["head_dim"], s["n_head"], s["n_kv"], s["n_expert"]
    ff = s["ff_exp"]

    w = gguf.GGUFWriter(path, arch)
    w.add_name(f"tiny-random-{kind}")
    w.add_context_length(s["ctx"])
    w.add_embedding_length(d)
    w.add_block_count(s["n_layer"])
    w.add_feed_forward_length(ff if kind == "mixtral" else 4 * d)   # mixtral: the expert width; else unused
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_dimension_count(hd)
    w.add_rope_freq_base(10000.0 if kind == "mixtral" else 1e6)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_expert_count(E)
    w.add_expert_used_count(s["n_used"])
    if kind != "mixtral":
        w.add_expert_feed_forward_length(ff)
    if kind == "qwen2moe":
        w.add_expert_shared_feed_forward_length(s["ff_shexp"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32 if qtype == "f32" else gguf.LlamaFileType.MOSTLY_Q8_0)

    toks, types, merges, eos = tokenizer(s["vocab"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(toks)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(eos)
    w.add_eos_token_id(eos)
    w.add_add_bos_token(False)

    def mat(*shape) -> np.ndarray:          # numpy shape (..., out, in)
        b = 1.7 / np.sqrt(shape[-1])
        return rng.uniform(-b, b, size=shape).astype(np.float32)

    def norm(n) -> np.ndarray:
        return rng.uniform(0.8, 1.2, size=n).astype(np.float32)

    def put(name: str, a: np.ndarray, quantizable: bool = True) -> None:
        if qtype == "f32" or not quantizable or a.ndim < 2:
            w.add_tensor(name, a)
        else:
            t = gguf.GGMLQuantizationType[qtype.upper()]
            w.add_tensor(name, gguf.quants.quantize(a, t), raw_dtype=t)

    put("token_embd.weight", rng.uniform(-1.0, 1.0, size=(s["vocab"], d)).astype(np.float32))
    for L in range(s["n_layer"]):
        p = f"blk.{L}."
        put(p + "attn_norm.weight", norm(d))
        put(p + "attn_q.weight", mat(nh * hd, d))
        put(p + "attn_k.weight", mat(nkv * hd, d))
        put(p + "attn_v.weight", mat(nkv * hd, d))
        if kind == "qwen2moe":
            put(p + "attn_q.bias", rng.uniform(-0.5, 0.5, nh * hd).astype(np.float32))
            put(p + "attn_k.bias", rng.uniform(-0.5, 0.5, nkv * hd).astype(np.float32))
            put(p + "attn_v.bias", rng.uniform(-0.5, 0.5, nkv * hd).astype(np.float32))
        if kind == "qwen3moe":
            put(p + "attn_q_norm.weight", norm(hd))
            put(p + "attn_k_norm.weight", norm(hd))
        put(p + "attn_output.weight", mat(d, nh * hd))
        put(p + "ffn_norm.weight", norm(d))
        put(p + "ffn_gate_inp.weight", mat(E, d) * 4, quantizable=False)   # router, F32; x4: decisive routing
        put(p + "ffn_gate_exps.weight", mat(E, ff, d))
        put(p + "ffn_up_exps.weight", mat(E, ff, d))
        put(p + "ffn_down_exps.weight", mat(E, d, ff))
        if kind == "qwen2moe":
            put(p + "ffn_gate_inp_shexp.weight", mat(1, d).reshape(d) * 4, quantizable=False)
            put(p + "ffn_gate_shexp.weight", mat(s["ff_shexp"], d))
            put(p + "ffn_up_shexp.weight", mat(s["ff_shexp"], d))
            put(p + "ffn_down_shexp.weight", mat(d, s["ff_shexp"]))
    put("output_norm.weight", norm(d))
    put("output.weight", mat(s["vocab"], d))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ------------------------------------------------------------------------------------------------ evaluating

def llamacpp_logits(path: str, tokens: list[int], threads: int, verbose: bool) -> np.ndarray:
    import llama_cpp
    llm = llama_cpp.Llama(model_path=path, n_ctx=SIZES["ctx"], n_batch=SIZES["ctx"], n_threads=threads,
                          n_threads_batch=threads, logits_all=True, flash_attn=False,
                          type_k=0, type_v=0,          # GGML_TYPE_F32 KV cache (the default is F16)
                          n_gpu_layers=0, verbose=verbose)
    llm.eval(tokens)
    out = np.array(llm.scores[:len(tokens)], dtype=np.float32)
    llm.close()
    return out


class SwappedRouting(reference_forward.Model):
    """The reference with one routing decision changed: at layer `layer`, token `token` uses the (k+1)-th most
    probable expert instead of the k-th (what a near-tie resolved the other way does). Used only to explain a
    mismatch; the comparison itself runs the unmodified reference."""

    def __init__(self, path: str, layer: int, token: int):
        super().__init__(path)
        self.swap = (f"blk.{layer}.", token)

    def experts(self, h: np.ndarray, p: str) -> np.ndarray:
        out = super().experts(h, p)
        if p != self.swap[0]:
            return out
        t, k = self.swap[1], self.n_used
        x = h[t].astype(np.float32)
        logits = (x @ self.w(p + "ffn_gate_inp.weight").T).astype(np.float64)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        order = np.argsort(-probs, kind="stable")

        def routed(sel) -> np.ndarray:
            wts = probs[sel] / (probs[sel].sum() if self.norm_topk else 1.0) * self.expert_scale
            gate, up, down = (self.w(p + f"ffn_{m}_exps.weight") for m in ("gate", "up", "down"))
            y = np.zeros_like(x)
            for wt, e in zip(wts, sel):
                g, u = gate[e] @ x, up[e] @ x
                y += np.float32(wt) * (down[e] @ (g / (1.0 + np.exp(-g)) * u))
            return y

        out[t] += routed(np.r_[order[:k - 1], order[k]]) - routed(order[:k])
        return out


def explain_by_flip(path: str, toks: list[int], pos: int, c: np.ndarray, n_layer: int) -> tuple[int, float]:
    """(layer, max |dlogit| at `pos`) of the best single expert swap at token `pos`; with the swap applied the
    reference's logits are compared with llama.cpp's again."""
    best = (-1, np.inf)
    for L in range(n_layer):
        r = SwappedRouting(path, L, pos).forward(toks)
        d = float(np.abs(r[pos] - c[pos]).max())
        if d < best[1]:
            best = (L, d)
    return best


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def weight_type(path: str) -> str:
    """The type of the file's first expert tensor ("F32", "Q8_0", ...)."""
    from gguf import GGUFReader
    r = GGUFReader(path)
    for t in r.tensors:
        if "ffn_gate_exps" in t.name or "ffn_down_exps" in t.name:
            return t.tensor_type.name
    return r.tensors[0].tensor_type.name


def compare(path: str, tokens: list[int], args) -> tuple[float, bool]:
    """Prints the table for one model; returns (max |dlogit|, the same without positions whose mismatch a single
    routing flip explains, how many those are, within the bound)."""
    ref = reference_forward.Model(path)
    vocab = ref.vocab
    toks = [t % vocab for t in tokens]
    r = ref.forward(toks)
    margin = getattr(ref, "router_margin", np.full(len(toks), np.inf))
    c = llamacpp_logits(path, toks, args.threads, args.verbose)
    assert r.shape == c.shape, (r.shape, c.shape)

    lr, lc = log_softmax(r), log_softmax(c)
    wtype = weight_type(path)
    tol = args.tol if wtype == "F32" else args.tol_quant
    print(f"\n{os.path.basename(path)}  arch={ref.arch} experts={ref.n_expert} top-{getattr(ref, 'n_used', 0)} "
          f"weights={wtype} vocab={vocab} bound={tol:g}")
    print(f"{'pos':>3} {'token':>5} {'max|dlogit|':>12} {'argmax ref/cpp':>15} {'top5 max|dlogp|':>16} "
          f"{'top5 same':>9} {'router margin':>14}")
    worst_top5, agree = 0.0, 0
    for i, t in enumerate(toks):
        d = float(np.abs(r[i] - c[i]).max())
        top_r = np.argsort(-lr[i], kind="stable")[:5]
        top_c = np.argsort(-lc[i], kind="stable")[:5]
        d5 = float(np.abs(lr[i, top_r] - lc[i, top_r]).max())
        worst_top5 = max(worst_top5, d5)
        same = int(top_r[0]) == int(top_c[0])
        agree += same
        m = f"{margin[i]:.3g}" if np.isfinite(margin[i]) else "-"
        print(f"{i:>3} {t:>5} {d:>12.3g} {int(top_r[0]):>7}/{int(top_c[0]):<7} {d5:>16.3g} "
              f"{str(set(top_r.tolist()) == set(top_c.tolist())):>9} {m:>14}")
    per_pos = np.abs(r - c).max(axis=-1)
    dmax = float(per_pos.max())
    explained = []
    for i in np.flatnonzero(per_pos > tol):
        layer, d = explain_by_flip(path, toks, int(i), c, ref.n_layer) if ref.n_expert else (-1, np.inf)
        flip = d <= tol
        print(f"  position {i}: |dlogit| {per_pos[i]:.3g}, router margin {margin[i]:.3g}; with the reference's k-th "
              f"and (k+1)-th expert swapped at layer {layer}: {d:.3g} -> "
              + ("explained by a routing near-tie" if flip else "NOT explained by routing"))
        if flip:
            explained.append(int(i))
    rest = np.delete(per_pos, explained)
    dcheck = float(rest.max()) if rest.size else 0.0
    ok = dcheck <= tol and not (explained and args.strict)
    print(f"max |dlogit| {dmax:.3g}" + (f" ({dcheck:.3g} without the {len(explained)} flipped-routing position(s))"
                                       if explained else "")
          + f"   argmax agree {agree}/{len(toks)}   top-5 logprob max |diff| {worst_top5:.3g}   "
          f"min router margin {float(np.min(margin)):.3g}   {'OK' if ok else 'FAIL'}")
    return dmax, dcheck, len(explained), ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", help="comma-separated GGUF files to check instead of writing random ones")
    ap.add_argument("--archs", default=",".join(ARCHS), help=f"random models to write (default {','.join(ARCHS)})")
    ap.add_argument("--types", default="f32,q8_0", help="weight types of the random models (f32, q8_0)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--keep", metavar="DIR", help="write the random models here and keep them (default: a temp dir)")
    ap.add_argument("--tokens", help="comma-separated token ids (default: a fixed list of 12, taken modulo vocab)")
    ap.add_argument("--tol", type=float, default=1e-3, help="bound on max |dlogit| for F32 weights (default 1e-3)")
    ap.add_argument("--tol-quant", type=float, default=0.15,
                    help="bound for quantized weights, where llama.cpp also quantizes activations (default 0.15)")
    ap.add_argument("--strict", action="store_true",
                    help="fail also when a mismatch is explained by a routing near-tie resolved the other way")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verbose", action="store_true", help="let llama.cpp log (e.g. to see why a load fails)")
    args = ap.parse_args()
    tokens = reference_forward.parse_ints(args.tokens) if args.tokens else TOKENS

    tmp = None
    if args.files:
        paths = [p for p in args.files.split(",") if p]
    else:
        out_dir = args.keep or (tmp := tempfile.TemporaryDirectory(prefix="moe_check_")).name
        os.makedirs(out_dir, exist_ok=True)
        paths = []
        for kind in [a for a in args.archs.split(",") if a]:
            if kind not in ARCHS:
                sys.exit(f"unknown arch {kind!r} (choose from {', '.join(ARCHS)})")
            for qtype in [q for q in args.types.split(",") if q]:
                path = os.path.join(out_dir, f"tiny-{kind}-{qtype}.gguf")
                write_model(path, kind, qtype, args.seed + ARCHS.index(kind))
                paths.append(path)

    results = [(p, *compare(p, tokens, args)) for p in paths]
    print("\nsummary")
    for p, dmax, dcheck, n_flip, ok in results:
        note = f" ({dcheck:.3g} without {n_flip} routing flip(s))" if n_flip else ""
        print(f"  {os.path.basename(p):<28} max |dlogit| {dmax:.3g}{note}  {'OK' if ok else 'FAIL'}")
    if tmp is not None:
        tmp.cleanup()
    sys.exit(0 if all(r[-1] for r in results) else 1)


if __name__ == "__main__":
    main()
