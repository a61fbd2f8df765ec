#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "ckernels.h"

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

// u8 x s8 products summed in fours into 8 int32 lanes (maddubs cannot overflow here:
// |w| <= 128 and |x| <= 127 keep each pair within int16).
static inline __m256i dot_avx2(__m256i a, __m256i b) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}
#define PG_NAME(x) x##_avx2
#define PG_DOT(a, b) dot_avx2(a, b)
#define PG_DOT_ACC(acc, a, b) _mm256_add_epi32(acc, dot_avx2(a, b))
#include "gemm_tiles.inc"

// Eight nibble-by-s8 products per lane pair stay within int16 (8 * 2 * 15 * 127 < 32768), so
// they add up as int16 and widen once.
static inline __m256i sum_u4s8_avx2(const __m256i w[8], const int8_t *xq) {
    __m256i s = _mm256_maddubs_epi16(w[0], bcast32_avx2(xq));
    for (int j = 1; j < 8; j++) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(w[j], bcast32_avx2(xq + 4 * j)));
    return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}
#define PG_SUM_U8S8(w, xq) sum_u4s8_avx2(w, xq)
#include "gemm_x8.inc"

#pragma clang attribute pop
#endif
