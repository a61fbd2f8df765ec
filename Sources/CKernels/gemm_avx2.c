#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "ckernels.h"
#include "thread_scratch.h"
#include "token_tiles.h"

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
#include "gemm_k.inc"

// Eight nibble-by-s8 products per lane pair stay within int16 (8 * 2 * 15 * 127 < 32768), so
// they add up as int16 and widen once.
static inline __m256i sum_u4s8_avx2(const __m256i w[8], const int8_t *xq) {
    __m256i s = _mm256_maddubs_epi16(w[0], bcast32_avx2(xq));
    for (int j = 1; j < 8; j++) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(w[j], bcast32_avx2(xq + 4 * j)));
    return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}
#define PG_SUM_U8S8(w, xq) sum_u4s8_avx2(w, xq)

// 5-bit weights: four products per lane pair stay within int16 (4 * 2 * 31 * 127 < 32768), so
// each half of the block widens on its own.
static inline __m256i sum_u5s8_avx2(const __m256i w[8], const int8_t *xq) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s[2];
    for (int h = 0; h < 2; h++) {
        s[h] = _mm256_maddubs_epi16(w[4 * h], bcast32_avx2(xq + 16 * h));
        for (int j = 1; j < 4; j++)
            s[h] = _mm256_add_epi16(s[h], _mm256_maddubs_epi16(w[4 * h + j], bcast32_avx2(xq + 16 * h + 4 * j)));
    }
    return _mm256_add_epi32(_mm256_madd_epi16(s[0], ones), _mm256_madd_epi16(s[1], ones));
}
#define PG_SUM_U5S8(w, xq) sum_u5s8_avx2(w, xq)
// 16 vector registers: tiles of 4 tokens.
#define PG_X8_TILE 4
#include "gemm_x8.inc"
#include "gemm_f.inc"

// pg_quantize_q8 (w null) or pg_quantize_q8_scaled with the same arithmetic as the scalar loop
// (the same products, max, scale, and round-half-to-even), so both give identical blocks.
void pg_quantize_q8_avx2(const float *x, const float *w, float scale, pg_block_q8 *y, int64_t k) {
    const __m256 signBit = _mm256_set1_ps(-0.0f), vs = _mm256_set1_ps(scale);
    for (int64_t b = 0; b < k / 32; b++) {
        const float *xb = x + b * 32;
        __m256 v[4], m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(xb + 8 * i);
            if (w) v[i] = _mm256_mul_ps(_mm256_mul_ps(v[i], vs), _mm256_loadu_ps(w + b * 32 + 8 * i));
            m = _mm256_max_ps(m, _mm256_andnot_ps(signBit, v[i]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        __m256i q[4];
        for (int i = 0; i < 4; i++)
            q[i] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[i], _mm256_set1_ps(id)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const __m256i s32 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        const int sum = _mm_cvtsi128_si32(s4);
        // int32 -> int16 -> int8 (packs interleave the 128-bit lanes; the permute restores order).
        const __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
        const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
        const __m256i ordered = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[b].qs, ordered);
        y[b].d = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        y[b].s = _cvtsh_ss(_cvtss_sh(d * (float)sum, _MM_FROUND_TO_NEAREST_INT));
    }
}

#include "int8_peak.inc"

#pragma clang attribute pop
#endif
