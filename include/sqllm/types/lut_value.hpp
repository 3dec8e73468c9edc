// sqllm/types/lut_value.hpp — traits of the types a LUT may store.
//
// A LUT value type is float, sqllm::half or sqllm::bfloat16. Kernels always
// compute in float; the traits say how to get there and back.
#pragma once

#include <type_traits>

#include "../config.hpp"
#include "bfloat16.hpp"
#include "half.hpp"

SQLLM_NAMESPACE_BEGIN

template <class T>
struct lut_value_traits;  // undefined: not a LUT value type

template <>
struct lut_value_traits<float> {
    static constexpr const char* name = "f32";
    static SQLLM_HOST_DEVICE float to_float(float v) { return v; }
    static SQLLM_HOST_DEVICE float from_float(float v) { return v; }
};

template <>
struct lut_value_traits<half> {
    static constexpr const char* name = "f16";
    static SQLLM_HOST_DEVICE float to_float(half v) { return v.to_float(); }
    static SQLLM_HOST_DEVICE half from_float(float v) { return half(v); }
};

template <>
struct lut_value_traits<bfloat16> {
    static constexpr const char* name = "bf16";
    static SQLLM_HOST_DEVICE float to_float(bfloat16 v) { return v.to_float(); }
    static SQLLM_HOST_DEVICE bfloat16 from_float(float v) { return bfloat16(v); }
};

/// True for the types a LUT may hold.
template <class T>
struct is_lut_value : std::integral_constant<bool, std::is_same<T, float>::value || std::is_same<T, half>::value ||
                                                       std::is_same<T, bfloat16>::value> {};

/// Rounds a float to the nearest value representable in T, returned as float.
template <class T>
SQLLM_HOST_DEVICE float round_to(float v) {
    return lut_value_traits<T>::to_float(lut_value_traits<T>::from_float(v));
}

SQLLM_NAMESPACE_END
