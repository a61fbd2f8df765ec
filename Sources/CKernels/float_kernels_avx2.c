#if defined(__x86_64__)
#pragma clang fp contract(off)
#pragma clang diagnostic ignored "-Wpsabi"  // 16-lane vectors pass between inlined static functions only
#include <immintrin.h>
#include "float_simd.h"

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

static inline v16f widen_f16_avx2(const uint16_t *p) {
    __m256 lo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    __m256 hi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 8)));
    v16f r;
    memcpy(&r, &lo, 32);
    memcpy((float *)&r + 8, &hi, 32);
    return r;
}

#define PG_F(x) x##_avx2
#define PG_FMA(a, b, c) __builtin_elementwise_fma(a, b, c)
#define PG_LOAD_F16(p) widen_f16_avx2(p)
#include "attention.inc"
#include "vector_math.inc"

#pragma clang attribute pop
#endif
