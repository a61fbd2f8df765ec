#if defined(__x86_64__)
#pragma clang fp contract(off)
#include <immintrin.h>
#include "float_simd.h"

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw"))), apply_to = function)

static inline v16f widen_f16_avx512(const uint16_t *p) {
    __m512 x = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    v16f r;
    memcpy(&r, &x, 64);
    return r;
}

#define PG_F(x) x##_avx512
#define PG_FMA(a, b, c) __builtin_elementwise_fma(a, b, c)
#define PG_LOAD_F16(p) widen_f16_avx512(p)
#define PG_TOKEN_TILE 2
#define PG_ACCUMULATE_CHUNKS 4
// 24: two tokens' six rows (three heads each) take all four chunks of a 64-wide head in one
// pass, where 16 took two passes that each broadcast every weight again (a verification step's
// attention about 4% less time against its products, perf samples; the bits do not change).
#define PG_ACCUMULATORS 24
#include "attention.inc"
#include "vector_math.inc"

#pragma clang attribute pop
#endif
