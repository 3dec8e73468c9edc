// Checkpoints as run-time-typed layers (runtime/model_file.hpp), through the
// compiled library (this test links sqllm::runtime, so it also checks that
// the library provides every model a checkpoint can ask for): each layer of
// a file written in either layout must multiply exactly as the matrix it was
// written from (the same kernels on the same codes, LUT and sparse part),
// plus its bias; a striped-layout layer must be a view of the file.
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/runtime/linear_impl.hpp>
#include <sqllm/runtime/model_file.hpp>
#include <sqllm/sqllm.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "catch.hpp"
#include "kernel_check.hpp"
#include "test_util.hpp"

using namespace sqllm;
using sqllm_test::rng_t;

namespace {

struct temp_file {
    std::string path;
    explicit temp_file(const std::string& name) : path("/tmp/sqllm_test_model_file_" + name + ".safetensors") {
        std::remove(path.c_str());
    }
    ~temp_file() { std::remove(path.c_str()); }
};

/// A layer written to the file and what it must compute.
struct layer_case {
    std::string name;
    std::size_t rows = 0, cols = 0;
    int bits = 0;
    std::function<std::vector<float>(const std::vector<float>&)> multiply;  // x → W·x + bias, fp32
};

template <int Bits, class Lut>
layer_case add_layer(rng_t& rng, io::safetensors_writer& out, const std::string& name, std::size_t rows,
                     std::size_t cols, bool sparse, io::dtype lut_type, io::checkpoint_layout layout,
                     io::dtype bias_type, bool bias) {
    using namespace sqllm_test;
    const auto codes = random_codes(rng, rows * cols, Bits);
    auto q = std::make_shared<quantized_matrix<Bits, Lut, csr<>>>(
        rows, cols, random_lut<Lut>(rng, rows, 1 << Bits), pack_codes<default_layout<Bits>>({codes.data(), rows, cols}),
        sparse ? random_sparse<csr<>>(rng, rows, cols) : csr_storage<float, std::int32_t>{});
    io::write_quantized(out, name, q->view(), lut_type, layout);
    auto b = std::make_shared<std::vector<float>>();
    if (bias) {
        const auto v = random_normal(rng, rows);
        if (bias_type == io::dtype::f16) {
            std::vector<half> h(rows);
            convert_array(v.data(), h.data(), rows);
            out.add<half>(name + ".bias", {rows}, h);
            b->resize(rows);
            convert_array(h.data(), b->data(), rows);
        } else {
            out.add<float>(name + ".bias", {rows}, v);
            *b = v;
        }
    }
    layer_case c;
    c.name = name;
    c.rows = rows;
    c.cols = cols;
    c.bits = Bits;
    c.multiply = [q, b](const std::vector<float>& x) {
        std::vector<float> y(q->rows());
        gemv(q->view(), span<const float>(x), span<float>(y));
        for (std::size_t r = 0; r < b->size(); ++r) y[r] += (*b)[r];
        return y;
    };
    return c;
}

std::vector<layer_case> write_model(const std::string& path, io::checkpoint_layout layout) {
    rng_t rng(1421);
    io::safetensors_writer out(path);
    std::vector<layer_case> cases;
    const bool striped = layout == io::checkpoint_layout::striped;
    cases.push_back(add_layer<3, float>(rng, out, "layers.0.q_proj", 37, 300, true, io::dtype::f32, layout,
                                        io::dtype::f32, true));
    cases.push_back(add_layer<4, half>(rng, out, "layers.0.k_proj", 19, 257, true, io::dtype::f16, layout,
                                       io::dtype::f16, true));
    cases.push_back(add_layer<2, float>(rng, out, "layers.0.v_proj", 5, 1000, false, io::dtype::f32, layout,
                                        io::dtype::f32, false));
    cases.push_back(add_layer<8, half>(rng, out, "layers.0.o_proj", 3, 33, false, io::dtype::f16, layout,
                                       io::dtype::f16, false));
    if (striped)
        cases.push_back(add_layer<5, bfloat16>(rng, out, "layers.0.up_proj", 11, 64, true, io::dtype::bf16, layout,
                                               io::dtype::f16, true));
    std::vector<float> norm(7, 1.0f);
    out.add<float>("layers.0.norm.weight", {7}, norm);
    out.finish();
    return cases;
}

}  // namespace

TEST_CASE("model_file loads every layer of either layout, and multiplies exactly as the written matrix") {
    for (auto layout : {io::checkpoint_layout::reference, io::checkpoint_layout::striped}) {
        INFO("layout " << io::to_string(layout));
        temp_file file(io::to_string(layout));
        const auto cases = write_model(file.path, layout);
        std::vector<linear> layers;
        {
            const model_file m = model_file::open(file.path);
            CHECK(m.layer_names().size() == cases.size());
            const thread_pool pool(2);
            for (const layer_case& c : cases) {
                REQUIRE(m.contains(c.name));
                CHECK(m.is_zero_copy(c.name) == (layout == io::checkpoint_layout::striped));
                if (!runtime_has_bits(c.bits)) {  // a build that leaves the width out says so
                    CHECK_THROWS_AS(m.load(c.name, pool), error);
                    layers.emplace_back();
                    continue;
                }
                layers.push_back(m.load(c.name, pool));
                if (layout == io::checkpoint_layout::reference)
                    CHECK_THROWS_AS(m.load(c.name, {}, load_options{sparse_kind::csr, true, true}), error);
            }
            CHECK_FALSE(m.contains("layers.0.norm"));
            CHECK_THROWS_AS(m.load("layers.0.norm"), error);
        }  // the layers outlive the model_file (and keep its mapping)
        rng_t rng(1422);
        const thread_pool pool(3);
        for (std::size_t i = 0; i < cases.size(); ++i) {
            const layer_case& c = cases[i];
            const linear& L = layers[i];
            if (L.empty()) continue;
            INFO(c.name);
            CHECK(L.rows() == c.rows);
            CHECK(L.cols() == c.cols);
            CHECK(L.bits() == c.bits);
            CHECK(L.info().zero_copy == (layout == io::checkpoint_layout::striped));
            const auto x = sqllm_test::random_normal(rng, c.cols);
            std::vector<float> y(c.rows);
            L.gemv(x, y, pool);
            const auto want = c.multiply(x);
            CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("model_file: balanced sparse schedule, no bias, and bad biases") {
    temp_file file("bias");
    rng_t rng(1423);
    {
        io::safetensors_writer out(file.path);
        using namespace sqllm_test;
        const auto codes = random_codes(rng, 6 * 70, 3);
        const quantized_matrix<3, float, csr<>> q(6, 70, random_lut<float>(rng, 6, 8),
                                                  pack_codes<default_layout<3>>({codes.data(), 6, 70}),
                                                  random_sparse<csr<>>(rng, 6, 70));
        for (const char* name : {"good", "short_bias", "int_bias", "nan_bias"})
            io::write_quantized(out, name, q.view(), io::dtype::f32, io::checkpoint_layout::striped);
        out.add<float>("good.bias", {6}, std::vector<float>(6, 0.5f));
        out.add<float>("short_bias.bias", {5}, std::vector<float>(5, 0.5f));
        out.add<std::int32_t>("int_bias.bias", {6}, std::vector<std::int32_t>(6, 1));
        out.add<float>("nan_bias.bias", {6}, std::vector<float>{0, 0, NAN, 0, 0, 0});
        out.finish();
    }
    const model_file m = model_file::open(file.path);
    const linear balanced = m.load("good", {}, load_options{sparse_kind::balanced_csr});
    CHECK(balanced.info().sparse == sparse_kind::balanced_csr);
    CHECK(balanced.info().has_bias);
    const linear plain = m.load("good", {}, load_options{sparse_kind::csr, false});
    CHECK_FALSE(plain.info().has_bias);
    const auto x = sqllm_test::random_normal(rng, 70);
    std::vector<float> y1(6), y2(6);
    balanced.gemv(x, y1);
    plain.gemv(x, y2);
    for (std::size_t r = 0; r < 6; ++r) CHECK(y1[r] == Approx(y2[r] + 0.5f).margin(1e-5));
    CHECK_THROWS_AS(m.load("short_bias"), error);
    CHECK_THROWS_AS(m.load("int_bias"), error);
    CHECK_THROWS_AS(m.load("nan_bias"), error);
    CHECK_THROWS_AS(model_file::open("/nonexistent/model.safetensors"), error);
    const model_file empty;
    CHECK(empty.layer_names().empty());
    CHECK_THROWS_AS(empty.load("good"), error);
}
