// Peregrine's innermost loops, with run-time ISA dispatch: the quantized matrix products (integer
// dot-product instructions Swift cannot emit) and the float loops a plain `swift build` (baseline
// x86-64, no FMA or F16C) would otherwise run through per-lane libcalls: attention,
// exponentials, gated activations. Swift owns everything else; each is tested against Swift.
#ifndef PEREGRINE_CKERNELS_H
#define PEREGRINE_CKERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Activations quantized to 8 bits in blocks of 32: d = max|x| / 127, s = d * sum(qs).
typedef struct {
    float d;
    float s;
    int8_t qs[32];
} pg_block_q8;

/// Instruction-set levels the kernels can use.
typedef enum {
    PG_ISA_SCALAR = 0,
    PG_ISA_AVX2 = 1,
    PG_ISA_AVX512_VNNI = 2,
} pg_isa;

/// The best level this CPU supports.
pg_isa pg_isa_detected(void);
/// The level in use (defaults to the detected one).
pg_isa pg_isa_active(void);
/// Forces a level no higher than the detected one for the whole process. Returns the level set.
pg_isa pg_isa_set(pg_isa isa);
/// The calling thread's own level (capped to the detected one), or -1 to follow the process
/// level. Peregrine's thread pool runs each loop at its caller's level, so a test can pin one
/// model's kernels to a level without touching others running at the same time.
void pg_isa_set_thread_level(int level);
/// The calling thread's own level, or -1.
int pg_isa_thread_level(void);

/// Quantizes k floats (k a multiple of 32) into k/32 blocks.
void pg_quantize_q8(const float *x, pg_block_q8 *y, int64_t k);

/// pg_quantize_q8 of the values (x[i] * scale) * w[i], never written out as floats: RMSNorm
/// (scale = 1 / rms, w its weight) fused with the activation quantization. The same bits as
/// computing those floats first.
void pg_quantize_q8_scaled(const float *x, const float *w, float scale, pg_block_q8 *y, int64_t k);

/// y[t * ldy + r] = dot(row r of W, token t of x) for rows [r0, r1) and tokens [0, ntok).
/// W holds rows of k elements in GGML's Q4_1 (wtype 3), Q5_0 (6), Q5_1 (7), Q8_0 (8), Q4_K (12) or
/// Q6_K (14) block layout; x holds ntok rows of k/32 quantized blocks each. k is a multiple of 32,
/// of 256 for Q4_K and Q6_K. Returns 0, or -1 for an unsupported wtype or k.
int pg_gemm_q(int wtype, const void *w, int64_t k, int64_t r0, int64_t r1,
              const pg_block_q8 *x, int64_t ntok, float *y, int64_t ldy);

/// Bytes of the interleaved copy (pg_repack_x8) of `rows8` rows (a multiple of 8) of k elements,
/// or -1 for a type without one.
int64_t pg_packed_bytes(int wtype, int64_t k, int64_t rows8);

/// Copies rows [0, rows8) of W (GGML layout, rows8 a multiple of 8) into `out`, interleaved for
/// the x8 kernels: per group of 8 rows and per block, the 8 scales (and for Q4_1 and Q5_1 the 8
/// minimums) as halves, then the quants as vectors that hold four consecutive bytes of each row
/// (Q5_0 and Q5_1: a 32-byte plane of high bits, then 5-bit fields rearranged within the same
/// 5 bits a weight; see gemm.c). Q4_1 (3), Q5_0 (6), Q5_1 (7), Q8_0 (8), and Q4_0 (2, stored as
/// Q4_1 with m = -8d); all but Q4_0 keep GGML's size. Returns 0, or -1 for another wtype.
int pg_repack_x8(int wtype, const void *w, int64_t k, int64_t rows8, void *out);

/// pg_gemm_q over an interleaved copy: rows [r0, r1), both multiples of 8.
int pg_gemm_q_x8(int wtype, const void *packed, int64_t k, int64_t r0, int64_t r1,
                 const pg_block_q8 *x, int64_t ntok, float *y, int64_t ldy);

/// y[t * ldy + r] = dot(row r of W, x[t]) for rows [r0, r1), tokens [0, ntok), with W in F32 (0),
/// F16 (1) or BF16 (30) rows of k elements and x as float rows of k. Returns 0, or -1 for
/// another wtype.
int pg_gemm_f(int wtype, const void *w, int64_t k, int64_t r0, int64_t r1, const float *x,
              int64_t ntok, float *y, int64_t ldy);

/// Runs `iterations` rounds of eight independent int8 dot-product steps (u8 × s8, four products
/// summed into each int32 lane) at the active level: `vpdpbusd` on 256-bit (width 256) or
/// 512-bit (width 512, AVX-512 VNNI only) vectors; AVX2 has `vpmaddubsw` + `vpmaddwd` +
/// `vpaddd` on 256 bits. The int8 peak probe (`MachineProbe`). Returns a value of the chains, or
/// -1 where the level has no such step.
int64_t pg_int8_dot_chains(int64_t iterations, int width);

/// Asks for `bytes` from `p` to be brought into the cache (KV blocks are scattered pages, which
/// the hardware prefetchers do not cross).
static inline void pg_prefetch(const void *p, int64_t bytes) {
    for (int64_t i = 0; i < bytes; i += 64) __builtin_prefetch((const char *)p + i, 0, 3);
}

/// pg_prefetch into L2 only (a block needed a few iterations from now).
static inline void pg_prefetch_l2(const void *p, int64_t bytes) {
    for (int64_t i = 0; i < bytes; i += 64) __builtin_prefetch((const char *)p + i, 0, 2);
}

/// KV cache element types of the attention kernels (Kernels' `KVPrecision`).
enum { PG_KV_F32 = 0, PG_KV_F16 = 1, PG_KV_BF16 = 2 };

/// One KV head's attention over a range of its blocks, for `tokens` query tokens of `heads`
/// query heads each (the heads that share this KV head). Keys are stored transposed within a
/// block (`[block][kvHead][headDim][slot]`), values not (`[block][kvHead][slot][headDim]`).
/// Online softmax: `output` rows, `maxima` and `sums` (index token * heads + head) carry the
/// state in and out, unnormalized, so partial ranges merge (flash-decoding).
typedef struct {
    const float *queries;       // token t, head h at queries[t * query_stride + h * head_dim]
    int64_t heads, tokens, query_stride;
    int64_t first_context;      // token t sees slots [visible, first_context + t)
    int64_t window;             // > 0: a sliding window of this many slots
    const void *keys, *values;
    int precision;              // PG_KV_*
    int64_t kv_heads, kv_head, head_dim;  // head_dim a multiple of 16, at most 256
    const int32_t *block_table;
    int64_t block_start, block_end;
    float scale;
    float *output;              // token t, head h at output[t * output_stride + h * head_dim]
    int64_t output_stride;
    float *maxima, *sums;
} pg_attention_args;

/// Attention over blocks of 16 slots (the same bits on every level with FMA in hardware).
void pg_attend16(const pg_attention_args *args);

/// Σ e^((x_i − shift)·scale) over n floats, each also written to `out` unless it is NULL
/// (Kernels' exp16: relative error about 2e-7).
float pg_exponentials(const float *x, int64_t n, float shift, float scale, float *out);
/// gate[i] = silu(gate[i]) · up[i].
void pg_silu_mul(float *gate, const float *up, int64_t n);
/// gate[i] = gelu_tanh(gate[i]) · up[i].
void pg_gelu_tanh_mul(float *gate, const float *up, int64_t n);
/// Σ a[i]·b[i].
float pg_dot(const float *a, const float *b, int64_t n);
/// y[i] += alpha · x[i].
void pg_axpy(float alpha, const float *x, float *y, int64_t n);

/// Grows the calling thread's kernel scratch to at least `bytes` now (the kernels grow it on
/// first need and keep it: a thread that holds what its kernels ask never allocates again).
/// Returns 0, or -1 when it cannot.
int pg_thread_scratch_reserve(int64_t bytes);

/// A spin-wait hint for busy loops.
static inline void pg_cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

#ifdef __cplusplus
}
#endif

#endif
