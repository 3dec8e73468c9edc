// sqllm/layout/concept.hpp — the packed-code layout concept.
//
// A layout L stores the codes of a rows × cols matrix (Bits bits each) in
// 32-bit words. It is a type with
//   static constexpr int bits;                 the code width it packs
//   static constexpr const char* name;
//   static size_t word_count(size_t rows, size_t cols);     padding included
//   static uint32_t get(const uint32_t* words, size_t rows, size_t cols, size_t r, size_t c);
//   static void unpack_group(const uint32_t* words, size_t rows, size_t cols, size_t r, size_t g, code_t out[32]);
//   static void pack_group(uint32_t* words, size_t rows, size_t cols, size_t r, size_t g, const code_t in[32]);
// where group g of row r is columns [32g, 32g + 32) (codes past cols are
// padding: 0 when packed by sqllm). That is all pack/unpack/repack, the
// scalar oracle and dequantize need. SIMD kernels for a layout are a driver
// in kernels/driver/ named in kernels/layout_kernels.hpp; without one, the
// layout runs the scalar oracle (docs/EXTENDING.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "../config.hpp"
#include "../core/bits.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {
template <class L, class = void>
struct has_layout_members : std::false_type {};
template <class L>
struct has_layout_members<
    L, std::void_t<decltype(L::bits), decltype(L::name),
                   decltype(L::word_count(std::size_t{}, std::size_t{})),
                   decltype(L::get(std::declval<const std::uint32_t*>(), std::size_t{}, std::size_t{}, std::size_t{},
                                   std::size_t{})),
                   decltype(L::unpack_group(std::declval<const std::uint32_t*>(), std::size_t{}, std::size_t{},
                                            std::size_t{}, std::size_t{}, std::declval<code_t*>())),
                   decltype(L::pack_group(std::declval<std::uint32_t*>(), std::size_t{}, std::size_t{}, std::size_t{},
                                          std::size_t{}, std::declval<const code_t*>()))>> : std::true_type {};
}  // namespace detail

/// True for types that model the layout concept above.
template <class L>
struct is_layout : detail::has_layout_members<L> {};

SQLLM_NAMESPACE_END
