// bench/interleaved/side_impl.cpp — compiled once per source tree (see
// side.hpp), with -DSIDE=a or -DSIDE=b and -I<tree>/include -I<tree>/bench.
#include "side.hpp"

#include <sqllm/sqllm.hpp>

#include <random>
#include <type_traits>
#include <vector>

#if __has_include(<sqllm/core/thread_pool.hpp>)
#include <sqllm/core/thread_pool.hpp>
using pool_executor = sqllm::thread_pool;
#else  // a tree from before sqllm::thread_pool: its bench/pool_executor.hpp
#include "pool_executor.hpp"
#endif

#ifndef SQLLM_ABI  // a tree from before the backend seam (no target_id, no dense kernels)
#include "yardstick.hpp"
#endif

#define SIDE_FN_(s) side_##s
#define SIDE_FN(s) SIDE_FN_(s)

namespace {

const pool_executor& pool(int threads) {
    static pool_executor one(1), two(2);
    return threads == 1 ? one : two;
}

struct any_matrix {
    virtual ~any_matrix() = default;
    virtual void multiply(std::size_t i, const float* X, float* Y, std::size_t batch, int threads) = 0;
};

template <int Bits, class Lut, class Sparse>
struct matrix final : any_matrix {
    using M = sqllm::quantized_matrix<Bits, Lut, Sparse, sqllm::striped_layout<Bits>>;
    std::vector<M> copies;
    std::size_t rows, cols;

    matrix(std::size_t r, std::size_t c, std::size_t n) : rows(r), cols(c) {
        std::mt19937_64 rng(3);  // the same matrix on both sides
        std::vector<std::uint32_t> words(sqllm::striped_layout<Bits>::word_count(r, c));
        for (auto& w : words) w = static_cast<std::uint32_t>(rng());
        std::normal_distribution<float> d(0.0f, 0.02f);
        std::vector<Lut> lut(r << Bits);
        for (auto& v : lut) v = sqllm::lut_value_traits<Lut>::from_float(d(rng));
        typename M::sparse_storage sparse;
        if constexpr (!std::is_same<Sparse, sqllm::no_sparse>::value) {
            std::bernoulli_distribution keep(0.0045);
            for (std::size_t i = 0; i < r; ++i) {
                for (std::size_t j = 0; j < c; ++j)
                    if (keep(rng)) sparse.push_back(j, d(rng));
                sparse.end_row();
            }
        }
        const M one(r, c, lut, words, sparse);
        copies.assign(n, one);
    }
    void multiply(std::size_t i, const float* X, float* Y, std::size_t batch, int threads) override {
        const auto W = copies[i % copies.size()].view();
        if (batch == 1)
            sqllm::gemv(W, sqllm::span<const float>(X, cols), sqllm::span<float>(Y, rows), pool(threads));
        else
            sqllm::gemm(W, {X, batch, cols}, {Y, batch, rows}, pool(threads));
    }
};

template <class Lut, class Sparse>
any_matrix* make_bits(int bits, std::size_t r, std::size_t c, std::size_t n) {
    if (bits == 2) return new matrix<2, Lut, Sparse>(r, c, n);
    if (bits == 3) return new matrix<3, Lut, Sparse>(r, c, n);
    if (bits == 8) return new matrix<8, Lut, Sparse>(r, c, n);
    return new matrix<4, Lut, Sparse>(r, c, n);
}

void* make(int bits, int lut, bool sparse, std::size_t r, std::size_t c, std::size_t n) {
    if (sparse) return lut ? make_bits<sqllm::half, sqllm::csr<>>(bits, r, c, n) : make_bits<float, sqllm::csr<>>(bits, r, c, n);
    return lut ? make_bits<sqllm::half, sqllm::no_sparse>(bits, r, c, n) : make_bits<float, sqllm::no_sparse>(bits, r, c, n);
}
void destroy(void* m) { delete static_cast<any_matrix*>(m); }
void multiply(void* m, std::size_t i, const float* X, float* Y, std::size_t batch, int threads) {
    static_cast<any_matrix*>(m)->multiply(i, X, Y, batch, threads);
}

void fp32(const float* W, std::size_t r, std::size_t c, const float* X, float* Y, std::size_t batch, int threads) {
#ifdef SQLLM_ABI
    if (batch == 1)
        sqllm::dense_gemv({W, r, c}, sqllm::span<const float>(X, c), sqllm::span<float>(Y, r), pool(threads));
    else
        sqllm::dense_gemm({W, r, c}, {X, batch, c}, {Y, batch, r}, pool(threads));
#else
    if (batch == 1)
        yardstick::fp32_gemv(sqllm::best_isa(), W, r, c, X, Y, pool(threads));
    else if (sqllm::best_isa() == sqllm::isa::avx512)
        yardstick::fp32_gemm<sqllm::isa::avx512>(W, r, c, {X, batch, c}, {Y, batch, r}, pool(threads));
    else
        yardstick::fp32_gemm<sqllm::isa::avx2>(W, r, c, {X, batch, c}, {Y, batch, r}, pool(threads));
#endif
}

}  // namespace

side_api SIDE_FN(SIDE)() {
#ifdef SQLLM_ABI
    const char* target = sqllm::to_string(sqllm::best_target());
#else
    const char* target = sqllm::isa_name(sqllm::best_isa());
#endif
    return {target, &make, &destroy, &multiply, &fp32};
}
