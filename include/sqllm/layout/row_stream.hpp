// sqllm/layout/row_stream.hpp — the default packed layout: each row's bit
// stream contiguous, rows one after another.
//
// It is the reference layout transposed word for word, so converting between
// the two is a transpose of 32-bit words, and one row's codes are a single
// sequential read (what a CPU kernel wants).
#pragma once

#include "bit_stream.hpp"

namespace sqllm {

template <int Bits>
struct row_stream_layout : bit_stream_layout<row_stream_layout<Bits>, Bits> {
    static constexpr const char* name = "row_stream";
    static constexpr std::size_t word_index(std::size_t /*rows*/, std::size_t cols, std::size_t r, std::size_t w) {
        return r * bit_stream_layout<row_stream_layout<Bits>, Bits>::words_per_row(cols) + w;
    }
};

}  // namespace sqllm
