// sqllm/layout/reference.hpp — the SqueezeLLM reference checkpoint layout.
//
// `qweight` is int32 [group_count(cols)·Bits][rows]: word w of row r's bit
// stream is qweight[w][r]. For 32 consecutive columns c0..c0+31 the codes fill
// the Bits words qweight[c0·Bits/32 ..][r], least significant bit first, e.g.
// 3-bit codes 0..7 repeated four times give 0x88fac688, 0xc688fac6, 0xfac688fa.
// The reference requires cols % 32 == 0 (its kernels, % 128); sqllm pads the
// last group with zero codes instead. A view of a checkpoint's qweight in this
// layout is zero-copy, and every target has SIMD gemv and gemm for it
// (kernels/driver/row_lanes.inl: rows in lanes, since a word vector load reads
// one word of consecutive rows), slower than the default striped layout.
#pragma once

#include "../config.hpp"
#include "bit_stream.hpp"

SQLLM_NAMESPACE_BEGIN

template <int Bits>
struct reference_layout : bit_stream_layout<reference_layout<Bits>, Bits> {
    static constexpr const char* name = "reference";
    static constexpr std::size_t word_index(std::size_t rows, std::size_t /*cols*/, std::size_t r, std::size_t w) {
        return w * rows + r;
    }
};

SQLLM_NAMESPACE_END
