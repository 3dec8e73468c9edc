// sqllm/sqllm.hpp — the umbrella header of the CPU library.
//
// Include this, or the one-concept headers it lists. CUDA headers
// (sqllm/cuda/*.cuh) are never pulled in from here, nor is the optional I/O
// layer (sqllm/io/, target sqllm::io).
#pragma once

#include "config.hpp"
#include "error.hpp"

#include "types/bfloat16.hpp"
#include "types/half.hpp"
#include "types/lut_value.hpp"

#include "core/bits.hpp"
#include "core/executor.hpp"
#include "core/executor_ref.hpp"
#include "core/span.hpp"
#include "core/stop_token.hpp"
#include "core/thread_pool.hpp"

#include "target/cpu.hpp"
#include "target/dispatch.hpp"
#include "target/tags.hpp"

#include "layout/concept.hpp"
#include "layout/gpu.hpp"
#include "layout/pack.hpp"
#include "layout/reference.hpp"
#include "layout/striped.hpp"

#include "sparse/csr.hpp"
#include "sparse/format.hpp"
#include "sparse/none.hpp"

#include "matrix/dequantize.hpp"
#include "matrix/quantized_matrix.hpp"

#include "format/reference_checkpoint.hpp"

#include "quantize/kmeans_exact.hpp"
#include "quantize/kmeans_lloyd.hpp"
#include "quantize/nearest.hpp"
#include "quantize/outliers.hpp"
#include "quantize/quantize.hpp"
#include "quantize/sensitivity.hpp"
#include "quantize/uniform.hpp"

#include "kernels/dense.hpp"
#include "kernels/gemm.hpp"
#include "kernels/gemv.hpp"
#include "kernels/reference.hpp"
#include "runtime/linear.hpp"
