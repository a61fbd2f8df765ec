#if defined(__x86_64__)
#include <immintrin.h>
#include "ckernels.h"

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

// u8 x s8 products summed in fours into 8 int32 lanes (maddubs cannot overflow here:
// |w| <= 128 and |x| <= 127 keep each pair within int16).
static inline __m256i dot_avx2(__m256i a, __m256i b) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}
#define PG_NAME(x) x##_avx2
#define PG_DOT(a, b) dot_avx2(a, b)
#include "gemm_tiles.inc"

#pragma clang attribute pop
#endif
