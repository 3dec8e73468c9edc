// The non-template parts of the run-time-typed layer and of model_file
// (runtime/*_impl.hpp), compiled once. The models themselves are declared
// extern there and defined in models.cpp, one object per code width.
#define SQLLM_RUNTIME_SOURCE 1
#include <sqllm/runtime/linear_impl.hpp>
#include <sqllm/runtime/model_file_impl.hpp>
