// The float kernels (paged attention over blocks of 16 slots, exponentials, gated activations,
// dot and axpy) with run-time ISA dispatch, and their baseline x86-64 build: SSE2 vectors,
// fused multiply-adds through double precision, halves widened with integer operations. A plain
// `swift build` compiles Swift for baseline x86-64, with no F16C or FMA: the per-lane libcalls
// its vector code then makes cost 20-40x, so these loops live here.
#pragma clang fp contract(off)
#pragma clang diagnostic ignored "-Wpsabi"  // 16-lane vectors pass between inlined static functions only
#include "float_simd.h"

#if defined(__x86_64__)
#define PG_DECLARE(level)                                                                      \
    void pg_attend16_##level(const pg_attention_args *a);                                      \
    float pg_exponentials_##level(const float *x, int64_t n, float shift, float scale, float *out); \
    void pg_silu_mul_##level(float *gate, const float *up, int64_t n);                         \
    void pg_gelu_tanh_mul_##level(float *gate, const float *up, int64_t n);                    \
    float pg_dot_##level(const float *a, const float *b, int64_t n);                           \
    void pg_axpy_##level(float alpha, const float *x, float *y, int64_t n);
PG_DECLARE(avx2)
PG_DECLARE(avx512)
#endif

// IEEE half to float, exactly (subnormals renormalized by one multiply, infinities and NaNs kept).
static inline v16f widen_f16_base(const uint16_t *p) {
    v16us h;
    memcpy(&h, p, sizeof h);
    v16u x = __builtin_convertvector(h, v16u);
    v16u sign = (x & 0x8000u) << 16, magnitude = x & 0x7FFFu;
    v16f scaled = (v16f)(magnitude << 13) * 0x1p112f;
    v16i special = (v16i)(magnitude >= 0x7C00u);
    v16u bits = (v16u)scaled | ((v16u)special & 0x7F800000u);
    return (v16f)(bits | sign);
}

// a·b + c rounded once to double (the product is exact there), then to float: the fused
// multiply-add's result except in rare double-rounding ties, so this level's numbers follow the
// FMA levels' (mul then add would round twice).
static inline v16f fma_base(v16f a, v16f b, v16f c) {
    const v16d r = __builtin_convertvector(a, v16d) * __builtin_convertvector(b, v16d) + __builtin_convertvector(c, v16d);
    return __builtin_convertvector(r, v16f);
}

#define PG_F(x) x##_base
#define PG_FMA(a, b, c) fma_base(a, b, c)
#define PG_LOAD_F16(p) widen_f16_base(p)
#include "attention.inc"
#include "vector_math.inc"
#undef PG_F
#undef PG_FMA
#undef PG_LOAD_F16

// `name` at the level in use (the thread's, see pg_isa_active).
#if defined(__x86_64__)
static inline pg_isa level(void) { return pg_isa_active(); }
#define PG_LEVEL(name) (level() == PG_ISA_AVX512_VNNI ? name##_avx512 : level() == PG_ISA_AVX2 ? name##_avx2 : name##_base)
#else
#define PG_LEVEL(name) name##_base
#endif

void pg_attend16(const pg_attention_args *a) { PG_LEVEL(pg_attend16)(a); }
void pg_silu_mul(float *gate, const float *up, int64_t n) { PG_LEVEL(pg_silu_mul)(gate, up, n); }
void pg_gelu_tanh_mul(float *gate, const float *up, int64_t n) { PG_LEVEL(pg_gelu_tanh_mul)(gate, up, n); }
void pg_axpy(float alpha, const float *x, float *y, int64_t n) { PG_LEVEL(pg_axpy)(alpha, x, y, n); }
float pg_exponentials(const float *x, int64_t n, float shift, float scale, float *out) {
    return PG_LEVEL(pg_exponentials)(x, n, shift, scale, out);
}
float pg_dot(const float *a, const float *b, int64_t n) { return PG_LEVEL(pg_dot)(a, b, n); }
