#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "ckernels.h"
#include "thread_scratch.h"

#if defined(__x86_64__)
int pg_gemm_q_avx2(int, const void *, int64_t, int64_t, int64_t, const pg_block_q8 *, int64_t, float *, int64_t);
int pg_gemm_q_avx512(int, const void *, int64_t, int64_t, int64_t, const pg_block_q8 *, int64_t, float *, int64_t);
int pg_gemm_qk_avx2(int, const void *, int64_t, int64_t, int64_t, const pg_block_q8 *, int64_t, float *, int64_t);
int pg_gemm_qk_avx512(int, const void *, int64_t, int64_t, int64_t, const pg_block_q8 *, int64_t, float *, int64_t);
void pg_quantize_q8_avx2(const float *, const float *, float, pg_block_q8 *, int64_t);
int pg_gemm_f_avx2(int, const void *, int64_t, int64_t, int64_t, const float *, int64_t, float *, int64_t);
int pg_gemm_q_x8_avx2(int, const void *, int64_t, int64_t, int64_t, const pg_block_q8 *, int64_t, float *, int64_t);
int pg_gemm_q_x8_avx512(int, const void *, int64_t, int64_t, int64_t, const pg_block_q8 *, int64_t, float *, int64_t);
int64_t pg_int8_chains_avx2(int64_t, int);
int64_t pg_int8_chains_avx512(int64_t, int);
#endif

static pg_isa detect(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw"))
        return PG_ISA_AVX512_VNNI;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return PG_ISA_AVX2;
#endif
    return PG_ISA_SCALAR;
}

static int active = -1;
static _Thread_local int thread_level = -1;

pg_isa pg_isa_detected(void) { return detect(); }

// PEREGRINE_ISA, read once: scalar|avx2|avx512 caps the level (to compare the paths from the
// command line); avx512-256 keeps the AVX-512 level but the interleaved products on 256-bit
// vectors (to compare them with the 512-bit pairs on a CPU that splits 512-bit operations, as
// Zen 4 does).
static struct {
    int read;
    pg_isa cap;
    int paired;
} isa_setting;

static void read_isa_setting(void) {
    if (isa_setting.read) return;
    const char *name = getenv("PEREGRINE_ISA");
    isa_setting.cap = !name ? PG_ISA_AVX512_VNNI : strcmp(name, "scalar") == 0 ? PG_ISA_SCALAR : strcmp(name, "avx2") == 0 ? PG_ISA_AVX2 : PG_ISA_AVX512_VNNI;
    isa_setting.paired = !(name && strcmp(name, "avx512-256") == 0);
    isa_setting.read = 1;
}

static pg_isa from_environment(pg_isa best) {
    read_isa_setting();
    return isa_setting.cap < best ? isa_setting.cap : best;
}

int pg_paired_products(void) {
    read_isa_setting();
    return isa_setting.paired;
}

pg_isa pg_isa_active(void) {
    if (thread_level >= 0) return (pg_isa)thread_level;
    if (active < 0) active = (int)from_environment(detect());
    return (pg_isa)active;
}

int pg_isa_thread_level(void) { return thread_level; }

void pg_isa_set_thread_level(int level) {
    const int best = (int)detect();
    thread_level = level < 0 ? -1 : level < best ? level : best;
}

pg_isa pg_isa_set(pg_isa isa) {
    pg_isa best = detect();
    active = (int)(isa < best ? isa : best);
    return (pg_isa)active;
}

static uint16_t float_to_half(float f) {
    _Float16 h = (_Float16)f;
    uint16_t bits;
    memcpy(&bits, &h, 2);
    return bits;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    if (exp == 0) {
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    uint32_t bits = exp == 31 ? (sign | 0x7F800000u | (man << 13)) : (sign | ((exp + 112) << 23) | (man << 13));
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float half_round(float f) {
    return half_to_float(float_to_half(f));
}

// Quantizes x (or, with w, the values (x * scale) * w) in blocks of 32.
static void quantize_q8_scalar(const float *x, const float *w, float scale, pg_block_q8 *y, int64_t k) {
    for (int64_t b = 0; b < k / 32; b++) {
        float xb[32];
        for (int j = 0; j < 32; j++) xb[j] = w ? (x[b * 32 + j] * scale) * w[b * 32 + j] : x[b * 32 + j];
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            int q = (int)nearbyintf(xb[j] * id);
            y[b].qs[j] = (int8_t)q;
            sum += q;
        }
        // Scales are kept at half precision, as GGML stores them in its q8 blocks.
        y[b].d = half_round(d);
        y[b].s = half_round(d * (float)sum);
    }
}

static void quantize_q8(const float *x, const float *w, float scale, pg_block_q8 *y, int64_t k) {
#if defined(__x86_64__)
    if (pg_isa_active() >= PG_ISA_AVX2) {
        pg_quantize_q8_avx2(x, w, scale, y, k);
        return;
    }
#endif
    quantize_q8_scalar(x, w, scale, y, k);
}

void pg_quantize_q8(const float *x, pg_block_q8 *y, int64_t k) { quantize_q8(x, 0, 1, y, k); }

void pg_quantize_q8_scaled(const float *x, const float *w, float scale, pg_block_q8 *y, int64_t k) {
    quantize_q8(x, w, scale, y, k);
}

static float dot_q4_1_scalar(const uint8_t *row, const pg_block_q8 *x, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + b * 20;
        uint16_t dh, mh;
        memcpy(&dh, blk, 2);
        memcpy(&mh, blk + 2, 2);
        int isum = 0;
        for (int j = 0; j < 16; j++) isum += (blk[4 + j] & 0xF) * x[b].qs[j] + (blk[4 + j] >> 4) * x[b].qs[j + 16];
        acc += half_to_float(dh) * x[b].d * (float)isum + half_to_float(mh) * x[b].s;
    }
    return acc;
}

// Q5_0 (half d, uint32 qh, 16 bytes of nibbles; d * (q - 16)) and Q5_1 (half d, half m, qh,
// nibbles; d * q + m): element j is nibble j of qs (low nibbles first) with bit j of qh as its
// fifth bit. Q5_0's offset meets the activations' sum as m = -16d, as the other kernels take it.
static float dot_q5_scalar(int wtype, const uint8_t *row, const pg_block_q8 *x, int64_t nb) {
    const int64_t blockBytes = wtype == 6 ? 22 : 24;
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + b * blockBytes, *qs = blk + blockBytes - 16;
        uint16_t dh, mh;
        uint32_t qh;
        memcpy(&dh, blk, 2);
        memcpy(&qh, qs - 4, 4);
        const float d = half_to_float(dh);
        float m = -16.0f * d;
        if (wtype == 7) {
            memcpy(&mh, blk + 2, 2);
            m = half_to_float(mh);
        }
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            const int lo = (qs[j] & 0xF) | (int)((qh >> j) & 1) << 4, hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            isum += lo * x[b].qs[j] + hi * x[b].qs[j + 16];
        }
        acc += d * x[b].d * (float)isum + m * x[b].s;
    }
    return acc;
}

static float dot_q8_0_scalar(const uint8_t *row, const pg_block_q8 *x, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + b * 34;
        uint16_t dh;
        memcpy(&dh, blk, 2);
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += (int8_t)blk[2 + j] * x[b].qs[j];
        acc += half_to_float(dh) * x[b].d * (float)isum;
    }
    return acc;
}

// Scale and min of sub-block j from the 12 packed bytes of a Q4_K block.
static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// Q4_K: per super-block half d, dmin, 12 bytes of scales, 128 bytes of nibbles; activation
// block j meets sub-block j (low nibbles of bytes 16 + 32 * (j / 2) for even j, high for odd).
static float dot_q4_K_scalar(const uint8_t *row, const pg_block_q8 *x, int64_t nsb) {
    float acc = 0;
    for (int64_t b = 0; b < nsb; b++) {
        const uint8_t *blk = row + b * 144;
        uint16_t dh, mh;
        memcpy(&dh, blk, 2);
        memcpy(&mh, blk + 2, 2);
        const float d = half_to_float(dh), dmin = half_to_float(mh);
        for (int j = 0; j < 8; j++) {
            const pg_block_q8 *xb = x + 8 * b + j;
            const uint8_t *qs = blk + 16 + 32 * (j / 2);
            const int shift = 4 * (j & 1);
            int sc, m, isum = 0;
            scale_min_k4(j, blk + 4, &sc, &m);
            for (int l = 0; l < 32; l++) isum += ((qs[l] >> shift) & 0xF) * xb->qs[l];
            acc += d * (float)sc * xb->d * (float)isum - dmin * (float)m * xb->s;
        }
    }
    return acc;
}

// Q6_K: per super-block ql[128], qh[64], int8 scales[16], half d; activation block j = 4n + i
// meets the low (i < 2) or high nibbles of ql[64n + 32(i & 1) ..] with bits 2i, 2i + 1 of
// qh[32n ..] on top, less 32, and scales 2j and 2j + 1 for its two halves.
static float dot_q6_K_scalar(const uint8_t *row, const pg_block_q8 *x, int64_t nsb) {
    float acc = 0;
    for (int64_t b = 0; b < nsb; b++) {
        const uint8_t *blk = row + b * 210;
        const int8_t *sc = (const int8_t *)(blk + 192);
        uint16_t dh;
        memcpy(&dh, blk + 208, 2);
        const float d = half_to_float(dh);
        for (int j = 0; j < 8; j++) {
            const pg_block_q8 *xb = x + 8 * b + j;
            const int n = j / 4, i = j % 4, shift = i < 2 ? 0 : 4;
            const uint8_t *ql = blk + 64 * n + 32 * (i & 1), *qh = blk + 128 + 32 * n;
            int isum = 0;
            for (int h = 0; h < 2; h++) {
                int part = 0;
                for (int l = 16 * h; l < 16 * h + 16; l++)
                    part += ((((ql[l] >> shift) & 0xF) | ((qh[l] >> (2 * i)) & 3) << 4) - 32) * xb->qs[l];
                isum += sc[2 * j + h] * part;
            }
            acc += d * xb->d * (float)isum;
        }
    }
    return acc;
}

static float dot_scalar(int wtype, const uint8_t *row, const pg_block_q8 *x, int64_t nb) {
    switch (wtype) {
    case 3: return dot_q4_1_scalar(row, x, nb);
    case 6:
    case 7: return dot_q5_scalar(wtype, row, x, nb);
    case 8: return dot_q8_0_scalar(row, x, nb);
    case 12: return dot_q4_K_scalar(row, x, nb / 8);
    default: return dot_q6_K_scalar(row, x, nb / 8);
    }
}

static int gemm_scalar(int wtype, const void *w, int64_t k, int64_t r0, int64_t r1, const pg_block_q8 *x,
                       int64_t ntok, float *y, int64_t ldy) {
    const int64_t nb = k / 32;
    const int64_t rowBytes = wtype == 3 ? nb * 20 : wtype == 6 ? nb * 22 : wtype == 7 ? nb * 24 : wtype == 8 ? nb * 34
                           : wtype == 12 ? k / 256 * 144 : wtype == 14 ? k / 256 * 210 : 0;
    if (!rowBytes) return -1;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        for (int64_t t = 0; t < ntok; t++) y[t * ldy + r] = dot_scalar(wtype, row, x + t * nb, nb);
    }
    return 0;
}

int pg_gemm_q(int wtype, const void *w, int64_t k, int64_t r0, int64_t r1, const pg_block_q8 *x, int64_t ntok,
              float *y, int64_t ldy) {
    const int kquant = wtype == 12 || wtype == 14;
    if (k % (kquant ? 256 : 32) != 0) return -1;
    switch (pg_isa_active()) {
#if defined(__x86_64__)
    case PG_ISA_AVX512_VNNI:
        return kquant ? pg_gemm_qk_avx512(wtype, w, k, r0, r1, x, ntok, y, ldy)
                      : pg_gemm_q_avx512(wtype, w, k, r0, r1, x, ntok, y, ldy);
    case PG_ISA_AVX2:
        return kquant ? pg_gemm_qk_avx2(wtype, w, k, r0, r1, x, ntok, y, ldy)
                      : pg_gemm_q_avx2(wtype, w, k, r0, r1, x, ntok, y, ldy);
#endif
    default: return gemm_scalar(wtype, w, k, r0, r1, x, ntok, y, ldy);
    }
}

// Interleaved layout. Q4_1 (160 bytes per group and block): 8 half d, 8 half m, then 4 vectors
// of 32 bytes; byte 4r + j of vector i is byte 4i + j of row r's nibbles, so its low nibble is
// element 4i + j and its high nibble element 16 + 4i + j. Q8_0 (272 bytes): 8 half d, then 8
// vectors; byte 4r + j of vector i is element 4i + j of row r. Q4_0 (d * (q - 8)) takes the
// Q4_1 layout with m = -8d, exact in half precision (a power-of-two multiple).
//
// Q5_1 (192 bytes, GGML's size): 8 half d, 8 half m, a 32-byte plane, then 4 vectors of 32
// bytes. Q5_0 (176 bytes, GGML's size): 8 half d, the plane, the vectors; its offset -16d is
// formed in the kernels rather than stored. Byte 4r + j of vector i holds element 4i + j of
// row r whole in bits 0-4 and the top 3 bits of element 16 + 4i + j in bits 5-7; bits 2i and
// 2i + 1 of byte 4r + j of the plane hold that element's low 2 bits. Still 5 bits a weight, and
// the kernels unpack element 4i + j with one mask, element 16 + 4i + j with two shifts, two
// masks and an or.
static int packed_type(int wtype) { return wtype == 2 ? 3 : wtype; }
static int64_t group_block_bytes(int wtype) {
    switch (packed_type(wtype)) {
    case 3: return 160;
    case 6: return 176;
    case 7: return 192;
    case 8: return 272;
    default: return -1;
    }
}

int64_t pg_packed_bytes(int wtype, int64_t k, int64_t rows8) {
    const int64_t g = group_block_bytes(wtype);
    return g < 0 ? -1 : rows8 / 8 * (k / 32) * g;
}

static int64_t ggml_block_bytes(int wtype) {
    switch (wtype) {
    case 2: return 18;
    case 3: return 20;
    case 6: return 22;
    case 7: return 24;
    default: return 34;
    }
}

int pg_repack_x8(int wtype, const void *w, int64_t k, int64_t rows8, void *out) {
    const int64_t gb = group_block_bytes(wtype);
    if (gb < 0 || k % 32 != 0 || rows8 % 8 != 0) return -1;
    const int64_t blockBytes = ggml_block_bytes(wtype), nb = k / 32, rowBytes = nb * blockBytes;
    const int nibbles = wtype != 8, fifth = wtype == 6 || wtype == 7, quantBytes = nibbles ? 16 : 32;
    const int scaleBytes = wtype == 6 || wtype == 8 ? 16 : 32, headerBytes = scaleBytes + (fifth ? 32 : 0);
    for (int64_t g = 0; g < rows8 / 8; g++) {
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *dst = (uint8_t *)out + (g * nb + b) * gb;
            for (int r = 0; r < 8; r++) {
                const uint8_t *blk = (const uint8_t *)w + (g * 8 + r) * rowBytes + b * blockBytes;
                memcpy(dst + 2 * r, blk, 2);
                if (wtype == 3 || wtype == 7) memcpy(dst + 16 + 2 * r, blk + 2, 2);
                if (wtype == 2) {
                    uint16_t dh, mh;
                    memcpy(&dh, blk, 2);
                    mh = float_to_half(-8.0f * half_to_float(dh));
                    memcpy(dst + 16 + 2 * r, &mh, 2);
                }
                const uint8_t *qs = blk + blockBytes - quantBytes;
                if (fifth) {
                    uint32_t qh;
                    memcpy(&qh, qs - 4, 4);
                    uint8_t q[32];
                    for (int e = 0; e < 32; e++) q[e] = (uint8_t)((e < 16 ? qs[e] & 0xF : qs[e - 16] >> 4) | ((qh >> e) & 1) << 4);
                    for (int j = 0; j < 4; j++) {
                        uint8_t plane = 0;
                        for (int i = 0; i < 4; i++) {
                            const uint8_t hi = q[16 + 4 * i + j];
                            dst[headerBytes + 32 * i + 4 * r + j] = (uint8_t)(q[4 * i + j] | (hi >> 2) << 5);
                            plane |= (uint8_t)((hi & 3) << (2 * i));
                        }
                        dst[scaleBytes + 4 * r + j] = plane;
                    }
                    continue;
                }
                for (int i = 0; i < quantBytes / 4; i++) memcpy(dst + headerBytes + 32 * i + 4 * r, qs + 4 * i, 4);
            }
        }
    }
    return 0;
}

static void gemm_x8_scalar(int wtype0, const uint8_t *packed, int64_t k, int64_t r0, int64_t r1,
                           const pg_block_q8 *x, int64_t ntok, float *y, int64_t ldy) {
    const int wtype = packed_type(wtype0);
    const int64_t nb = k / 32, gb = group_block_bytes(wtype);
    for (int64_t r = r0; r < r1; r++) {
        const int lane = (int)(r % 8);
        for (int64_t t = 0; t < ntok; t++) {
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *g = packed + ((r / 8) * nb + b) * gb;
                const pg_block_q8 *xb = x + t * nb + b;
                uint16_t dh;
                memcpy(&dh, g + 2 * lane, 2);
                int isum = 0;
                if (wtype == 3 || wtype == 6 || wtype == 7) {
                    // Q5: the plane after the scales, then the 5-bit fields (see above).
                    const uint8_t *plane = wtype == 3 ? 0 : g + (wtype == 6 ? 16 : 32);
                    const uint8_t *qs = wtype == 3 ? g + 32 : plane + 32;
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) {
                            const uint8_t q = qs[32 * i + 4 * lane + j];
                            int lo = q & 0xF, hi = q >> 4;
                            if (plane) {
                                lo = q & 0x1F;
                                hi = (q >> 5) << 2 | ((plane[4 * lane + j] >> (2 * i)) & 3);
                            }
                            isum += lo * xb->qs[4 * i + j] + hi * xb->qs[16 + 4 * i + j];
                        }
                    float m;
                    if (wtype == 6) {
                        m = -16.0f * half_to_float(dh);
                    } else {
                        uint16_t mh;
                        memcpy(&mh, g + 16 + 2 * lane, 2);
                        m = half_to_float(mh);
                    }
                    acc += half_to_float(dh) * xb->d * (float)isum + m * xb->s;
                } else {
                    for (int i = 0; i < 8; i++)
                        for (int j = 0; j < 4; j++) isum += (int8_t)g[16 + 32 * i + 4 * lane + j] * xb->qs[4 * i + j];
                    acc += half_to_float(dh) * xb->d * (float)isum;
                }
            }
            y[t * ldy + r] = acc;
        }
    }
}

// The kernels' unpacked weights live here; a pthread key frees the buffer when its thread ends.
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local void *scratch_data;
static _Thread_local size_t scratch_size;

static void scratch_key_init(void) { pthread_key_create(&scratch_key, free); }

void *pg_thread_scratch(size_t bytes) {
    if (bytes <= scratch_size) return scratch_data;
    pthread_once(&scratch_once, scratch_key_init);
    void *grown = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!grown) return NULL;
    free(scratch_data);
    scratch_data = grown;
    scratch_size = bytes;
    pthread_setspecific(scratch_key, grown);
    return grown;
}

int pg_thread_scratch_reserve(int64_t bytes) { return bytes <= 0 || pg_thread_scratch((size_t)bytes) ? 0 : -1; }

int pg_gemm_q_x8(int wtype, const void *packed, int64_t k, int64_t r0, int64_t r1, const pg_block_q8 *x,
                 int64_t ntok, float *y, int64_t ldy) {
    if (k % 32 != 0 || r0 % 8 != 0 || r1 % 8 != 0 || group_block_bytes(wtype) < 0) return -1;
    switch (pg_isa_active()) {
#if defined(__x86_64__)
    case PG_ISA_AVX512_VNNI: return pg_gemm_q_x8_avx512(packed_type(wtype), packed, k, r0, r1, x, ntok, y, ldy);
    case PG_ISA_AVX2: return pg_gemm_q_x8_avx2(packed_type(wtype), packed, k, r0, r1, x, ntok, y, ldy);
#endif
    default: gemm_x8_scalar(wtype, (const uint8_t *)packed, k, r0, r1, x, ntok, y, ldy); return 0;
    }
}

int64_t pg_int8_dot_chains(int64_t iterations, int width) {
    switch (pg_isa_active()) {
#if defined(__x86_64__)
    case PG_ISA_AVX512_VNNI: return pg_int8_chains_avx512(iterations, width == 512);
    case PG_ISA_AVX2: return width == 512 ? -1 : pg_int8_chains_avx2(iterations, 0);
#endif
    default: return -1;
    }
}

static float float_weight(int wtype, const uint8_t *row, int64_t i) {
    if (wtype == 1) {
        uint16_t h;
        memcpy(&h, row + 2 * i, 2);
        return half_to_float(h);
    }
    if (wtype == 30) {
        uint16_t h;
        memcpy(&h, row + 2 * i, 2);
        const uint32_t bits = (uint32_t)h << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    float f;
    memcpy(&f, row + 4 * i, 4);
    return f;
}

int pg_gemm_f(int wtype, const void *w, int64_t k, int64_t r0, int64_t r1, const float *x, int64_t ntok, float *y,
              int64_t ldy) {
    if (wtype != 0 && wtype != 1 && wtype != 30) return -1;
#if defined(__x86_64__)
    if (pg_isa_active() >= PG_ISA_AVX2) return pg_gemm_f_avx2(wtype, w, k, r0, r1, x, ntok, y, ldy);
#endif
    const int64_t rowBytes = k * (wtype == 0 ? 4 : 2);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        for (int64_t t = 0; t < ntok; t++) {
            float s = 0;
            for (int64_t i = 0; i < k; i++) s += float_weight(wtype, row, i) * x[t * k + i];
            y[t * ldy + r] = s;
        }
    }
    return 0;
}
