// The 16-lane float vectors of the float kernels (float_kernels*.c).
#ifndef PEREGRINE_FLOAT_SIMD_H
#define PEREGRINE_FLOAT_SIMD_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include "ckernels.h"

typedef float v16f __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint16_t v16us __attribute__((vector_size(32)));
typedef double v16d __attribute__((vector_size(128)));

#endif
