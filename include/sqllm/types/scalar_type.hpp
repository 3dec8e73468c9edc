// sqllm/types/scalar_type.hpp — the value types (fp32, fp16, bf16) named at
// run time, and conversion of arrays between them.
//
// Engines choose activation, output, LUT and bias types when they load a
// model, not when they compile; code compiled once for every choice (the
// run-time-typed layer, runtime/linear.hpp) carries the type as a
// scalar_type and converts arrays with convert_array, so only the fp32
// kernels are instantiated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../config.hpp"
#include "bfloat16.hpp"
#include "half.hpp"
#include "lut_value.hpp"

SQLLM_NAMESPACE_BEGIN

/// A value type named at run time: float, sqllm::half or sqllm::bfloat16.
enum class scalar_type : std::uint8_t { f32, f16, bf16 };

/// "f32", "f16", "bf16".
inline const char* to_string(scalar_type t) noexcept {
    switch (t) {
        case scalar_type::f32: return "f32";
        case scalar_type::f16: return "f16";
        case scalar_type::bf16: return "bf16";
    }
    return "?";
}

/// Bytes of one value.
inline std::size_t size_of(scalar_type t) noexcept { return t == scalar_type::f32 ? 4 : 2; }

/// The scalar_type of float, half or bfloat16.
template <class T>
struct scalar_type_of;
template <>
struct scalar_type_of<float> : std::integral_constant<scalar_type, scalar_type::f32> {};
template <>
struct scalar_type_of<half> : std::integral_constant<scalar_type, scalar_type::f16> {};
template <>
struct scalar_type_of<bfloat16> : std::integral_constant<scalar_type, scalar_type::bf16> {};

/// An activation batch of any value type, named at run time (row j at data + j · stride values).
struct activation_ref {
    const void* data = nullptr;
    scalar_type type = scalar_type::f32;
    std::size_t rows = 0, cols = 0, stride = 0;
};

/// An output batch of any value type, named at run time.
struct output_ref {
    void* data = nullptr;
    scalar_type type = scalar_type::f32;
    std::size_t rows = 0, cols = 0, stride = 0;
};

/// Calls f(T{}) with T the type t names (float, half or bfloat16).
template <class F>
decltype(auto) with_scalar_type(scalar_type t, F&& f) {
    switch (t) {
        case scalar_type::f16: return f(half{});
        case scalar_type::bf16: return f(bfloat16{});
        case scalar_type::f32: break;
    }
    return f(float{});
}

/// dst[i] = src[i] converted (round to nearest even when narrowing), i < n.
template <class From, class To>
void convert_array(const From* src, To* dst, std::size_t n) noexcept {
    static_assert(is_lut_value<From>::value && is_lut_value<To>::value, "float, sqllm::half or sqllm::bfloat16");
    for (std::size_t i = 0; i < n; ++i)
        dst[i] = lut_value_traits<To>::from_float(lut_value_traits<From>::to_float(src[i]));
}

/// The value at src[i] of an array of type t, as float.
inline float load_as_float(const void* src, scalar_type t, std::size_t i) noexcept {
    switch (t) {
        case scalar_type::f16: return static_cast<const half*>(src)[i].to_float();
        case scalar_type::bf16: return static_cast<const bfloat16*>(src)[i].to_float();
        case scalar_type::f32: break;
    }
    return static_cast<const float*>(src)[i];
}

SQLLM_NAMESPACE_END
