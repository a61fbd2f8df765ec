#include "malloc_counter.h"

#if defined(__linux__) && defined(__GLIBC__)
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Thread_local int armed, tracing, inside;
static _Thread_local int64_t counted;

// Other threads counted together (a thread pool's workers): their ids, and one shared count.
#define PG_WATCHED_MAX 16
static _Atomic(unsigned long) watched[PG_WATCHED_MAX];
static _Atomic int watchedCount;
static _Atomic int64_t watchedCounted;

static int isWatched(void) {
    const int n = atomic_load_explicit(&watchedCount, memory_order_acquire);
    if (n == 0) return 0;
    const unsigned long self = (unsigned long)pthread_self();
    for (int i = 0; i < n; i++) {
        if (atomic_load_explicit(&watched[i], memory_order_relaxed) == self) return 1;
    }
    return 0;
}

static void note(void) {
    if (inside) return;
    if (!armed) {
        if (isWatched()) atomic_fetch_add_explicit(&watchedCounted, 1, memory_order_relaxed);
        return;
    }
    counted++;
    if (tracing) {
        inside = 1;  // backtrace itself may allocate
        void *frames[24];
        const int n = backtrace(frames, 24);
        write(2, "-- counted allocation:\n", 23);
        backtrace_symbols_fd(frames, n, 2);
        inside = 0;
    }
}

void *malloc(size_t n) { note(); return __libc_malloc(n); }
void *calloc(size_t n, size_t size) { note(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t n) { note(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t alignment, size_t n) { note(); return __libc_memalign(alignment, n); }
void *aligned_alloc(size_t alignment, size_t n) { note(); return __libc_memalign(alignment, n); }

int posix_memalign(void **out, size_t alignment, size_t n) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    note();
    void *p = __libc_memalign(alignment, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void pg_malloc_counter_watch(const unsigned long *threads, int count) {
    atomic_store_explicit(&watchedCount, 0, memory_order_release);
    const int n = count < PG_WATCHED_MAX ? count : PG_WATCHED_MAX;
    for (int i = 0; i < n; i++) atomic_store_explicit(&watched[i], threads[i], memory_order_relaxed);
    atomic_store_explicit(&watchedCount, n, memory_order_release);
}
int64_t pg_malloc_counter_watched_count(void) { return atomic_load_explicit(&watchedCounted, memory_order_relaxed); }

#else
static _Thread_local int armed, tracing;
static _Thread_local int64_t counted;
void pg_malloc_counter_watch(const unsigned long *threads, int count) { (void)threads; (void)count; }
int64_t pg_malloc_counter_watched_count(void) { return 0; }
#endif

void pg_malloc_counter_arm(int on) { armed = on; }
int64_t pg_malloc_counter_count(void) { return counted; }
void pg_malloc_counter_trace(int on) { tracing = on; }
