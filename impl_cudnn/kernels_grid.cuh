/* The launch shape every element-wise kernel of this folder shares: blocks
 * of BLOCK threads, a grid of blocks_for(n) blocks, and a grid-stride loop
 * with 64-bit indices (counts go up to 2^40), so that any count runs on a
 * grid of bounded size. For the .cu files only. */
#ifndef CNN_CUDNN_KERNELS_GRID_CUH
#define CNN_CUDNN_KERNELS_GRID_CUH

#include <stdint.h>

#define BLOCK 256
/* Enough blocks to fill any current GPU many times over; the loops stride
 * over the rest. */
#define MAX_BLOCKS (1 << 20)

static inline unsigned blocks_for(int64_t n)
{
    int64_t b = (n + BLOCK - 1) / BLOCK;
    return (unsigned)(b < 1 ? 1 : b > MAX_BLOCKS ? MAX_BLOCKS : b);
}

#define GRID_STRIDE(i, n)                                                                          \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                      \
         i += (int64_t)gridDim.x * blockDim.x)

#endif
