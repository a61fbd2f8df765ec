#pragma once
#include <stddef.h>

/// The calling thread's scratch of at least `bytes` (64-byte aligned), grown only when too small
/// and kept for the thread's next call, so steady-state calls allocate nothing; NULL when it
/// cannot grow. Its contents do not survive the next call. (gemm.c)
void *pg_thread_scratch(size_t bytes);
