// sqllm/kernels/argmin.hpp — the result type of the quantizer's argmin scan
// (driver/argmin.inl), shared by every target.
#pragma once

#include <cstddef>

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {

/// A minimum value and where it was found.
struct argmin_result {
    double value;
    std::size_t index;
};

}  // namespace detail
SQLLM_NAMESPACE_END
