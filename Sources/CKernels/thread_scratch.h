#pragma once
#include <stddef.h>

/// The calling thread's scratch of at least `bytes` (64-byte aligned), grown only when too small
/// and kept for the thread's next call, so steady-state calls allocate nothing; NULL when it
/// cannot grow. Its contents do not survive the next call. (gemm.c)
void *pg_thread_scratch(size_t bytes);

/// How many of `count` row groups, `groupBytes` each once unpacked, a product unpacks at a time:
/// about 1 MiB of them, so a call unpacks each group once without its scratch growing with the
/// row range (an LM head's can hold thousands); at least 1.
static inline long long pg_unpacked_span(size_t groupBytes, long long count) {
    long long span = (long long)((1 << 20) / groupBytes);
    if (span > count) span = count;
    return span < 1 ? 1 : span;
}

/// Whether the AVX-512 level pairs groups of 8 rows in 512-bit vectors (unless PEREGRINE_ISA is
/// avx512-256). (gemm.c)
int pg_paired_products(void);
