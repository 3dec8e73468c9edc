// Shared helpers for sqllm's tests: seeded random matrices of every kind.
#pragma once

#include <cmath>

#include <sqllm/sqllm.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace sqllm_test {

/// v rounded to T (float, half or bfloat16) as a multiply's output would be.
template <class T>
std::vector<T> rounded(const std::vector<float>& v) {
    std::vector<T> out(v.size());
    sqllm::convert_array(v.data(), out.data(), v.size());
    return out;
}

/// True if a and b hold the same bytes (NaN payloads, signed zeros and all).
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

using rng_t = std::mt19937_64;

inline std::vector<float> random_normal(rng_t& rng, std::size_t n, float sigma = 1.0f) {
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v)
        x = d(rng);
    return v;
}

/// Laplacian weights with a few large outliers: what LLM rows look like.
inline std::vector<float> random_weights(rng_t& rng, std::size_t n) {
    std::exponential_distribution<float> e(30.0f);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) {
        x = (u(rng) < 0.5f ? -1.0f : 1.0f) * e(rng);
        if (u(rng) < 0.003f) x *= 12.0f;
    }
    return v;
}

/// Heavy-tailed positive sensitivities, like diagonal Fisher information.
inline std::vector<float> random_sensitivity(rng_t& rng, std::size_t n) {
    std::lognormal_distribution<float> d(-6.0f, 2.0f);
    std::vector<float> v(n);
    for (auto& x : v)
        x = d(rng);
    return v;
}

inline std::vector<sqllm::code_t> random_codes(rng_t& rng, std::size_t n, int bits) {
    std::uniform_int_distribution<int> d(0, (1 << bits) - 1);
    std::vector<sqllm::code_t> v(n);
    for (auto& x : v)
        x = static_cast<sqllm::code_t>(d(rng));
    return v;
}

/// Random LUT entries already representable in Lut.
template <class Lut>
std::vector<Lut> random_lut(rng_t& rng, std::size_t rows, int levels) {
    std::normal_distribution<float> d(0.0f, 0.05f);
    std::vector<Lut> v(rows * static_cast<std::size_t>(levels));
    for (auto& x : v)
        x = sqllm::lut_value_traits<Lut>::from_float(d(rng));
    return v;
}

/// A random CSR with about `density` of the entries, sorted columns, values in Value.
template <class Value, class Index>
sqllm::csr_storage<Value, Index> random_csr(rng_t& rng, std::size_t rows, std::size_t cols, double density) {
    std::bernoulli_distribution keep(density);
    std::normal_distribution<float> d(0.0f, 0.5f);
    sqllm::csr_storage<Value, Index> s;
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < cols; ++c)
            if (keep(rng)) s.push_back(c, sqllm::lut_value_traits<Value>::from_float(d(rng)));
        s.end_row();
    }
    return s;
}

/// γ_m = m·u / (1 − m·u), u = 2^-24: the float32 bound on summing m terms
/// (|error| <= γ_m · Σ|terms|, Higham §3.1).
inline double gamma(std::size_t m) {
    const double u = std::ldexp(1.0, -24);
    return static_cast<double>(m) * u / (1.0 - static_cast<double>(m) * u);
}

/// Requires that f() throws sqllm::error with the given code.
template <class F>
bool throws_code(F&& f, sqllm::errc code) {
    try {
        f();
    } catch (const sqllm::error& e) {
        return e.code() == code;
    }
    return false;
}

}  // namespace sqllm_test
