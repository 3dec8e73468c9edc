// sqllm/kernels/driver/entry.inl — the entry points of one target's kernels,
// gathered in one struct so that generic code reaches them through the tag
// (kernels/per_target.hpp: impl_of<Tag>). Calls into a target cross a
// function boundary here, once per task, never inside a loop.
struct entry {
    template <int Bits, class Lut>
    SQLLM_NOINLINE static void striped_gemv(const std::uint32_t* words, const Lut* lut, std::size_t /*rows*/, std::size_t cols,
                             const float* x, float* y, std::size_t b, std::size_t e) noexcept {
        striped_gemv_rows<Bits, Lut>(words, lut, cols, x, y, b, e);
    }
    template <int Bits, class Lut>
    SQLLM_NOINLINE static void striped_gemm(const std::uint32_t* words, const Lut* lut, std::size_t /*rows*/, std::size_t cols,
                             matrix_view<const float> X, matrix_view<float> Y, std::size_t b, std::size_t e) noexcept {
        striped_gemm_rows<Bits, Lut>(words, lut, cols, X, Y, b, e);
    }
    /// The approximate int8 path (driver/int8.inl; kernels/gemm_int8.hpp): X8, D, Q the quantized batch.
    template <int Bits, class Lut>
    SQLLM_NOINLINE static void striped_int8(const std::uint32_t* words, const Lut* lut, std::size_t cols,
                                            matrix_view<const std::int8_t> X8, matrix_view<const float> D,
                                            const float* Q, matrix_view<float> Y, std::size_t b, std::size_t e) noexcept {
        int8_gemm_rows<Bits, Lut>(words, lut, cols, X8, D, Q, Y, b, e);
    }
    template <int Bits, class Lut>
    SQLLM_NOINLINE static void row_lanes_gemv(const std::uint32_t* words, const Lut* lut, std::size_t rows, std::size_t cols,
                               const float* x, float* y, std::size_t b, std::size_t e) noexcept {
        row_lanes_gemv_rows<Bits, Lut>(words, lut, rows, cols, x, y, b, e);
    }
    template <int Bits, class Lut>
    SQLLM_NOINLINE static void row_lanes_gemm(const std::uint32_t* words, const Lut* lut, std::size_t rows, std::size_t cols,
                               matrix_view<const float> X, matrix_view<float> Y, std::size_t b, std::size_t e) noexcept {
        row_lanes_gemm_rows<Bits, Lut>(words, lut, rows, cols, X, Y, b, e);
    }
    SQLLM_NOINLINE static void dense_gemv(matrix_view<const float> W, const float* x, float* y, std::size_t b, std::size_t e) noexcept {
        dense_gemv_rows(W, x, y, b, e);
    }
    SQLLM_NOINLINE static void dense_gemm(matrix_view<const float> W, matrix_view<const float> X, matrix_view<float> Y,
                           std::size_t b, std::size_t e) noexcept {
        dense_gemm_rows(W, X, Y, b, e);
    }
    SQLLM_NOINLINE static detail::argmin_result argmin(const double* E, const double* P0, const double* P1, double p0j, double p1j,
                                        double wmin, std::size_t lo, std::size_t hi) noexcept {
        return split_argmin(E, P0, P1, p0j, p1j, wmin, lo, hi);
    }
};
