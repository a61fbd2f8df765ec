#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "ckernels.h"
#include "thread_scratch.h"
#include "token_tiles.h"

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni"))), apply_to = function)

#define PG_NAME(x) x##_avx512
// Two groups of 8 rows in each 512-bit vector (gemm_x16.inc, gemm_k16.inc).
#define PG_X16 1
#define PG_DOT(a, b) _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b)
#define PG_DOT_ACC(acc, a, b) _mm256_dpbusd_epi32(acc, a, b)
#include "gemm_tiles.inc"
#include "gemm_k.inc"

static inline __m256i sum_u4s8_avx512(const __m256i w[8], const int8_t *xq) {
    __m256i s = _mm256_setzero_si256();
    for (int j = 0; j < 8; j++) s = _mm256_dpbusd_epi32(s, w[j], bcast32_avx512(xq + 4 * j));
    return s;
}
#define PG_SUM_U8S8(w, xq) sum_u4s8_avx512(w, xq)
// dpbusd sums in int32: 5-bit weights need nothing more.
#define PG_SUM_U5S8(w, xq) sum_u4s8_avx512(w, xq)
// 32 vector registers hold a tile of 8 tokens' accumulators beside a block's 8 weight vectors:
// a verification step of up to 7 drafts unpacks each group once.
#define PG_X8_TILE 8
#include "gemm_x8.inc"
#include "gemm_k16.inc"
#define PG_ZMM_DOT_ACC(acc, a, b) _mm512_dpbusd_epi32(acc, a, b)
#include "int8_peak.inc"

#pragma clang attribute pop
#endif
