// The run-time-typed layer's models of one code width (SQLLM_RUNTIME_WIDTH,
// set per object by CMakeLists.txt): explicit instantiations of
// linear_model<Width, Lut, Sparse> for every LUT type and sparse format.
// One object per width, so a parallel build compiles the widths at once.
#define SQLLM_BUILDING_RUNTIME 1
#include <sqllm/runtime/linear_impl.hpp>

#ifndef SQLLM_RUNTIME_WIDTH
#error "SQLLM_RUNTIME_WIDTH (1..8) must be defined"
#endif

SQLLM_NAMESPACE_BEGIN
#define SQLLM_RUNTIME_DEFINE_MODEL(B, L, S) template class detail::linear_model<B, L, S>;
SQLLM_RUNTIME_MODELS_OF_WIDTH(SQLLM_RUNTIME_DEFINE_MODEL, SQLLM_RUNTIME_WIDTH)
SQLLM_NAMESPACE_END
