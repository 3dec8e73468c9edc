// Nonzero-balanced CSR: the split multiply against float64 on odd shapes,
// empty rows, one row holding most of the nonzeros (cut by many task ranges),
// no nonzeros at all, enough nonzeros for many tasks, every executor and
// batch size; validation, import and quantization as csr.
//
// Tolerance: a row r with n = nnz_r stored entries computes, in float,
// y0 + Σ v·x — one rounding per product and one per addition. Recursive
// summation gives |error| <= γ_{n+1} · (|y0| + Σ|v·x|) with γ_m = m·u / (1 − m·u),
// u = 2^-24 (Higham, Accuracy and Stability, §3.1). A row cut by task ranges
// into k pieces sums each piece from 0 and adds the k partials to y0 in turn:
// a product in a piece of m entries passes through 1 + (m − 1) + k roundings,
// and m + k <= n + 1 since the other k − 1 pieces hold at least one entry each,
// so the same γ_{n+1} holds. We use γ_{n+2}: the float64 oracle (products of
// floats are exact in double, its sum errs by ~n·2^-53 relative) needs far
// less than the extra u of slack.
#include <sqllm/sqllm.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

using namespace sqllm;
using sqllm_test::gamma;
using sqllm_test::rng_t;
using sqllm_test::throws_code;

namespace {

/// Runs tasks last to first: results must not depend on the scheduling order.
struct reverse_executor {
    std::size_t concurrency() const noexcept { return 5; }
    template <class F>
    void bulk(std::size_t n, F&& f) const {
        for (std::size_t i = n; i-- > 0;)
            f(i);
    }
};

struct csr_case {
    std::size_t rows, cols;
    double density;                                            ///< of ordinary rows
    std::size_t heavy_row = std::numeric_limits<std::size_t>::max();  ///< fully dense row, if any
    std::size_t empty_every = 0;                               ///< every k-th row empty (0: none)
    std::size_t empty_begin = 0, empty_end = 0;                ///< a run of empty rows
};

template <class Value, class Index>
using balanced_traits = sparse_format_traits<balanced_csr<Value, Index>>;

template <class Value, class Index>
csr_storage<Value, Index> make_csr(rng_t& rng, const csr_case& k) {
    std::bernoulli_distribution keep(k.density);
    std::normal_distribution<float> d(0.0f, 0.5f);
    csr_storage<Value, Index> s;
    for (std::size_t r = 0; r < k.rows; ++r) {
        const bool empty = (k.empty_every && r % k.empty_every == 1) || (r >= k.empty_begin && r < k.empty_end);
        for (std::size_t c = 0; c < k.cols && !empty; ++c)
            if (r == k.heavy_row || keep(rng)) s.push_back(c, lut_value_traits<Value>::from_float(d(rng)));
        s.end_row();
    }
    return s;
}

template <class Value, class Index>
double value_of(const csr_view<Value, Index>& s, std::size_t i) {
    return lut_value_traits<Value>::to_float(s.values[i]);
}

/// Split gemv and gemm of one CSR against float64, on every executor and batch size.
template <class Value, class Index>
void check_split(rng_t& rng, const csr_case& k) {
    const auto storage = make_csr<Value, Index>(rng, k);
    using T = balanced_traits<Value, Index>;
    const csr_view<Value, Index> s = storage.view();
    T::validate(s, k.rows, k.cols);
    const std::size_t rows = k.rows, cols = k.cols;
    for (std::size_t batch : {1u, 2u, 5u, 17u}) {
        // Strided X and Y: padding must stay untouched.
        const std::size_t ldx = cols + 2, ldy = rows + 3;
        const auto X = sqllm_test::random_normal(rng, batch * ldx);
        const auto Y0 = sqllm_test::random_normal(rng, batch * ldy);  // accumulated into, not overwritten
        std::vector<double> exact(batch * rows), mag(batch * rows);
        std::vector<std::size_t> nnz_row(rows);
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t r = 0; r < rows; ++r) {
                double e = Y0[b * ldy + r], m = std::fabs(e);
                const std::size_t i0 = s.row_ptr.empty() ? 0 : static_cast<std::size_t>(s.row_ptr[r]);
                const std::size_t i1 = s.row_ptr.empty() ? 0 : static_cast<std::size_t>(s.row_ptr[r + 1]);
                for (std::size_t i = i0; i < i1; ++i) {
                    const double t = value_of(s, i) * X[b * ldx + static_cast<std::size_t>(s.col_idx[i])];
                    e += t;
                    m += std::fabs(t);
                }
                exact[b * rows + r] = e;
                mag[b * rows + r] = m;
                nnz_row[r] = i1 - i0;
            }
        auto run = [&](const auto& exec, const char* name) {
            std::vector<float> Y = Y0;
            if (batch == 1)
                T::gemv_split(s, X.data(), Y.data(), exec);
            else
                T::gemm_split(s, matrix_view<const float>(X.data(), batch, cols, ldx),
                              matrix_view<float>(Y.data(), batch, rows, ldy), exec);
            for (std::size_t b = 0; b < batch; ++b) {
                for (std::size_t r = 0; r < rows; ++r) {
                    INFO(rows << "x" << cols << " nnz " << T::nonzeros(s) << " batch " << batch << " row " << r << " "
                              << name);
                    REQUIRE(std::fabs(Y[b * ldy + r] - exact[b * rows + r]) <=
                            gamma(nnz_row[r] + 2) * mag[b * rows + r]);
                }
                for (std::size_t p = rows; p < ldy; ++p)
                    REQUIRE(Y[b * ldy + p] == Y0[b * ldy + p]);
            }
            // Batch column b is the split gemv of X's row b, bit for bit.
            if (batch > 1)
                for (std::size_t b = 0; b < batch; b += batch - 1) {
                    std::vector<float> y(Y0.begin() + static_cast<std::ptrdiff_t>(b * ldy),
                                         Y0.begin() + static_cast<std::ptrdiff_t>(b * ldy + rows));
                    T::gemv_split(s, X.data() + b * ldx, y.data(), exec);
                    REQUIRE(std::equal(y.begin(), y.end(), Y.begin() + static_cast<std::ptrdiff_t>(b * ldy)));
                }
            return Y;
        };
        run(sequential_executor{}, "sequential");
        run(thread_executor(1), "threads 1");
        run(thread_executor(2), "threads 2");
        run(thread_executor(3), "threads 3");
        run(thread_executor(7), "threads 7");
        // Same concurrency, same tasks: the order they run in changes nothing.
        REQUIRE(run(reverse_executor{}, "reverse") == run(thread_executor(5), "threads 5"));
    }
}

}  // namespace

TEST_CASE("balanced_csr is csr with another multiply schedule", "[balanced_csr]") {
    using traits = sparse_format_traits<balanced_csr<>>;
    STATIC_REQUIRE(std::is_same<balanced_csr<>, csr<float, std::int32_t, csr_schedule::nonzeros>>::value);
    STATIC_REQUIRE(std::is_same<traits::view, csr_view<float, std::int32_t>>::value);
    STATIC_REQUIRE(std::is_same<traits::storage, csr_storage<float, std::int32_t>>::value);
    STATIC_REQUIRE(is_sparse_format<balanced_csr<half, std::int64_t>>::value);
    STATIC_REQUIRE(!traits::row_fused);
    STATIC_REQUIRE(sparse_format_traits<csr<>>::row_fused);
    STATIC_REQUIRE(sparse_format_traits<no_sparse>::row_fused);
    REQUIRE(std::string(traits::name) == "balanced_csr");
}

TEST_CASE("split gemv and gemm match float64 within the summation bound", "[balanced_csr]") {
    rng_t rng(2024);
    const std::size_t none = std::numeric_limits<std::size_t>::max();
    const csr_case cases[] = {
        {1, 1, 1.0},
        {1, 1, 0.0},                      // rows but no nonzeros
        {7, 13, 0.3, none, 3},            // empty rows
        {300, 129, 0.0004, 17, 5},        // row 17 holds ~90% of the nonzeros
        {1000, 37, 0.1, none, 7, 400, 450},
        {3000, 37, 0.6, none, 11, 1000, 1100},  // ~60k: many tasks, many cut rows
        {40, 60000, 0.0028, 9, 4},        // ~66k, row 9 holds 90%: cut by most task ranges
        {1, 70001, 0.9},                  // one row, every task shares it
        {5000, 200, 0.06, none, 3, 100, 500},
    };
    for (const auto& k : cases)
        check_split<float, std::int32_t>(rng, k);
    // Other value and index types.
    check_split<half, std::int64_t>(rng, {2000, 61, 0.5, 1999, 6});
    check_split<bfloat16, std::int32_t>(rng, {3, 30000, 0.7, 1});
}

TEST_CASE("split multiply of an empty CSR is a no-op", "[balanced_csr]") {
    using T = sparse_format_traits<balanced_csr<>>;
    const csr_storage<> empty;
    const auto s = empty.view();
    T::validate(s, 4, 3);
    REQUIRE(T::nonzeros(s) == 0);
    REQUIRE(T::storage_bytes(s) == 0);
    const std::vector<float> x = {1, 2, 3};
    std::vector<float> y = {1, -2, 3, -4};
    const auto y0 = y;
    T::gemv_split(s, x.data(), y.data(), thread_executor(3));
    T::gemm_split(s, matrix_view<const float>(x.data(), 1, 3), matrix_view<float>(y.data(), 1, 4),
                  sequential_executor{});
    REQUIRE(y == y0);
}

TEST_CASE("balanced_csr validates, counts and dequantizes as csr", "[balanced_csr]") {
    using B = sparse_format_traits<balanced_csr<>>;
    using C = sparse_format_traits<csr<>>;
    rng_t rng(7);
    const auto c = sqllm_test::random_csr<float, std::int32_t>(rng, 20, 30, 0.2);
    const auto s = c.view();
    B::validate(s, 20, 30);
    REQUIRE(B::nonzeros(s) == C::nonzeros(s));
    REQUIRE(B::storage_bytes(s) == C::storage_bytes(s));
    REQUIRE(throws_code([&] { B::validate(s, 21, 30); }, errc::corrupt_data));  // row pointer count
    REQUIRE(throws_code([&] { B::validate(s, 20, 5); }, errc::out_of_range));   // column outside the matrix
    auto bad = c;
    REQUIRE(bad.row_ptr[3] > 0);
    bad.row_ptr[4] = bad.row_ptr[3] - 1;  // decreasing row pointers
    REQUIRE(throws_code([&] { B::validate(bad.view(), 20, 30); }, errc::corrupt_data));

    // Row-range forms equal csr's; add_to_dense too.
    const auto x = sqllm_test::random_normal(rng, 30);
    std::vector<float> a(20, 1.0f), b(20, 1.0f), wa(600, 0.0f), wb(600, 0.0f);
    B::gemv_rows(s, x.data(), a.data(), 3, 17);
    C::gemv_rows(s, x.data(), b.data(), 3, 17);
    REQUIRE(a == b);
    B::add_to_dense(s, matrix_view<float>(wa.data(), 20, 30));
    C::add_to_dense(s, matrix_view<float>(wb.data(), 20, 30));
    REQUIRE(wa == wb);
}

TEST_CASE("balanced_csr imports, exports and loads like csr", "[balanced_csr]") {
    rng_t rng(8);
    const std::size_t rows = 19, cols = 77;
    const auto codes = sqllm_test::random_codes(rng, rows * cols, 3);
    const quantized_matrix<3, half, csr<>> q(rows, cols, sqllm_test::random_lut<half>(rng, rows, 8),
                                             pack_codes<default_layout<3>>({codes.data(), rows, cols}),
                                             sqllm_test::random_csr<float, std::int32_t>(rng, rows, cols, 0.05));
    const reference_checkpoint ck = export_reference(q.view());
    const reference_arrays<float> arrays{ck.qweight, ck.lookup_table, ck.sparse_rows, ck.sparse_cols, ck.sparse_vals};
    const auto b = import_reference<3, half, balanced_csr<>>(rows, cols, arrays);
    const auto br = import_reference<3, half, balanced_csr<>, reference_layout<3>>(rows, cols, arrays);
    REQUIRE(b.sparse().col_idx == q.sparse().col_idx);
    REQUIRE(b.sparse().row_ptr == q.sparse().row_ptr);
    REQUIRE(dequantize<double>(b.view()) == dequantize<double>(q.view()));
    REQUIRE(dequantize<double>(br.view()) == dequantize<double>(q.view()));
    const reference_checkpoint back = export_reference(b.view());
    REQUIRE(back.sparse_rows == ck.sparse_rows);
    REQUIRE(back.sparse_cols == ck.sparse_cols);
    REQUIRE(back.sparse_vals == ck.sparse_vals);
    REQUIRE(back.qweight == ck.qweight);
}

TEST_CASE("quantize with balanced_csr gives csr's matrix", "[balanced_csr]") {
    rng_t rng(31);
    const std::size_t rows = 48, cols = 300;
    const auto W = sqllm_test::random_weights(rng, rows * cols);
    const auto S = sqllm_test::random_sensitivity(rng, rows * cols);
    quantize_options o;
    o.sparse.sensitive_fraction = 0.005;
    o.sparse.outlier_fraction = 0.01;
    const matrix_view<const float> Wv(W.data(), rows, cols), Sv(S.data(), rows, cols);
    const auto qb = quantize<3, float, balanced_csr<>>(Wv, Sv, o);
    const auto qc = quantize<3, float, csr<>>(Wv, Sv, o);
    REQUIRE(qb.view().nonzeros() > 0);
    REQUIRE(qb.view().nonzeros() == qc.view().nonzeros());
    REQUIRE(qb.storage_bytes() == qc.storage_bytes());
    REQUIRE(dequantize<double>(qb.view()) == dequantize<double>(qc.view()));
    REQUIRE(dequantize<float>(qb.view()) == dequantize<float>(qc.view()));
}
