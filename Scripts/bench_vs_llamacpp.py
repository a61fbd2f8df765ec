#!/usr/bin/env python3
"""Peregrine against llama.cpp (through llama-cpp-python) on the same GGUF and thread count.

Three figures, each as llama.cpp's own tools define it:

  pp512   llama-bench: a 512-token prompt (random ids, fixed seed; BOS first when the model
          adds one) decoded as ONE batch (n_batch = n_ubatch = 512) into an empty context,
          logits for the last token only; tokens/s = 512 / time.
  tg128   llama-bench: from an empty context, 128 sequential single-token decodes of random
          tokens (no sampling); tokens/s = 128 / time.
  S_TG    batched-bench (pl=16, pp=128, tg=128, not pp-shared): 16 sequences with distinct
          seq ids each get a 128-token prompt (prefilled, not timed), then 128 steps that each
          decode one token per sequence in one batch of 16; S_TG = 16*128 / decode time.

The Peregrine figures come from its CLI (same model, same --threads):
  peregrine bench latency --json --threads N -p 512 -n 128 --repetitions 1   -> pp512, tg128
  peregrine bench throughput --json --threads N --num-prompts 16 --input-len 128 --output-len 128
                                      -> decode_tokens_per_s (else generation_tokens_per_s)

Every figure is measured --repetitions times after --warmup discarded rounds, llama.cpp and
Peregrine interleaved round by round (A, B, A, B ...) so that both see the same machine noise;
the median is reported, with the ratio Peregrine / llama.cpp.

llama.cpp runs in this process through llama_cpp's low-level API (llama_decode with a
llama_batch). It is not installed by this script:  Scripts/install_llamacpp.sh

    Scripts/bench_vs_llamacpp.py                      # default model, 2 threads, 3 repetitions
    Scripts/bench_vs_llamacpp.py --threads 2 --repetitions 5 --json
    Scripts/bench_vs_llamacpp.py --no-peregrine       # llama.cpp half only
    Scripts/bench_vs_llamacpp.py --model ~/.cache/peregrine/models/gemma3-270m/gemma-3-270m-q4_k_m.gguf
                                                      # any GGUF file (here: `peregrine pull gemma3-270m`)
"""
import argparse
import ctypes
import json
import os
import random
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_model():
    home = os.environ.get("PEREGRINE_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "peregrine")
    return os.path.join(home, "models", "smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf")


def import_llama_cpp():
    try:
        import llama_cpp  # noqa: F401
    except ImportError as error:
        sys.exit(
            f"llama_cpp is not importable ({error}).\n"
            "Install llama-cpp-python (built from source for this CPU, wheel cached under\n"
            "~/.cache/peregrine/bench/wheels so later installs take seconds) with:\n\n"
            f"    {os.path.join(REPO, 'Scripts', 'install_llamacpp.sh')}\n\n"
            "or run with --no-peregrine/--no-llamacpp to measure one side only."
        )
    return llama_cpp


# ----------------------------------------------------------------------------------------------
# llama.cpp side


class LlamaCppBench:
    """One model, one context per test (as llama-bench makes one per test), reused across
    repetitions with the KV cache (memory) cleared before each."""

    def __init__(self, llama_cpp, model_path, threads, n_prompt, n_gen, n_seqs, seq_in, seq_out, seed):
        self.L = llama_cpp
        L = llama_cpp
        self.threads = threads
        self.n_prompt, self.n_gen = n_prompt, n_gen
        self.n_seqs, self.seq_in, self.seq_out = n_seqs, seq_in, seq_out
        self.rng = random.Random(seed)

        L.llama_backend_init()
        self._silence_logs()
        mparams = L.llama_model_default_params()
        if hasattr(mparams, "n_gpu_layers"):
            mparams.n_gpu_layers = 0
        self.model = L.llama_model_load_from_file(model_path.encode(), mparams)
        if not self.model:
            sys.exit(f"llama.cpp could not load {model_path}")
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.bos = L.llama_vocab_bos(self.vocab) if L.llama_vocab_get_add_bos(self.vocab) else None

        # llama-bench: n_ctx = n_prompt + n_gen of the test (pp512: 512, tg128: 128),
        # n_batch 2048 / n_ubatch 512 (the pp test uses n_batch = n_ubatch = 512 here).
        self.pp_ctx = self._context(n_ctx=n_prompt, n_batch=n_prompt, n_ubatch=n_prompt) if n_prompt else None
        self.tg_ctx = self._context(n_ctx=n_gen, n_batch=512, n_ubatch=512) if n_gen else None
        # batched-bench: n_seq_max = pl, KV not unified (its default), n_ctx >= pl * (pp + tg),
        # n_batch 2048 / n_ubatch 512 (its defaults).
        self.bb_ctx = None
        if n_seqs:
            self.bb_ctx = self._context(n_ctx=n_seqs * (seq_in + seq_out), n_batch=2048, n_ubatch=512,
                                        n_seq_max=n_seqs, kv_unified=False)
        self.batch = L.llama_batch_init(max(n_prompt, n_seqs * seq_in, n_seqs, 1), 0, 1)

    def _silence_logs(self):
        L = self.L
        if os.environ.get("BENCH_LLAMA_VERBOSE"):
            return
        try:
            callback = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)(lambda *a: None)
            self._log_callback = callback  # keep alive
            L.llama_log_set(callback, ctypes.c_void_p())
        except Exception:  # noqa: BLE001 - logging is cosmetic
            pass

    def _context(self, n_ctx, n_batch, n_ubatch, n_seq_max=1, kv_unified=None):
        L = self.L
        p = L.llama_context_default_params()
        fields = {name for name, _ in type(p)._fields_}
        p.n_ctx, p.n_batch, p.n_ubatch = n_ctx, n_batch, n_ubatch
        p.n_threads = p.n_threads_batch = self.threads
        if "n_seq_max" in fields:
            p.n_seq_max = n_seq_max
        if kv_unified is not None and "kv_unified" in fields:
            p.kv_unified = kv_unified
        if "no_perf" in fields:
            p.no_perf = True
        # flash_attn_type stays at the library default (AUTO), as llama-bench's default.
        ctx = L.llama_init_from_model(self.model, p)
        if not ctx:
            sys.exit(f"llama.cpp could not create a context (n_ctx={n_ctx}, n_seq_max={n_seq_max})")
        return ctx

    def _clear(self, ctx):
        L = self.L
        if hasattr(L, "llama_get_memory"):
            L.llama_memory_clear(L.llama_get_memory(ctx), False)
        else:  # older llama-cpp-python
            L.llama_kv_self_clear(ctx)

    def _rand(self):
        return self.rng.randrange(self.n_vocab)

    def _fill(self, entries):
        """entries: list of (token, pos, seq_id, logits)."""
        b = self.batch
        for i, (tok, pos, seq, out) in enumerate(entries):
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = 1 if out else 0
        b.n_tokens = len(entries)

    def _decode(self, ctx, sync=True):
        rc = self.L.llama_decode(ctx, self.batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        if sync:
            self.L.llama_synchronize(ctx)

    # llama-bench test_prompt: one batch of n_prompt tokens, output for the last only.
    def pp(self, n=None):
        n = n or self.n_prompt
        ctx = self.pp_ctx
        self._clear(ctx)
        toks = [self._rand() for _ in range(n)]
        if self.bos is not None:
            toks[0] = self.bos
        self._fill([(t, i, 0, i == n - 1) for i, t in enumerate(toks)])
        start = time.perf_counter()
        self._decode(ctx)
        return n / (time.perf_counter() - start)

    # llama-bench test_gen: n single-token decodes, output every step, next token random.
    def tg(self, n=None):
        n = n or self.n_gen
        ctx = self.tg_ctx
        self._clear(ctx)
        tok = self.bos if self.bos is not None else self._rand()
        nxt = [self._rand() for _ in range(n)]
        start = time.perf_counter()
        for i in range(n):
            self._fill([(tok, i, 0, True)])
            self._decode(ctx)
            tok = nxt[i]
        return n / (time.perf_counter() - start)

    # batched-bench, is_pp_shared = 0, is_tg_separate = 0: returns (S_PP, S_TG).
    def batched(self, steps=None):
        steps = self.seq_out if steps is None else steps
        ctx, S, P = self.bb_ctx, self.n_seqs, self.seq_in
        self._clear(ctx)
        self._fill([(self._rand(), i, s, i == P - 1) for s in range(S) for i in range(P)])
        start = time.perf_counter()
        self._decode(ctx)  # one llama_decode of S*P tokens, split into n_ubatch=512 ubatches inside
        t_pp = time.perf_counter() - start
        plan = [[self._rand() for _ in range(S)] for _ in range(steps)]
        start = time.perf_counter()
        for i in range(steps):
            self._fill([(plan[i][s], P + i, s, True) for s in range(S)])
            self._decode(ctx)
        t_tg = time.perf_counter() - start
        return S * P / t_pp, (S * steps / t_tg if steps else 0.0)

    def warmup(self):
        # llama-bench: a full pp run and a 1-token tg run; batched-bench: 16 tokens of seq 0.
        if self.pp_ctx:
            self.pp()
        if self.tg_ctx:
            self.tg(1)
        if self.bb_ctx:
            self._clear(self.bb_ctx)
            self._fill([(self._rand(), i, 0, False) for i in range(16)])
            self._decode(self.bb_ctx)


# ----------------------------------------------------------------------------------------------
# Peregrine side


def wait_for_binary(path, timeout):
    """The binary may be missing or being relinked by a concurrent `swift build`: wait until it
    exists and has not changed for a few seconds."""
    deadline = time.time() + timeout
    announced = False
    while True:
        try:
            st = os.stat(path)
            if os.access(path, os.X_OK) and time.time() - st.st_mtime > 5:
                return
        except FileNotFoundError:
            pass
        if time.time() > deadline:
            sys.exit(f"{path} missing or still changing after {timeout:.0f} s; build it with `make build` (swift build -c release -Xswiftc -target-cpu -Xswiftc haswell --product peregrine)")
        if not announced:
            print(f"waiting for {path} (missing or being rebuilt)...", file=sys.stderr)
            announced = True
        time.sleep(5)


def run_peregrine(binary, args, wait_s, attempts=3):
    """Runs `peregrine <args>` and returns the JSON objects it printed (non-JSON lines ignored)."""
    last = ""
    for attempt in range(attempts):
        wait_for_binary(binary, wait_s)
        try:
            proc = subprocess.run([binary] + args, capture_output=True, text=True)
        except OSError as error:  # e.g. text file busy / exec format error while being relinked
            last = str(error)
            time.sleep(10)
            continue
        objects = []
        for line in proc.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    objects.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        if proc.returncode == 0 and objects:
            return objects
        last = f"exit {proc.returncode}; stderr tail: {proc.stderr[-800:]}"
        if attempt + 1 < attempts:
            time.sleep(10)
    sys.exit(f"`{binary} {' '.join(args)}` failed: {last}")


class PeregrineBench:
    def __init__(self, binary, model, threads, n_prompt, n_gen, n_seqs, seq_in, seq_out, wait_s):
        self.binary, self.wait_s = binary, wait_s
        self.n_prompt, self.n_gen = n_prompt, n_gen
        common = ["--model", model, "--threads", str(threads), "--json"]
        self.latency_args = ["bench", "latency"] + common + [
            "-p", str(n_prompt), "-n", str(n_gen), "--repetitions", "1"]
        self.throughput_args = ["bench", "throughput"] + common + [
            "--num-prompts", str(n_seqs), "--input-len", str(seq_in), "--output-len", str(seq_out),
            "--max-num-seqs", str(n_seqs)]
        self.decode_key = None

    def latency(self):
        obj = run_peregrine(self.binary, self.latency_args, self.wait_s)[-1]
        out = {}
        for key, n in ((f"pp{self.n_prompt}", self.n_prompt), (f"tg{self.n_gen}", self.n_gen)):
            if n:
                if key not in obj:
                    sys.exit(f"peregrine bench latency printed no {key!r}: {obj}")
                out[key] = float(obj[key])
        return out

    def throughput(self):
        objs = [o for o in run_peregrine(self.binary, self.throughput_args, self.wait_s)
                if "decode_tokens_per_s" in o or "generation_tokens_per_s" in o]
        if not objs:
            sys.exit("peregrine bench throughput printed no generation_tokens_per_s")
        obj = objs[-1]
        self.decode_key = "decode_tokens_per_s" if "decode_tokens_per_s" in obj else "generation_tokens_per_s"
        return float(obj[self.decode_key]), obj


# ----------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=default_model(), help="GGUF file (default: %(default)s)")
    ap.add_argument("--threads", "-t", type=int, default=2)
    ap.add_argument("--repetitions", "-r", type=int, default=3, help="timed rounds; the median is reported")
    ap.add_argument("--warmup", type=int, default=1, help="discarded rounds before the timed ones")
    ap.add_argument("--n-prompt", "-p", type=int, default=512, help="pp test length (0 skips pp)")
    ap.add_argument("--n-gen", "-n", type=int, default=128, help="tg test length (0 skips tg)")
    ap.add_argument("--num-seqs", type=int, default=16, help="sequences of the batched decode test (0 skips it)")
    ap.add_argument("--input-len", type=int, default=128, help="prompt tokens per sequence, batched test")
    ap.add_argument("--output-len", type=int, default=128, help="decode steps, batched test")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peregrine", default=os.path.join(REPO, ".build", "release", "peregrine"),
                    help="peregrine binary (default: %(default)s)")
    ap.add_argument("--wait-binary", type=float, default=1800,
                    help="seconds to wait for a missing / relinking peregrine binary")
    ap.add_argument("--no-peregrine", action="store_true", help="measure llama.cpp only")
    ap.add_argument("--no-llamacpp", action="store_true", help="measure Peregrine only")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args()

    if not os.path.isfile(args.model):
        sys.exit(f"model not found: {args.model}")
    if args.no_peregrine and args.no_llamacpp:
        sys.exit("nothing to measure")

    # Spinning thread pools (ggml's OpenMP barriers, Peregrine's workers) slow down many times
    # over when other processes take the cores: say so rather than print figures that mislead.
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > 0.5 + max(cores - args.threads, 0):
        print(f"warning: 1-minute load average {load:.1f} on {cores} cores before starting; with other "
              "work on the cores both engines' figures are unreliable", file=sys.stderr)

    pp_key, tg_key = f"pp{args.n_prompt}", f"tg{args.n_gen}"
    bb_key = f"S_TG_{args.num_seqs}x{args.input_len}+{args.output_len}"
    metrics = [k for k, on in ((pp_key, args.n_prompt), (tg_key, args.n_gen), (bb_key, args.num_seqs)) if on]

    lc, version = None, None
    if not args.no_llamacpp:
        llama_cpp = import_llama_cpp()
        version = getattr(llama_cpp, "__version__", "?")
        lc = LlamaCppBench(llama_cpp, args.model, args.threads, args.n_prompt, args.n_gen,
                           args.num_seqs, args.input_len, args.output_len, args.seed)
    pg = None
    if not args.no_peregrine:
        pg = PeregrineBench(args.peregrine, args.model, args.threads, args.n_prompt, args.n_gen,
                            args.num_seqs, args.input_len, args.output_len, args.wait_binary)

    runs = {"peregrine": {k: [] for k in metrics}, "llama.cpp": {k: [] for k in metrics}}
    extra = {"llama.cpp_S_PP": [], "peregrine_throughput": []}

    def log(msg):
        if not args.json:
            print(msg, file=sys.stderr, flush=True)

    if lc:
        lc.warmup()
    total = args.warmup + args.repetitions
    for r in range(total):
        timed = r >= args.warmup
        tag = f"round {r - args.warmup + 1}/{args.repetitions}" if timed else f"warm-up {r + 1}/{args.warmup}"
        # single sequence: A then B
        if lc and (args.n_prompt or args.n_gen):
            got = {}
            if args.n_prompt:
                got[pp_key] = lc.pp()
            if args.n_gen:
                got[tg_key] = lc.tg()
            log(f"{tag} llama.cpp  " + "  ".join(f"{k} {v:.1f}" for k, v in got.items()))
            if timed:
                for k, v in got.items():
                    runs["llama.cpp"][k].append(v)
        if pg and (args.n_prompt or args.n_gen):
            got = pg.latency()
            log(f"{tag} peregrine  " + "  ".join(f"{k} {v:.1f}" for k, v in got.items()))
            if timed:
                for k, v in got.items():
                    runs["peregrine"][k].append(v)
        # batched decode: A then B
        if args.num_seqs:
            if lc:
                s_pp, s_tg = lc.batched()
                log(f"{tag} llama.cpp  {bb_key} {s_tg:.1f}  (S_PP {s_pp:.1f})")
                if timed:
                    runs["llama.cpp"][bb_key].append(s_tg)
                    extra["llama.cpp_S_PP"].append(s_pp)
            if pg:
                value, obj = pg.throughput()
                log(f"{tag} peregrine  {bb_key} {value:.1f}  ({pg.decode_key}; run {obj.get('seconds', 0):.1f} s)")
                if timed:
                    runs["peregrine"][bb_key].append(value)
                    extra["peregrine_throughput"].append(obj)

    med = {eng: {k: (statistics.median(v) if v else None) for k, v in m.items()} for eng, m in runs.items()}
    ratio = {k: (med["peregrine"][k] / med["llama.cpp"][k]
                 if med["peregrine"][k] and med["llama.cpp"][k] else None) for k in metrics}

    if args.json:
        print(json.dumps({
            "model": os.path.abspath(args.model),
            "threads": args.threads,
            "repetitions": args.repetitions,
            "warmup": args.warmup,
            "llama_cpp_python_version": version,
            "peregrine_batched_key": pg.decode_key if pg else None,
            "median": med,
            "ratio_peregrine_over_llamacpp": ratio,
            "runs": runs,
            "llamacpp_batched_S_PP_runs": extra["llama.cpp_S_PP"],
            "peregrine_throughput_runs": extra["peregrine_throughput"],
        }))
        return

    def fmt(v, spec):
        return format(v, spec) if v is not None else "-".rjust(int(spec.split(".")[0]))

    print(f"\nmodel {args.model}, {args.threads} threads, median of {args.repetitions} "
          f"(after {args.warmup} warm-up), llama-cpp-python {version or '-'}")
    if pg and args.num_seqs:
        print(f"Peregrine {bb_key}: bench throughput {pg.decode_key}")
    w = max(len(k) for k in metrics) + 2
    print(f"{'metric (tok/s)':<{max(w, 16)}} {'Peregrine':>10} {'llama.cpp':>10} {'ratio':>7}")
    for k in metrics:
        print(f"{k:<{max(w, 16)}} {fmt(med['peregrine'][k], '10.1f')} {fmt(med['llama.cpp'][k], '10.1f')}"
              f" {fmt(ratio[k], '7.2f')}")
    print("ratio = Peregrine / llama.cpp (above 1: Peregrine faster)")


if __name__ == "__main__":
    main()
