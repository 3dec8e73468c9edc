// sqllm/cuda/error.cuh — CUDA runtime errors through sqllm's error policy:
// a failed call throws sqllm::error(errc::device_error) naming the call and
// CUDA's own error name and string. nvcc only (never in sqllm.hpp).
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "../config.hpp"
#include "../error.hpp"

SQLLM_NAMESPACE_BEGIN
namespace cuda {

/// Throws sqllm::error(errc::device_error) if `status` is not cudaSuccess;
/// `what` names the call ("cudaMemsetAsync", "lut_gemm launch", ...).
inline void check(cudaError_t status, const char* what) {
    if (status != cudaSuccess)
        detail::fail(errc::device_error, std::string(what) + " failed: " + cudaGetErrorName(status) + " (" +
                                             cudaGetErrorString(status) + ")");
}

/// Multiprocessors of the current device (what the launch plans size their grids for).
inline std::size_t current_sm_count() {
    int device = 0, sms = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
    return static_cast<std::size_t>(sms > 0 ? sms : 1);
}

}  // namespace cuda
SQLLM_NAMESPACE_END
