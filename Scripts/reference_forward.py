#!/usr/bin/env python3
"""Independent NumPy reference forward pass for llama-family GGUF models.

    python3 Scripts/reference_forward.py MODEL.gguf --tokens 1,2,3,4 --out logits.f32 [--positions 0,1,2,3] [--json]
        [--router-margins margins.f32]

Runs ONE causal sequence (token i attends to tokens 0..i) and writes the logits as little-endian float32,
shape [n_tokens, vocab], row-major. `--positions` only changes the RoPE positions (default 0..n-1).
`--json` prints {"n_tokens": .., "vocab": ..} to stdout.

Needs numpy and the PyPI package `gguf` (weights are dequantized with gguf.quants.dequantize, so nothing
here shares code with Peregrine). Activations are float32; RoPE angles are computed in float64.

Supported `general.architecture` values:
  llama, mistral  RMSNorm, RoPE on adjacent pairs (x[2i], x[2i+1]) ("normal" mode in llama.cpp; the GGUF
                  converter already permuted the Q/K rows for it), GQA, SwiGLU MLP.
  qwen2           as llama, but NeoX RoPE (pairs x[i], x[i + rope_dim/2]) and Q/K/V biases.
  qwen3           NeoX RoPE, no biases, per-head RMSNorm of q and k (attn_q_norm / attn_k_norm) before RoPE.
  gemma3          as qwen3, plus: embeddings scaled by sqrt(d); RMSNorm of the attention and MLP outputs
                  (post_attention_norm / post_ffw_norm) before each residual add; GeGLU with tanh GELU;
                  sliding-window attention (key p0 visible from query p1 when p1 - p0 < window) on every
                  layer but each sixth (or as `attention.sliding_window_pattern` says), with RoPE base
                  `rope.freq_base_swa` (default 10000) there and `rope.freq_base` on the global layers;
                  optional final logit soft-capping.
  qwen2moe        qwen2's attention; routed experts (below) with the top-k probabilities used as they are, plus a
                  shared expert (ffn_{gate,up,down}_shexp) scaled by sigmoid(ffn_gate_inp_shexp . x).
  qwen3moe        qwen3's attention; routed experts with the top-k probabilities renormalized to sum to 1.
  llama + `llama.expert_count` (Mixtral): routed experts of feed_forward_length, top-k renormalized.
Routed experts (`{arch}.expert_count` E, `expert_used_count` k): p = softmax(x @ ffn_gate_inp.T); the k most
probable experts e each compute down_e(silu(gate_e x) * up_e x) from the 3-D ffn_{gate,up,down}_exps tensors;
the outputs are summed weighted by p_e (renormalized over the k where stated, times `expert_weights_scale` if set).
Not handled: llama-3 `rope_freqs.weight` frequency factors.

GGUF shapes: the reader reports `ne`, ne[0] = row length = input features. gguf.quants.dequantize returns
the tensor as (ne[1], ne[0]) = (out_features, in_features), so a projection is x @ W.T.
"""
import argparse
import json
import sys

import numpy as np
from gguf import GGUFReader, quants

ARCHS = {
    #          neox rope, qkv bias, qk norm
    "llama":   (False, False, False),
    "mistral": (False, False, False),
    "qwen2":   (True, True, False),
    "qwen3":   (True, False, True),
    "gemma3":  (True, False, True),
    "qwen2moe": (True, True, False),
    "qwen3moe": (True, False, True),
}


class Model:
    def __init__(self, path: str):
        self.reader = GGUFReader(path)
        self.tensors = {t.name: t for t in self.reader.tensors}
        self._cache: dict[str, np.ndarray] = {}
        arch = self.meta("general.architecture")
        if arch not in ARCHS:
            raise SystemExit(f"unsupported architecture {arch!r}")
        self.arch = arch
        self.neox, self.qkv_bias, self.qk_norm = ARCHS[arch]
        a = arch + "."
        self.d = int(self.meta(a + "embedding_length"))
        self.n_layer = int(self.meta(a + "block_count"))
        self.n_head = int(self.meta(a + "attention.head_count"))
        self.n_kv = int(self.meta(a + "attention.head_count_kv", self.n_head))
        self.head_dim = int(self.meta(a + "attention.key_length", self.d // self.n_head))
        self.eps = float(self.meta(a + "attention.layer_norm_rms_epsilon", 1e-5))
        self.rope_base = float(self.meta(a + "rope.freq_base", 10000.0))
        self.rope_dim = int(self.meta(a + "rope.dimension_count", self.head_dim))
        self.rope_scale = 1.0
        if self.meta(a + "rope.scaling.type", "none") == "linear":
            self.rope_scale = float(self.meta(a + "rope.scaling.factor", 1.0))
        if "rope_freqs.weight" in self.tensors:
            print("warning: rope_freqs.weight present but ignored", file=sys.stderr)
        self.out_name = "output.weight" if "output.weight" in self.tensors else "token_embd.weight"
        self.gemma = arch == "gemma3"
        self.window = [0] * self.n_layer
        self.rope_bases = [self.rope_base] * self.n_layer
        self.softcap = 0.0
        if self.gemma:
            self.eps = float(self.meta(a + "attention.layer_norm_rms_epsilon", 1e-6))
            self.rope_base = float(self.meta(a + "rope.freq_base", 1e6))
            swa_base = float(self.meta(a + "rope.freq_base_swa", 10000.0))
            self.softcap = float(self.meta(a + "final_logit_softcapping", 0.0))
            w = int(self.meta(a + "attention.sliding_window", 0))
            pattern = self.reader.fields.get(a + "attention.sliding_window_pattern")
            if pattern is None:
                sliding = [(i + 1) % 6 != 0 for i in range(self.n_layer)]
            else:
                c = pattern.contents()
                sliding = [bool(v) for v in c] if isinstance(c, list) else [(i + 1) % int(c) != 0 for i in range(self.n_layer)]
            self.window = [w if (w > 0 and sliding[i]) else 0 for i in range(self.n_layer)]
            self.rope_bases = [swa_base if self.window[i] else self.rope_base for i in range(self.n_layer)]
        self.vocab = int(self.tensors["token_embd.weight"].shape[1])
        self.n_expert = int(self.meta(a + "expert_count", 0))
        if self.n_expert:
            self.n_used = int(self.meta(a + "expert_used_count"))
            self.norm_topk = bool(self.meta(a + "expert_weights_norm", arch != "qwen2moe"))
            self.expert_scale = float(self.meta(a + "expert_weights_scale", 0.0)) or 1.0

    def meta(self, key, default=None):
        f = self.reader.fields.get(key)
        if f is None:
            if default is None:
                raise KeyError(key)
            return default
        return f.contents()

    def w(self, name: str) -> np.ndarray:
        """Dequantized float32 tensor, shape (ne[n-1], ..., ne[0]); cached."""
        if name not in self._cache:
            t = self.tensors[name]
            arr = quants.dequantize(t.data, t.tensor_type)
            shape = tuple(int(n) for n in reversed(t.shape))
            self._cache[name] = np.ascontiguousarray(arr, dtype=np.float32).reshape(shape)
        return self._cache[name]

    def has(self, name: str) -> bool:
        return name in self.tensors

    # ---------------------------------------------------------------- building blocks

    def rmsnorm(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        ms = np.mean(x.astype(np.float64) ** 2, axis=-1, keepdims=True)
        return (x / np.sqrt(ms + self.eps)).astype(np.float32) * weight

    def rope(self, x: np.ndarray, pos: np.ndarray, base: float, scale: float) -> np.ndarray:
        """x: (n_tokens, heads, head_dim); rotates the first rope_dim dims of each head."""
        half = self.rope_dim // 2
        inv_freq = base ** (-2.0 * np.arange(half) / self.rope_dim)                    # (half,)
        ang = (pos.astype(np.float64) / scale)[:, None] * inv_freq[None, :]            # (n, half)
        cos = np.cos(ang)[:, None, :].astype(np.float32)
        sin = np.sin(ang)[:, None, :].astype(np.float32)
        x = x.copy()
        r = x[..., :self.rope_dim]
        if self.neox:
            a, b = r[..., :half].copy(), r[..., half:].copy()
            r[..., :half] = a * cos - b * sin
            r[..., half:] = a * sin + b * cos
        else:
            a, b = r[..., 0::2].copy(), r[..., 1::2].copy()
            r[..., 0::2] = a * cos - b * sin
            r[..., 1::2] = a * sin + b * cos
        return x

    def linear(self, x: np.ndarray, name: str, bias: str | None = None) -> np.ndarray:
        y = x @ self.w(name).T
        if bias is not None:
            y = y + self.w(bias)
        return y

    # ---------------------------------------------------------------- forward

    def experts(self, h: np.ndarray, p: str) -> np.ndarray:
        """The routed experts' weighted sum (plus the shared expert, if any) for each row of h."""
        logits = (h @ self.w(p + "ffn_gate_inp.weight").T).astype(np.float64)
        probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        top = np.argsort(-probs, axis=-1, kind="stable")[:, :self.n_used]
        weights = np.take_along_axis(probs, top, axis=-1)
        ranked = -np.sort(-probs, axis=-1)
        if self.n_used < self.n_expert:
            self.router_margin = np.minimum(self.router_margin, ranked[:, self.n_used - 1] - ranked[:, self.n_used])
        if self.norm_topk:
            weights /= weights.sum(axis=-1, keepdims=True)
        weights *= self.expert_scale
        gate, up, down = (self.w(p + f"ffn_{m}_exps.weight") for m in ("gate", "up", "down"))  # (E, out, in)
        out = np.zeros_like(h)
        for t in range(h.shape[0]):
            for j, e in enumerate(top[t]):
                g, u = gate[e] @ h[t], up[e] @ h[t]
                out[t] += np.float32(weights[t, j]) * (down[e] @ (g / (1.0 + np.exp(-g)) * u))
        if self.has(p + "ffn_gate_inp_shexp.weight"):
            g, u = self.linear(h, p + "ffn_gate_shexp.weight"), self.linear(h, p + "ffn_up_shexp.weight")
            shared = self.linear((g / (1.0 + np.exp(-g)) * u).astype(np.float32), p + "ffn_down_shexp.weight")
            gate_logit = h @ self.w(p + "ffn_gate_inp_shexp.weight").reshape(-1)
            out += shared / (1.0 + np.exp(-gate_logit))[:, None]
        return out.astype(np.float32)

    def forward(self, tokens, positions=None) -> np.ndarray:
        tokens = np.asarray(tokens, dtype=np.int64)
        n = len(tokens)
        pos = np.arange(n) if positions is None else np.asarray(positions, dtype=np.int64)
        assert len(pos) == n
        hd, nh, nkv = self.head_dim, self.n_head, self.n_kv
        group = nh // nkv
        scale = np.float32(1.0 / np.sqrt(hd))
        causal = np.triu(np.full((n, n), -np.inf, dtype=np.float32), k=1)  # causal, by sequence order

        self.router_margin = np.full(n, np.inf)                       # per token: min over layers of p_k - p_(k+1)
        x = self.w("token_embd.weight")[tokens]                        # (n, d)
        if self.gemma:
            x = x * np.float32(np.sqrt(self.d))
        for L in range(self.n_layer):
            mask = causal.copy()
            if self.window[L]:
                mask[(pos[:, None] - pos[None, :]) >= self.window[L]] = -np.inf
            p = f"blk.{L}."
            h = self.rmsnorm(x, self.w(p + "attn_norm.weight"))
            bias = (lambda s: p + s + ".bias") if self.qkv_bias else (lambda s: None)
            q = self.linear(h, p + "attn_q.weight", bias("attn_q")).reshape(n, nh, hd)
            k = self.linear(h, p + "attn_k.weight", bias("attn_k")).reshape(n, nkv, hd)
            v = self.linear(h, p + "attn_v.weight", bias("attn_v")).reshape(n, nkv, hd)
            if self.qk_norm:
                q = self.rmsnorm(q, self.w(p + "attn_q_norm.weight"))
                k = self.rmsnorm(k, self.w(p + "attn_k_norm.weight"))
            scale_l = self.rope_scale if not self.window[L] else 1.0
            q, k = self.rope(q, pos, self.rope_bases[L], scale_l), self.rope(k, pos, self.rope_bases[L], scale_l)

            k = np.repeat(k, group, axis=1)                             # GQA: q head j uses kv head j // group
            v = np.repeat(v, group, axis=1)
            s = np.einsum("qhd,khd->hqk", q, k) * scale + mask          # (heads, n, n)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            o = np.einsum("hqk,khd->qhd", s, v).reshape(n, nh * hd)
            a = self.linear(o, p + "attn_output.weight")
            if self.gemma:
                a = self.rmsnorm(a, self.w(p + "post_attention_norm.weight"))
            x = x + a

            h = self.rmsnorm(x, self.w(p + "ffn_norm.weight"))
            if self.n_expert:
                x = x + self.experts(h, p)
                continue
            g = self.linear(h, p + "ffn_gate.weight")
            u = self.linear(h, p + "ffn_up.weight")
            if self.gemma:
                act = 0.5 * g * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (g + 0.044715 * g ** 3)))
            else:
                act = g / (1.0 + np.exp(-g))
            f = self.linear((act * u).astype(np.float32), p + "ffn_down.weight")
            if self.gemma:
                f = self.rmsnorm(f, self.w(p + "post_ffw_norm.weight"))
            x = x + f

        x = self.rmsnorm(x, self.w("output_norm.weight"))
        logits = self.linear(x, self.out_name).astype(np.float32)      # (n, vocab)
        if self.softcap > 0:
            logits = (self.softcap * np.tanh(logits / self.softcap)).astype(np.float32)
        return logits


def parse_ints(s: str) -> list[int]:
    return [int(t) for t in s.replace(" ", "").split(",") if t]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--positions", help="comma-separated RoPE positions (default 0..n-1)")
    ap.add_argument("--out", help="output file: float32 LE logits [n_tokens, vocab]")
    ap.add_argument("--json", action="store_true", help='print {"n_tokens":..,"vocab":..}')
    ap.add_argument("--router-margins", help="MoE only: file for float32 LE per token, the smallest gap over the layers "
                    "between the k-th and (k+1)-th router probability (small: routing near a tie)")
    args = ap.parse_args()

    model = Model(args.model)
    tokens = parse_ints(args.tokens)
    positions = parse_ints(args.positions) if args.positions else None
    logits = model.forward(tokens, positions)
    if args.out:
        logits.astype("<f4").tofile(args.out)
    if args.router_margins:
        model.router_margin.astype("<f4").tofile(args.router_margins)
    if args.json:
        print(json.dumps({"n_tokens": logits.shape[0], "vocab": logits.shape[1]}))


if __name__ == "__main__":
    main()
