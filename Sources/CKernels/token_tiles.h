#pragma once
#include <stdint.h>

/// The width of the next tile when `remaining` tokens go in tiles of at most `most`, as even as
/// they come: 9 tokens in tiles of 8 go as 5 + 4, not 8 + 1. A one-token tile reloads a block's
/// weights for a single token's products, which made a 9-token step (a decode step with 8
/// drafts) cost as much as 11. A token's bits do not depend on its tile's width.
static inline int64_t pg_tile_width(int64_t remaining, int64_t most) {
    const int64_t tiles = (remaining + most - 1) / most;
    return (remaining + tiles - 1) / tiles;
}
