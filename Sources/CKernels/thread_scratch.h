#pragma once
#include <stddef.h>

/// The calling thread's scratch of at least `bytes` (64-byte aligned), grown only when too small
/// and kept for the thread's next call, so steady-state calls allocate nothing; NULL when it
/// cannot grow. Its contents do not survive the next call. (gemm.c)
void *pg_thread_scratch(size_t bytes);

/// Whether the AVX-512 level pairs groups of 8 rows in 512-bit vectors (unless PEREGRINE_ISA is
/// avx512-256). (gemm.c)
int pg_paired_products(void);
