// Striped-layout ("fast") checkpoints: io::write_quantized(..., checkpoint_layout::striped),
// view_quantized (mmap + validation + a view: no copy, no repack), load_quantized of either
// layout through an executor, and safetensors_writer's alignment (U8 padding tensors).
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors.hpp>
#include <sqllm/io/safetensors_writer.hpp>
#include <sqllm/sqllm.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "catch.hpp"
#include "error_check.hpp"
#include "test_util.hpp"

using namespace sqllm;
using namespace sqllm::io;
using sqllm_test::rng_t;

namespace {

/// A fresh path in the temporary directory, removed when the guard dies.
struct temp_path {
    std::string path;
    explicit temp_path(const std::string& stem)
        : path((std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : std::string("/tmp")) + "/sqllm_fast_" +
               std::to_string(::getpid()) + "_" + stem) {}
    ~temp_path() { std::remove(path.c_str()); }
};

using sqllm_test::expect_error;

template <class Lut>
dtype lut_dtype() {
    return dtype_of<Lut>::value;
}

/// A random rows × cols matrix in the striped layout (codes, LUT in Lut, CSR of ~1 %).
template <int Bits, class Lut>
quantized_matrix<Bits, Lut, csr<>, striped_layout<Bits>> random_matrix(rng_t& rng, std::size_t rows, std::size_t cols,
                                                                       bool sparse) {
    const auto codes = sqllm_test::random_codes(rng, rows * cols, Bits);
    auto words = pack_codes<striped_layout<Bits>>(matrix_view<const code_t>(codes.data(), rows, cols));
    auto lut = sqllm_test::random_lut<Lut>(rng, rows, 1 << Bits);
    csr_storage<float, std::int32_t> s;
    if (sparse) s = sqllm_test::random_csr<float, std::int32_t>(rng, rows, cols, 0.01);
    return {rows, cols, std::move(lut), std::move(words), std::move(s)};
}

/// Every tensor's first byte in the file.
std::size_t file_offset(const safetensors_file& f, const tensor_info& t) { return f.data_offset() + t.begin; }

/// Rewrites `src` into `dst` (64-byte aligned unless `align` is 1), passing each
/// non-padding tensor through `edit` (which may change it or drop it by returning false).
template <class Edit>
void rewrite(const std::string& src, const std::string& dst, Edit edit, std::size_t align = 64,
             const std::string& drop_metadata = "") {
    safetensors_file in(src);
    safetensors_writer out(dst);
    out.set_alignment(align);
    for (const auto& kv : in.metadata())
        if (kv.first != drop_metadata) out.set_metadata(kv.first, kv.second);
    for (const tensor_info& t : in.tensors()) {
        if (is_padding_tensor(t.name)) continue;
        const auto b = in.bytes(t);
        std::vector<unsigned char> bytes(b.data(), b.data() + b.size());
        tensor_info info = t;
        if (!edit(info, bytes)) continue;
        out.add(info.name, info.type, info.shape, bytes.data(), bytes.size());
    }
    out.finish();
}

template <class T>
bool same(span<const T> a, span<const T> b) {
    return a.size() == b.size() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

template <class A, class B>
void require_same_matrix(const A& a, const B& b) {
    REQUIRE(a.rows() == b.rows());
    REQUIRE(a.cols() == b.cols());
    REQUIRE(a.word_count() == b.word_count());
    REQUIRE(std::memcmp(a.words(), b.words(), a.word_count() * 4) == 0);
    const std::size_t lut_n = a.rows() * (std::size_t(1) << A::bits);
    REQUIRE(std::memcmp(a.lut(), b.lut(), lut_n * sizeof(typename A::lut_type)) == 0);
    REQUIRE(a.nonzeros() == b.nonzeros());
}

template <class A, class B>
void require_same_csr(const A& a, const B& b) {
    REQUIRE(same(a.sparse().row_ptr, b.sparse().row_ptr));
    REQUIRE(same(a.sparse().col_idx, b.sparse().col_idx));
    REQUIRE(same(a.sparse().values, b.sparse().values));
}

/// y = W·x for a fixed x, as bits.
template <class View>
std::vector<float> product(const View& W) {
    rng_t rng(99);
    const auto x = sqllm_test::random_normal(rng, W.cols());
    std::vector<float> y(W.rows());
    gemv(W, span<const float>(x.data(), x.size()), span<float>(y.data(), y.size()));
    return y;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

// --- safetensors_writer alignment -------------------------------------------------

TEST_CASE("safetensors_writer aligns tensors with U8 padding tensors and a space-padded header", "[fast_checkpoint]") {
    temp_path p("align.safetensors");
    const std::vector<unsigned char> odd(13, 7);
    const std::vector<float> f5{1, 2, 3, 4, 5};
    {
        safetensors_writer w(p.path);
        w.add<unsigned char>("first", {13}, odd);  // unaligned: before set_alignment
        w.set_alignment(64);
        REQUIRE(w.alignment() == 64);
        w.add<float>("a", {5}, f5);
        w.add<unsigned char>("b", {13}, odd);
        w.add<float>("c", {5}, f5);
        w.set_alignment(1);
        w.add<unsigned char>("d", {13}, odd);  // right after c: no padding
        w.pad_to(256);
        w.add<float>("e", {5}, f5);
        REQUIRE(sqllm_test::throws_code([&] { w.set_alignment(48); }, errc::invalid_argument));
        REQUIRE(sqllm_test::throws_code([&] { w.set_alignment(0); }, errc::invalid_argument));
        REQUIRE(sqllm_test::throws_code([&] { w.pad_to(8192); }, errc::invalid_argument));
        REQUIRE(sqllm_test::throws_code([&] { w.add<float>("__padding__.7", {5}, f5); }, errc::invalid_argument));
        w.finish();
    }
    safetensors_file f(p.path);
    REQUIRE(f.data_offset() % 256 == 0);  // the largest alignment asked for
    for (const char* n : {"a", "b", "c"})
        REQUIRE(file_offset(f, f.at(n)) % 64 == 0);
    REQUIRE(f.at("d").begin == f.at("c").end);
    REQUIRE(file_offset(f, f.at("e")) % 256 == 0);
    REQUIRE(f.read<float>(f.at("c")) == f5);
    REQUIRE(f.read<unsigned char>(f.at("b")) == odd);
    std::size_t padding = 0;
    for (const tensor_info& t : f.tensors())
        if (is_padding_tensor(t.name)) {
            ++padding;
            REQUIRE(t.type == dtype::u8);
            REQUIRE(t.shape.size() == 1);
            for (unsigned char c : f.read<unsigned char>(t))
                REQUIRE(c == 0);
        }
    REQUIRE(padding == 4);  // before a, b, c and e
    REQUIRE_FALSE(is_padding_tensor("model.norm"));
    REQUIRE_FALSE(is_padding_tensor("__padding_"));

    // The header ends in spaces (JSON whitespace), as the format's own writer pads it.
    std::ifstream in(p.path, std::ios::binary);
    std::string image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::size_t json_end = image.rfind('}', f.data_offset() - 1) + 1;
    REQUIRE(json_end < f.data_offset());
    REQUIRE(image.substr(json_end, f.data_offset() - json_end) == std::string(f.data_offset() - json_end, ' '));

    // A typed view in place: dtype and address checked.
    const span<const float> v = f.view<float>(f.at("a"));
    REQUIRE(reinterpret_cast<std::uintptr_t>(v.data()) % 64 == 0);
    REQUIRE(std::vector<float>(v.begin(), v.end()) == f5);
    expect_error([&] { (void)f.view<std::int32_t>(f.at("a")); }, errc::shape_mismatch, "expected I32");
    safetensors_file rd(p.path, mapped_file::mode::read);  // a heap buffer: the address is what is checked
    REQUIRE(rd.view<float>(rd.at("c")).size() == 5);
}

// --- round trips ----------------------------------------------------------------------

TEMPLATE_TEST_CASE_SIG("striped checkpoints load in place and equal the reference layout's load",
                       "[fast_checkpoint]", ((int Bits, class Lut), Bits, Lut), (2, float), (2, half), (2, bfloat16),
                       (3, float), (3, half), (3, bfloat16), (4, float), (4, half), (4, bfloat16), (8, float),
                       (8, half), (8, bfloat16)) {
    rng_t rng(1000 + Bits * 7 + sizeof(Lut));
    temp_path ps("striped.safetensors"), pr("reference.safetensors");
    struct layer {
        std::string name;
        quantized_matrix<Bits, Lut, csr<>, striped_layout<Bits>> m;
    };
    std::vector<layer> layers;
    layers.push_back({"blk.0.sparse", random_matrix<Bits, Lut>(rng, 37, 300, true)});
    layers.push_back({"blk.0.dense", random_matrix<Bits, Lut>(rng, 37, 300, false)});
    layers.push_back({"blk.1.sparse", random_matrix<Bits, Lut>(rng, 5, 1000, true)});
    layers.push_back({"blk.1.dense", random_matrix<Bits, Lut>(rng, 5, 1000, false)});
    layers.push_back({"blk.2.wide", random_matrix<Bits, Lut>(rng, 3, 512, true)});  // no padding columns
    REQUIRE(layers[0].m.view().nonzeros() > 0);
    const std::vector<float> norm(7, 0.5f);
    // The reference layout stores F32 or F16: a BF16 LUT is written as F32 (exact).
    const dtype ref_lut = std::is_same<Lut, bfloat16>::value ? dtype::f32 : lut_dtype<Lut>();
    {
        safetensors_writer ws(ps.path), wr(pr.path);
        for (const layer& L : layers) {
            write_quantized(ws, L.name, L.m.view(), lut_dtype<Lut>(), checkpoint_layout::striped);
            write_quantized(wr, L.name, L.m.view(), ref_lut);
        }
        ws.add<float>("model.norm", {7}, norm);
        wr.add<float>("model.norm", {7}, norm);
        ws.finish();
        wr.finish();
    }
    safetensors_file fs(ps.path), fr(pr.path);
    REQUIRE(fs.metadata().at(checkpoint_keys::layout) == "striped");
    REQUIRE(fr.metadata().count(checkpoint_keys::layout) == 0);
    REQUIRE(fs.data_offset() % 64 == 0);
    for (const tensor_info& t : fs.tensors())
        if (!is_padding_tensor(t.name) && t.name != "model.norm") {
            CAPTURE(t.name);
            REQUIRE(file_offset(fs, t) % 64 == 0);
        }
    REQUIRE(fs.read<float>(fs.at("model.norm")) == norm);  // the generic reader reads it all

    const auto ls = find_quantized_layers(fs);
    const auto lr = find_quantized_layers(fr);
    REQUIRE(ls.size() == layers.size());
    REQUIRE(lr.size() == layers.size());
    thread_executor three(3);
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const quantized_layer_info& S = ls[i];
        const quantized_layer_info& R = lr[i];
        const auto& orig = layers[i].m;
        CAPTURE(S.name);
        REQUIRE(S.name == R.name);
        REQUIRE(S.layout == checkpoint_layout::striped);
        REQUIRE(R.layout == checkpoint_layout::reference);
        REQUIRE(S.codes_tensor() == S.name + ".striped_codes");
        REQUIRE((S.rows == orig.rows() && S.cols == orig.cols() && S.bits == Bits));
        REQUIRE(S.lut_type == lut_dtype<Lut>());
        REQUIRE(S.nnz == orig.view().nonzeros());
        REQUIRE(S.has_sparse == (S.nnz > 0));
        REQUIRE(fs.at(S.codes_tensor()).shape ==
                std::vector<std::size_t>{S.rows, striped_layout<Bits>::words_per_row(S.cols)});
        std::size_t stored = 0;
        for (const std::string& suffix : quantized_suffixes())
            if (const tensor_info* t = fs.find(S.name + suffix)) stored += t->bytes();
        REQUIRE(S.stored_bytes() == stored);
        REQUIRE(is_quantized_array(ls, S.name + ".striped_codes"));

        // Zero copy: the view points into the mapping.
        const auto v = view_quantized<Bits, Lut>(fs, S);
        REQUIRE(static_cast<const void*>(v.words()) == static_cast<const void*>(fs.bytes(fs.at(S.codes_tensor())).data()));
        REQUIRE(reinterpret_cast<std::uintptr_t>(v.lut()) % 64 == 0);
        require_same_matrix(v, orig.view());
        require_same_csr(v, orig.view());

        // The reference file, repacked on load: identical codes, LUT, CSR and products.
        const auto r = load_quantized<Bits, Lut>(fr, R);
        require_same_matrix(v, r.view());
        require_same_csr(v, r.view());
        // Identical arrays multiply identically (the same kernels): the
        // products are checked end to end on one combination, since each
        // one compiles every target's kernels (CI's build time).
        constexpr bool multiply = Bits == 3 && std::is_same<Lut, half>::value;
        if constexpr (multiply) REQUIRE(bitwise_equal(product(v), product(r.view())));

        // In parallel: the same words.
        const auto rp = load_quantized<Bits, Lut>(fr, R, three);
        require_same_matrix(rp.view(), r.view());
        // A striped file loads (copies) too, and into the reference layout repacks.
        const auto sc = load_quantized<Bits, Lut>(fs, S, three);
        require_same_matrix(sc.view(), v);
        const auto sr = load_quantized<Bits, Lut, csr<>, reference_layout<Bits>>(fs, S, three);
        const auto rr = load_quantized<Bits, Lut, csr<>, reference_layout<Bits>>(fr, R);
        require_same_matrix(sr.view(), rr.view());

        // Other schedules and no sparse part.
        const auto vb = view_quantized<Bits, Lut, balanced_csr<>>(fs, S);
        require_same_csr(vb, v);
        if constexpr (multiply) REQUIRE(bitwise_equal(product(vb), product(r.view())));
        if (!S.has_sparse) {
            const auto vn = view_quantized<Bits, Lut, no_sparse>(fs, S);
            REQUIRE(vn.words() == v.words());
            if constexpr (multiply) REQUIRE(bitwise_equal(product(vn), product(r.view())));
        } else {
            expect_error([&] { (void)view_quantized<Bits, Lut, no_sparse>(fs, S); }, errc::invalid_argument,
                         "sparse values but the view type has no sparse part");
        }

        // Wrong requests.
        expect_error([&] { (void)view_quantized<(Bits == 2 ? 3 : 2), Lut>(fs, S); }, errc::invalid_argument,
                     "-bit codes, requested");
        using other_lut = std::conditional_t<std::is_same<Lut, float>::value, half, float>;
        expect_error([&] { (void)view_quantized<Bits, other_lut>(fs, S); }, errc::invalid_argument,
                     "lookup_table, requested");
        expect_error([&] { (void)view_quantized<Bits, Lut>(fr, R); }, errc::invalid_argument,
                     "stored in the reference layout");
    }

    // Read into memory instead of mapped: the heap buffer's addresses are checked, and aligned.
    safetensors_file heap(ps.path, mapped_file::mode::read);
    const auto lh = find_quantized_layers(heap);
    require_same_matrix(view_quantized<Bits, Lut>(heap, lh[0]), layers[0].m.view());

    // Back to the reference layout through the striped file: the same file bytes
    // as writing the original (the padding codes the reference keeps are 0 in both).
    temp_path back("back.safetensors");
    {
        safetensors_writer w(back.path);
        for (const auto& L : ls)
            write_quantized(w, L.name, view_quantized<Bits, Lut>(fs, L), ref_lut);
        w.add<float>("model.norm", {7}, norm);
        w.finish();
    }
    std::ifstream a(pr.path, std::ios::binary), b(back.path, std::ios::binary);
    REQUIRE(std::string((std::istreambuf_iterator<char>(a)), std::istreambuf_iterator<char>()) ==
            std::string((std::istreambuf_iterator<char>(b)), std::istreambuf_iterator<char>()));
}

TEST_CASE("parallel repack equals the sequential one, for every layout pair and odd shapes", "[fast_checkpoint]") {
    rng_t rng(5);
    thread_executor three(3);
    for (const auto& shape : {std::pair<std::size_t, std::size_t>{37, 300}, {5, 1000}, {64, 4096}, {1, 1}, {13, 768}}) {
        const auto codes = sqllm_test::random_codes(rng, shape.first * shape.second, 3);
        const matrix_view<const code_t> cv(codes.data(), shape.first, shape.second);
        const auto s = pack_codes<striped_layout<3>>(cv);
        const auto r = pack_codes<reference_layout<3>>(cv);
        const span<const std::uint32_t> ss(s.data(), s.size()), rs(r.data(), r.size());
        REQUIRE(repack<striped_layout<3>, reference_layout<3>>(rs, shape.first, shape.second, three) == s);
        REQUIRE(repack<striped_layout<3>, reference_layout<3>>(rs, shape.first, shape.second) == s);
        REQUIRE(repack<reference_layout<3>, striped_layout<3>>(ss, shape.first, shape.second, three) == r);
        REQUIRE(repack<reference_layout<3>, striped_layout<3>>(ss, shape.first, shape.second) == r);
    }
}

// --- errors -------------------------------------------------------------------------

TEST_CASE("striped checkpoints: every inconsistency is a clear error", "[fast_checkpoint]") {
    rng_t rng(77);
    temp_path good("good.safetensors"), bad("bad.safetensors");
    const auto m = random_matrix<3, half>(rng, 37, 300, true);
    {
        safetensors_writer w(good.path);
        write_quantized(w, "L", m.view(), dtype::f16, checkpoint_layout::striped);
        w.finish();
    }
    auto scan = [&] {
        safetensors_file f(bad.path);
        return find_quantized_layers(f);
    };
    auto view = [&] {
        safetensors_file f(bad.path);
        const auto layers = find_quantized_layers(f);
        return view_quantized<3, half>(f, layers.at(0)).rows();
    };
    auto load = [&] {
        safetensors_file f(bad.path);
        const auto layers = find_quantized_layers(f);
        return load_quantized<3, half>(f, layers.at(0)).rows();
    };
    auto edit = [&](auto&& fn, std::size_t align = 64, const std::string& drop_metadata = "") {
        rewrite(good.path, bad.path, fn, align, drop_metadata);
    };

    SECTION("misaligned codes: refused in place, loaded by copy") {
        // A 2-byte tensor first, no alignment: striped_codes starts at an offset ≡ 2 (mod 4).
        safetensors_file in(good.path);
        {
            safetensors_writer w(bad.path);
            for (const auto& kv : in.metadata())
                w.set_metadata(kv.first, kv.second);
            const std::vector<unsigned char> two{1, 2};
            w.add<unsigned char>("aaa", {2}, two);
            for (const tensor_info& t : in.tensors())
                if (!is_padding_tensor(t.name)) w.add(t.name, t.type, t.shape, in.bytes(t).data(), t.bytes());
            w.finish();
        }
        safetensors_file f(bad.path);
        REQUIRE(file_offset(f, f.at("L.striped_codes")) % 4 == 2);
        const auto layers = find_quantized_layers(f);
        expect_error([&] { (void)view_quantized<3, half>(f, layers.at(0)); }, errc::corrupt_data,
                     "2 bytes past a multiple of 4");
        expect_error([&] { (void)view_quantized<3, half>(f, layers.at(0)); }, errc::corrupt_data, "quantized layer \"L\"");
        require_same_matrix(load_quantized<3, half>(f, layers.at(0)).view(), m.view());  // copies instead
        safetensors_file h(bad.path, mapped_file::mode::read);
        expect_error([&] { (void)view_quantized<3, half>(h, find_quantized_layers(h).at(0)); }, errc::corrupt_data,
                     "cannot be used in place");
    }
    SECTION("wrong word count") {
        edit([&](tensor_info& t, std::vector<unsigned char>& b) {
            if (t.name == "L.striped_codes") {
                t.shape[1] -= 1;
                b.resize(t.shape[0] * t.shape[1] * 4);
            }
            return true;
        });
        expect_error(scan, errc::corrupt_data, "word_count");
    }
    SECTION("codes of the wrong dtype") {
        edit([&](tensor_info& t, std::vector<unsigned char>&) {
            if (t.name == "L.striped_codes") t.type = dtype::i32;
            return true;
        });
        expect_error(scan, errc::corrupt_data, "expected U32[rows, words per row]");
    }
    SECTION("non-finite LUT") {
        edit([&](tensor_info& t, std::vector<unsigned char>& b) {
            if (t.name == "L.lookup_table") {
                const half inf(std::numeric_limits<float>::infinity());
                std::memcpy(b.data() + 2 * 8 * 5, &inf, 2);  // row 5
            }
            return true;
        });
        expect_error(view, errc::non_finite, "row 5 is NaN or Inf");
        expect_error(load, errc::non_finite, "row 5 is NaN or Inf");
    }
    SECTION("bad CSR: a column out of range, row pointers not monotone") {
        edit([&](tensor_info& t, std::vector<unsigned char>& b) {
            if (t.name == "L.cols") {
                const std::int32_t c = 300;
                std::memcpy(b.data(), &c, 4);
            }
            return true;
        });
        REQUIRE_THROWS_AS(view(), error);
        expect_error(view, errc::out_of_range, "quantized layer \"L\"");
        REQUIRE_THROWS_AS(load(), error);
        edit([&](tensor_info& t, std::vector<unsigned char>& b) {
            if (t.name == "L.rows") {
                const std::int32_t big = 1 << 20;
                std::memcpy(b.data() + 4 * 3, &big, 4);
            }
            return true;
        });
        REQUIRE_THROWS_AS(view(), error);
        REQUIRE_THROWS_AS(load(), error);
    }
    SECTION("missing shape metadata") {
        edit([](tensor_info&, std::vector<unsigned char>&) { return true; }, 64, "sqllm.shape.L");
        expect_error(scan, errc::corrupt_data, "needs its exact shape");
    }
    SECTION("shape metadata that disagrees") {
        safetensors_file in(good.path);
        safetensors_writer w(bad.path);
        w.set_alignment(64);
        for (const auto& kv : in.metadata())
            w.set_metadata(kv.first, kv.second);
        w.set_metadata("sqllm.shape.L", "[37, 600]");
        for (const tensor_info& t : in.tensors())
            if (!is_padding_tensor(t.name)) w.add(t.name, t.type, t.shape, in.bytes(t).data(), t.bytes());
        w.finish();
        expect_error(scan, errc::corrupt_data, "needs U32[37, 72]");
    }
    SECTION("sparse arrays with no_sparse") {
        std::remove(bad.path.c_str());
        edit([](tensor_info&, std::vector<unsigned char>&) { return true; });
        safetensors_file f(bad.path);
        expect_error([&] { (void)view_quantized<3, half, no_sparse>(f, find_quantized_layers(f).at(0)); },
                     errc::invalid_argument, "no sparse part");
        expect_error([&] { (void)load_quantized<3, half, no_sparse>(f, find_quantized_layers(f).at(0)); },
                     errc::invalid_argument, "no sparse part");
    }
    SECTION("a padding code that is not 0") {
        edit([&](tensor_info& t, std::vector<unsigned char>& b) {
            if (t.name == "L.striped_codes") {
                std::vector<std::uint32_t> w(b.size() / 4);
                std::memcpy(w.data(), b.data(), b.size());
                striped_layout<3>::set(w.data(), 37, 300, 4, 301, 5);
                std::memcpy(b.data(), w.data(), b.size());
            }
            return true;
        });
        expect_error(view, errc::corrupt_data, "padding code (4, 301)");
        expect_error(load, errc::corrupt_data, "padding code (4, 301)");
    }
    SECTION("layouts mixed up") {
        edit([&](tensor_info&, std::vector<unsigned char>&) { return true; }, 64, "sqllm.layout");
        expect_error(scan, errc::corrupt_data, "striped layout but the file's sqllm.layout says reference");
        {
            safetensors_file in(good.path);
            safetensors_writer w(bad.path);
            for (const auto& kv : in.metadata())
                w.set_metadata(kv.first, kv.second);
            w.set_metadata("sqllm.layout", "zigzag");
            w.finish();
        }
        expect_error(scan, errc::corrupt_data, "not \"reference\" or \"striped\"");
        {
            safetensors_file in(good.path);
            safetensors_writer w(bad.path);
            for (const auto& kv : in.metadata())
                w.set_metadata(kv.first, kv.second);
            for (const tensor_info& t : in.tensors())
                if (!is_padding_tensor(t.name)) w.add(t.name, t.type, t.shape, in.bytes(t).data(), t.bytes());
            const std::vector<std::int32_t> q(4 * 3 * 37);
            w.add<std::int32_t>("L.qweight", {12, 37}, q);
            w.finish();
        }
        expect_error(scan, errc::corrupt_data, "both a qweight and striped_codes");
        edit([&](tensor_info& t, std::vector<unsigned char>&) { return t.name != "L.striped_codes"; });
        expect_error(scan, errc::corrupt_data, "has no qweight or striped_codes beside it");
    }
    SECTION("writing: LUT types, exactness, one layout per file") {
        safetensors_writer w(bad.path);
        expect_error([&] { write_quantized(w, "X", m.view(), dtype::bf16); }, errc::invalid_argument,
                     "BF16 in the striped layout only");
        expect_error([&] { write_quantized(w, "X", m.view(), dtype::i32, checkpoint_layout::striped); },
                     errc::invalid_argument, "not I32");
        const auto f = random_matrix<3, half>(rng, 4, 40, false);  // values exact in F16
        std::vector<float> lut(f.lut().size());
        for (std::size_t i = 0; i < lut.size(); ++i)
            lut[i] = static_cast<float>(f.lut()[i]);
        lut[3] = 1.0f + 1.0f / 1024;  // exact in F16, not in BF16
        const quantized_matrix<3, float, csr<>, striped_layout<3>> g(4, 40, lut, f.words());
        expect_error([&] { write_quantized(w, "X", g.view(), dtype::bf16, checkpoint_layout::striped); },
                     errc::out_of_range, "not exact in BF16");
        write_quantized(w, "Y", g.view(), dtype::f16, checkpoint_layout::striped);
        expect_error([&] { write_quantized(w, "Z", g.view()); }, errc::invalid_argument, "a file holds one layout");
    }
}

// --- sqllm-convert --layout (tests/tools/test_convert_layout.sh) ------------------------

namespace {

template <int Bits, class Lut>
void compare_layer(const safetensors_file& striped, const quantized_layer_info& S, const safetensors_file& reference,
                   const quantized_layer_info& R) {
    const auto v = view_quantized<Bits, Lut>(striped, S);  // in place: no copy, no repack
    REQUIRE(static_cast<const void*>(v.words()) == static_cast<const void*>(striped.bytes(striped.at(S.codes_tensor())).data()));
    const auto r = load_quantized<Bits, Lut>(reference, R);
    require_same_matrix(v, r.view());
    require_same_csr(v, r.view());
    REQUIRE(bitwise_equal(product(v), product(r.view())));
}

template <int Bits>
void compare_bits(const safetensors_file& s, const quantized_layer_info& S, const safetensors_file& r,
                  const quantized_layer_info& R) {
    if (S.lut_type == dtype::f16) compare_layer<Bits, half>(s, S, r, R);
    else compare_layer<Bits, float>(s, S, r, R);
}

}  // namespace

// Hidden: run by test_convert_layout.sh with SQLLM_STRIPED (sqllm-convert --layout striped's
// output) and SQLLM_REFERENCE (the reference-layout file it came from, or went back to).
TEST_CASE("a converted striped checkpoint loads in place and multiplies as the reference one", "[.converted_layout]") {
    const char* sp = std::getenv("SQLLM_STRIPED");
    const char* rp = std::getenv("SQLLM_REFERENCE");
    REQUIRE(sp != nullptr);
    REQUIRE(rp != nullptr);
    const safetensors_file s(sp), r(rp);
    REQUIRE(s.metadata().at(checkpoint_keys::layout) == "striped");
    REQUIRE(r.metadata().count(checkpoint_keys::layout) == 0);
    REQUIRE(s.data_offset() % 64 == 0);
    for (const tensor_info& t : s.tensors())
        if (!is_padding_tensor(t.name)) REQUIRE(file_offset(s, t) % 64 == 0);  // the tool aligns every tensor
    const auto ls = find_quantized_layers(s), lr = find_quantized_layers(r);
    REQUIRE(ls.size() == lr.size());
    REQUIRE_FALSE(ls.empty());
    for (const quantized_layer_info& S : ls) {
        CAPTURE(S.name);
        const quantized_layer_info* R = nullptr;
        for (const auto& x : lr)
            if (x.name == S.name) R = &x;
        REQUIRE(R != nullptr);
        REQUIRE((S.rows == R->rows && S.cols == R->cols && S.bits == R->bits && S.nnz == R->nnz));
        switch (S.bits) {
            case 2: compare_bits<2>(s, S, r, *R); break;
            case 3: compare_bits<3>(s, S, r, *R); break;
            case 4: compare_bits<4>(s, S, r, *R); break;
            case 8: compare_bits<8>(s, S, r, *R); break;
            default: FAIL("no comparison instantiated for " << S.bits << " bits");
        }
    }
    // Every other tensor and every metadata entry but the layout's, as they were.
    std::size_t others = 0;
    for (const tensor_info& t : r.tensors()) {
        if (is_padding_tensor(t.name) || is_quantized_array(lr, t.name)) continue;
        CAPTURE(t.name);
        const tensor_info& u = s.at(t.name);
        REQUIRE((u.type == t.type && u.shape == t.shape));
        REQUIRE(std::memcmp(s.bytes(u).data(), r.bytes(t).data(), t.bytes()) == 0);
        ++others;
    }
    for (const tensor_info& t : s.tensors())
        if (!is_padding_tensor(t.name) && !is_quantized_array(ls, t.name)) --others;
    REQUIRE(others == 0);
    for (const auto& kv : r.metadata())
        REQUIRE(s.metadata().at(kv.first) == kv.second);
}
