// bench/operands.hpp — what the kernel benchmarks multiply: random values,
// the paper's sparse part, and the names LUT value types get in benchmark
// names (bench/report.py and bench/ggml_report.py parse them).
#pragma once

#include <sqllm/sparse/csr_arrays.hpp>
#include <sqllm/types/bfloat16.hpp>
#include <sqllm/types/half.hpp>
#include <sqllm/types/lut_value.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

/// The sparse part's density: the paper's 0.05 % sensitive values + 0.40 % outliers.
constexpr double sparse_density = 0.0045;

/// n values drawn from N(0, scale²).
inline std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

/// A rows × cols CSR of uniformly spread nonzeros at sparse_density (the
/// reference's with Value = float, Index = int32).
template <class Value = float, class Index = std::int32_t>
sqllm::csr_storage<Value, Index> random_csr(std::size_t rows, std::size_t cols) {
    std::mt19937_64 rng(7);
    std::bernoulli_distribution keep(sparse_density);
    std::normal_distribution<float> d(0.0f, 0.1f);
    sqllm::csr_storage<Value, Index> s;
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < cols; ++c)
            if (keep(rng)) s.push_back(c, sqllm::lut_value_traits<Value>::from_float(d(rng)));
        s.end_row();
    }
    return s;
}

template <class Lut>
const char* lut_name();
template <>
inline const char* lut_name<float>() { return "fp32"; }
template <>
inline const char* lut_name<sqllm::half>() { return "fp16"; }
template <>
inline const char* lut_name<sqllm::bfloat16>() { return "bf16"; }
