#if defined(__x86_64__)
#include <immintrin.h>
#include "ckernels.h"

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni"))), apply_to = function)

#define PG_NAME(x) x##_avx512
#define PG_DOT(a, b) _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b)
#include "gemm_tiles.inc"

#pragma clang attribute pop
#endif
