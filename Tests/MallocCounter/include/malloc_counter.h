// A malloc counter for tests: this target defines malloc and its relatives, forwarding to glibc's
// own entry points, and counts the calls made by threads that asked to be counted. Linking it into
// a test binary replaces the allocator of the whole process (the executable's definitions win).
// Only on glibc; elsewhere the counts stay 0, so tests first check that an allocation is seen.
#ifndef PEREGRINE_MALLOC_COUNTER_H
#define PEREGRINE_MALLOC_COUNTER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Starts (1) or stops (0) counting the calling thread's allocations.
void pg_malloc_counter_arm(int on);
/// Allocations (malloc, calloc, realloc, aligned variants) the calling thread made while armed.
int64_t pg_malloc_counter_count(void);
/// Prints a backtrace of every counted allocation to standard error while on (to find them).
void pg_malloc_counter_trace(int on);
/// Counts, from now on, every allocation made by these threads (pthread ids; at most 16; an
/// empty list stops), into one shared count: other threads' work, such as a thread pool's
/// workers, which cannot arm themselves.
void pg_malloc_counter_watch(const unsigned long *threads, int count);
/// Allocations the watched threads have made so far.
int64_t pg_malloc_counter_watched_count(void);

#ifdef __cplusplus
}
#endif

#endif
