#include "malloc_counter.h"

#if defined(__linux__) && defined(__GLIBC__)
#include <errno.h>
#include <execinfo.h>
#include <stddef.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Thread_local int armed, tracing, inside;
static _Thread_local int64_t counted;
static void note(void) {
    if (!armed || inside) return;
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

#else
static _Thread_local int armed, tracing;
static _Thread_local int64_t counted;
#endif

void pg_malloc_counter_arm(int on) { armed = on; }
int64_t pg_malloc_counter_count(void) { return counted; }
void pg_malloc_counter_trace(int on) { tracing = on; }
