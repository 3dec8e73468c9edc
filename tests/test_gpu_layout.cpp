// The CUDA target's host-side logic, on the CPU (no GPU needed): the GPU
// layout's decoding functions that the kernels run (layout/gpu.hpp,
// SQLLM_HOST_DEVICE), walked exactly as lut_gemm_kernel walks a row, against
// the codes; conversion into and out of the layout; the scalar oracle on it;
// and every launch-parameter computation (cuda/launch_plan.hpp).
#include <sqllm/cuda/launch_plan.hpp>
#include <sqllm/sqllm.hpp>

#include <cmath>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

using namespace sqllm;
using sqllm_test::rng_t;

namespace {

template <class F>
bool throws_code(errc code, F&& f) {
    return sqllm_test::throws_code(f, code);
}

const std::size_t odd_cols[] = {1, 5, 31, 32, 255, 256, 257, 700, 1000, 1024, 1025, 1300, 2047, 2816, 4096};

/// Walks row r as the kernel does: per block, per lane < L, the lane's Bits
/// plane words, then slots 0..31 through slot_code at slot_column. Every
/// column must be visited once with its code; padding slots hold 0.
template <int Bits>
void check_kernel_walk(const std::vector<std::uint32_t>& words, const std::vector<code_t>& codes, std::size_t rows,
                       std::size_t cols) {
    using L = gpu_layout<Bits>;
    const std::size_t padded = L::padded_cols(cols), rw = L::row_words(padded);
    REQUIRE(padded % 256 == 0);
    REQUIRE(padded >= cols);
    REQUIRE(padded - cols < 256);
    REQUIRE(rw == L::words_per_row(cols));
    REQUIRE(words.size() == rows * rw);
    for (std::size_t r = 0; r < rows; ++r) {
        std::vector<int> seen(padded, 0);
        const std::uint32_t* row = words.data() + r * rw;
        for (std::size_t blk = 0; blk < L::blocks(padded); ++blk) {
            const std::size_t c0 = blk * L::block_cols, nl = L::block_lanes(padded, c0);
            REQUIRE((nl == 8 || nl == 16 || nl == 24 || nl == 32));
            for (std::size_t lane = 0; lane < nl; ++lane) {
                std::uint32_t w[Bits];
                for (int m = 0; m < Bits; ++m) {
                    const std::size_t off = L::word_offset(c0, nl, lane, m);
                    REQUIRE(off < rw);
                    w[m] = row[off];
                }
                for (int t = 0; t < 32; ++t) {
                    const std::size_t c = L::slot_column(c0, nl, lane, static_cast<std::size_t>(t));
                    REQUIRE(c < padded);
                    ++seen[c];
                    const std::uint32_t code = L::slot_code(w, t);
                    if (c < cols) {
                        REQUIRE(code == codes[r * cols + c]);
                        REQUIRE(code == L::get(words.data(), rows, cols, r, c));
                    } else {
                        REQUIRE(code == 0);  // padding
                    }
                }
                // The kernel stops a lane's runs at the first column past cols: later runs lie further right.
                for (int q = 1; q < 8; ++q)
                    REQUIRE(L::slot_column(c0, nl, lane, static_cast<std::size_t>(q * 4)) >
                            L::slot_column(c0, nl, lane, static_cast<std::size_t>(q * 4 - 1)));
            }
        }
        for (std::size_t c = 0; c < padded; ++c) REQUIRE(seen[c] == 1);
    }
}

template <int Bits>
void check_layout(rng_t& rng) {
    INFO("bits " << Bits);
    for (std::size_t cols : odd_cols) {
        INFO("cols " << cols);
        const std::size_t rows = 3;
        const auto codes = sqllm_test::random_codes(rng, rows * cols, Bits);
        const auto words = pack_codes<gpu_layout<Bits>>({codes.data(), rows, cols});
        check_kernel_walk<Bits>(words, codes, rows, cols);
        REQUIRE(unpack_codes<gpu_layout<Bits>>(words, rows, cols) == codes);
        // Lossless conversion from and to the CPU layouts (repack<To, From>), on 2 threads too.
        const auto striped = pack_codes<striped_layout<Bits>>({codes.data(), rows, cols});
        REQUIRE(repack<gpu_layout<Bits>, striped_layout<Bits>>(striped, rows, cols) == words);
        REQUIRE(repack<reference_layout<Bits>, gpu_layout<Bits>>(words, rows, cols) ==
                pack_codes<reference_layout<Bits>>({codes.data(), rows, cols}));
        REQUIRE(repack<gpu_layout<Bits>, striped_layout<Bits>>(striped, rows, cols, thread_executor(2)) == words);
    }
}

}  // namespace

TEST_CASE("gpu layout: the kernels' walk decodes every column once, conversions are lossless", "[gpu]") {
    rng_t rng(61);
    check_layout<1>(rng);
    check_layout<2>(rng);
    check_layout<3>(rng);
    check_layout<4>(rng);
    check_layout<5>(rng);
    check_layout<6>(rng);
    check_layout<7>(rng);
    check_layout<8>(rng);
}

TEST_CASE("gpu layout: documented placement", "[gpu]") {
    // 4 bits, one full block: lane l's slot t is column (t/4)·128 + 4l + t%4,
    // plane m of lane l is word m·32 + l.
    const std::size_t cols = 1024;
    std::vector<code_t> codes(cols);
    for (std::size_t c = 0; c < cols; ++c) codes[c] = static_cast<code_t>((c / 128) * 2 + (c % 4 == 3));
    const auto words = pack_codes<gpu_layout<4>>({codes.data(), 1, cols});
    REQUIRE(words.size() == 128);
    // lane 0, plane 0 holds slots 0..7: columns 0,1,2,3 (codes 0,0,0,1) and 128..131 (2,2,2,3).
    REQUIRE(words[0] == 0x32221000u);
    REQUIRE(words[5] == 0x32221000u);       // every lane alike
    REQUIRE(words[32 * 3 + 7] == 0xfeeedcccu);  // plane 3: slots 24..31, columns 768.., 896..
    // A narrow last block: 1280 columns = one block of 32 lanes + one of 8.
    REQUIRE(gpu_geometry::block_lanes(1280, 1024) == 8);
    REQUIRE(gpu_geometry::slot_column(1024, 8, 2, 5) == 1024 + 32 + 8 + 1);
}

TEST_CASE("gpu layout: the scalar oracle reads it as the default layout", "[gpu]") {
    rng_t rng(62);
    const std::size_t rows = 37, cols = 1300, batch = 3;
    const auto codes = sqllm_test::random_codes(rng, rows * cols, 3);
    const auto lut = sqllm_test::random_lut<half>(rng, rows, 8);
    const auto sparse = sqllm_test::random_csr<float, std::int32_t>(rng, rows, cols, 0.01);
    const quantized_matrix<3, half> a(rows, cols, lut, pack_codes<default_layout<3>>({codes.data(), rows, cols}),
                                      sparse);
    const quantized_matrix<3, half, csr<>, gpu_layout<3>> g(rows, cols, lut,
                                                            pack_codes<gpu_layout<3>>({codes.data(), rows, cols}),
                                                            sparse);
    const auto X = sqllm_test::random_normal(rng, batch * cols);
    std::vector<float> ya(batch * rows), yg(batch * rows);
    reference::gemm(a.view(), matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(ya.data(), batch, rows));
    reference::gemm(g.view(), matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(yg.data(), batch, rows));
    REQUIRE(ya == yg);
    // No CPU driver reads the GPU layout: the default target is the oracle.
    REQUIRE(kernel_target(g.view()) == target_id::scalar);
    gemm(g.view(), matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(yg.data(), batch, rows));
    REQUIRE(ya == yg);
    // A wrong word count is refused.
    REQUIRE(throws_code(errc::shape_mismatch, [&] {
        quantized_matrix<3, half, no_sparse, gpu_layout<3>>(
            rows, cols, lut, pack_codes<striped_layout<3>>({codes.data(), rows, 700}));
    }));
}

TEST_CASE("cuda launch plan", "[gpu]") {
    using cuda::mode;
    using cuda::plan_gemm;
    // H100-like: 132 SMs. 1024 rows give 8 warps per SM, under the 16 the
    // plan wants: 2 slices of 2 blocks.
    auto p = plan_gemm(1024, 4096, 3, 1, mode::fast, 132, false, false, false);
    REQUIRE(p.padded_cols == 4096);
    REQUIRE(p.row_words == 4096 / 32 * 3);
    REQUIRE(p.col_blocks == 4);
    REQUIRE(p.grid_rows == 256);
    REQUIRE(p.splits == 2);
    REQUIRE(p.blocks_per_split == 2);
    REQUIRE(p.batch_tile == 1);
    REQUIRE(p.shared_bytes == 4 * 8 * sizeof(float));
    REQUIRE(p.atomic);
    REQUIRE(p.accumulate_in_workspace);  // fp16 outputs: an fp32 accumulator
    REQUIRE(p.workspace_bytes == 1024 * sizeof(float));
    // fp32 outputs take the atomics directly.
    p = plan_gemm(1024, 4096, 3, 8, mode::fast, 132, true, false, false);
    REQUIRE(p.atomic);
    REQUIRE(!p.accumulate_in_workspace);
    REQUIRE(p.workspace_bytes == 0);
    REQUIRE(p.batch_tile == 8);
    // Deterministic: per-slice partials.
    p = plan_gemm(1024, 4096, 4, 32, mode::deterministic, 132, true, false, false);
    REQUIRE(!p.atomic);
    REQUIRE(p.partials);
    REQUIRE(p.workspace_bytes == 2 * 32 * 1024 * sizeof(float));
    REQUIRE(p.shared_bytes == 4 * 16 * sizeof(float));
    // Enough rows (4096 already: 31 warps per SM): one slice, direct writes,
    // no workspace in either mode.
    for (mode m : {mode::fast, mode::deterministic}) {
        p = plan_gemm(4096, 4096, 3, 1, m, 132, false, true, false);
        REQUIRE(p.splits == 1);
        REQUIRE(!p.atomic);
        REQUIRE(!p.partials);
        REQUIRE(p.workspace_bytes == 0);
        REQUIRE(p.fused_sparse);
    }
    // 11008 columns: 11 blocks (the last of 24 lanes); with 1500 rows, 2 slices of 6 and 5.
    p = plan_gemm(1500, 11008, 4, 1, mode::deterministic, 132, false, false, false);
    REQUIRE(p.padded_cols == 11008);
    REQUIRE(p.col_blocks == 11);
    REQUIRE(gpu_geometry::block_lanes(11008, 10240) == 24);
    REQUIRE(p.splits == 2);
    REQUIRE(p.blocks_per_split == 6);
    REQUIRE(plan_gemm(4096, 11008, 4, 1, mode::deterministic, 132, false, false, false).splits == 1);
    // Few rows, many columns: capped at 16 slices, each of ≥ 2 blocks.
    p = plan_gemm(8, 1 << 20, 2, 1, mode::fast, 132, true, false, false);
    REQUIRE(p.splits == 16);
    REQUIRE(p.blocks_per_split * p.splits >= p.col_blocks);
    p = plan_gemm(8, 3000, 2, 1, mode::fast, 132, true, false, false);
    REQUIRE(p.col_blocks == 3);
    REQUIRE(p.splits == 1);
    // Every slice has work: the grid never holds an empty slice.
    for (std::size_t rows : {1, 5, 64, 300, 5000})
        for (std::size_t cols : {1, 256, 1280, 5000, 40000}) {
            p = plan_gemm(rows, cols, 3, 5, mode::deterministic, 100, false, false, false);
            REQUIRE(p.splits >= 1);
            REQUIRE((p.splits - 1) * p.blocks_per_split < p.col_blocks);
            REQUIRE(p.splits * p.blocks_per_split >= p.col_blocks);
            REQUIRE(p.grid_rows * std::size_t{4} >= rows);
        }
    // Balanced CSR: its own pass in fast mode (atomics even with one slice), fused when deterministic.
    p = plan_gemm(28672, 8192, 3, 1, mode::fast, 132, false, true, true);
    REQUIRE(p.balanced_sparse_pass);
    REQUIRE(!p.fused_sparse);
    REQUIRE(p.atomic);
    REQUIRE(p.workspace_bytes == 28672 * sizeof(float));
    REQUIRE(p.sparse_threads == 132 * 1024);
    p = plan_gemm(28672, 8192, 3, 1, mode::deterministic, 132, false, true, true);
    REQUIRE(!p.balanced_sparse_pass);
    REQUIRE(p.fused_sparse);
    REQUIRE(p.workspace_bytes == 0);
    // Batch tiles.
    const std::size_t batches[] = {1, 2, 3, 4, 5, 8, 9, 64};
    const unsigned tiles[] = {1, 2, 4, 4, 8, 8, 8, 8};
    for (int i = 0; i < 8; ++i) REQUIRE(plan_gemm(64, 64, 3, batches[i], mode::fast, 1, true, false, false).batch_tile == tiles[i]);
    // Bad arguments.
    REQUIRE(throws_code(errc::invalid_argument, [] { plan_gemm(4, 4, 3, 0, mode::fast, 1, true, false, false); }));
    REQUIRE(throws_code(errc::invalid_argument, [] { plan_gemm(4, 4, 3, 65, mode::fast, 1, true, false, false); }));
    REQUIRE(throws_code(errc::invalid_argument, [] { plan_gemm(4, 4, 9, 1, mode::fast, 1, true, false, false); }));
    REQUIRE(throws_code(errc::invalid_argument,
                        [] { plan_gemm(4, 4, 3, 1, static_cast<mode>(7), 1, true, false, false); }));
    REQUIRE(throws_code(errc::out_of_range,
                        [] { plan_gemm(4, std::size_t(-1) - 3, 3, 1, mode::fast, 1, true, false, false); }));
    REQUIRE(throws_code(errc::out_of_range,
                        [] { plan_gemm(std::size_t(1) << 40, 256, 3, 1, mode::fast, 1, true, false, false); }));

}
