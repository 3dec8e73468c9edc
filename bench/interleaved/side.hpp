// bench/interleaved/side.hpp — one build's kernels behind plain function
// pointers, so that two builds of sqllm (two source trees) can be linked into
// one benchmark process: side_impl.cpp is compiled once against each tree.
// bench/interleaved.sh compiles each side with -Dsqllm=sqllm_side_<x>, so the
// two trees' inline functions have distinct names even where both trees
// spell them identically (the linker would otherwise keep one copy for both).
#pragma once

#include <cstddef>

struct side_api {
    const char* target;  ///< the target the build's kernels pick on this CPU
    /// `copies` copies of a random rows × cols striped matrix (2, 3, 4 or 8 bits;
    /// lut 0: fp32, 1: fp16; with or without a 0.45 % CSR part).
    void* (*make)(int bits, int lut, bool sparse, std::size_t rows, std::size_t cols, std::size_t copies);
    void (*destroy)(void* m);
    /// y = W·x (batch 1) or Y = W·X on copy i % copies, through a pool of `threads`.
    void (*multiply)(void* m, std::size_t i, const float* X, float* Y, std::size_t batch, int threads);
    /// The same with the build's fp32 yardstick on W (rows × cols, row-major).
    void (*fp32)(const float* W, std::size_t rows, std::size_t cols, const float* X, float* Y, std::size_t batch,
                 int threads);
};

side_api side_a();  // side_impl.cpp compiled with -DSIDE=a against the first tree
side_api side_b();  // ... and with -DSIDE=b against the second
