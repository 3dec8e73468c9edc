// sqllm/io/quantized_checkpoint.hpp — quantized layers in safetensors files,
// in one of two code layouts (checkpoint_layout).
//
// Reference layout (the default; the SqueezeLLM reference's names and arrays),
// per quantized layer `<name>` (docs/DESIGN.md §3, format/reference_checkpoint.hpp):
//   <name>.qweight       I32 [ceil(cols/32)·Bits, rows]  codes, reference layout
//   <name>.lookup_table  F32 (or F16) [rows, 2^Bits]
//   <name>.rows          I32 [rows + 1]   CSR row pointers   } only when the layer
//   <name>.cols          I32 [nnz]        CSR column indices } has a sparse part
//   <name>.vals          F32 [nnz]        residuals          }
// A reference checkpoint converted to safetensors loads as is: Bits comes
// from the LUT width and cols from qweight (the reference needs multiples
// of 128). Loading repacks the codes into the kernels' layout (load_quantized).
//
// Striped layout (docs/DESIGN.md §3.1: the CPU kernels' own layout, loaded in
// place: view_quantized maps, validates and views, with no copy and no repack):
//   <name>.striped_codes U32 [rows, words_per_row]  striped_layout<Bits> words,
//                        words_per_row = ceil(cols/256)·8·Bits (rows padded
//                        to 256 columns with code 0)
//   <name>.lookup_table  F32, F16 or BF16 [rows, 2^Bits]  the kernels' Lut type
//   <name>.rows/.cols/.vals  as above
// Every one of these arrays starts at a multiple of 64 bytes of the file
// (checkpoint_alignment): the header is padded with spaces, and the gaps
// are U8 tensors "__padding__.<n>" (io::is_padding_tensor) since safetensors
// allows no holes. The file's metadata says "sqllm.layout" = "striped"; a
// file holds one layout.
//
// sqllm also records each layer's exact shape in the metadata as
// "sqllm.shape.<name>" = "[rows, cols]" (required for a striped layer), so
// any width round-trips; tools that do not know the key ignore it. Other
// metadata keys sqllm writes are listed at checkpoint_keys.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../core/executor.hpp"
#include "../format/reference_checkpoint.hpp"
#include "../layout/pack.hpp"
#include "../layout/striped.hpp"
#include "../sparse/csr.hpp"
#include "../sparse/none.hpp"
#include "safetensors.hpp"
#if SQLLM_IO_HAS_MMAP  // POSIX: the writer needs O_EXCL/O_NOFOLLOW files (reading works everywhere)
#include "safetensors_writer.hpp"
#endif

SQLLM_NAMESPACE_BEGIN
namespace io {

/// Metadata keys of sqllm's quantized checkpoints ("__metadata__" values are strings).
namespace checkpoint_keys {
constexpr const char* format = "sqllm.format";            ///< "squeezellm": the reference tensor layout
constexpr const char* version = "sqllm.version";          ///< tool version that wrote the file
constexpr const char* bits = "sqllm.bits";                ///< code width, "2".."8"
constexpr const char* method = "sqllm.method";            ///< "exact", "lloyd" or "rtn"
constexpr const char* sparsity = "sqllm.sparsity";        ///< the sparse rule, e.g. "sensitive=0.05%,outliers=0.40%"
constexpr const char* sensitivity = "sqllm.sensitivity";  ///< where sensitivities came from, e.g. "fisher:<file>"
constexpr const char* shape_prefix = "sqllm.shape.";      ///< + layer name: "[rows, cols]"
constexpr const char* layout = "sqllm.layout";            ///< "striped" (absent: "reference"), checkpoint_layout
}  // namespace checkpoint_keys

/// How a checkpoint stores each layer's codes.
enum class checkpoint_layout {
    reference,  ///< <name>.qweight, the reference's layout: what its tools read; loading repacks
    striped,    ///< <name>.striped_codes, the CPU kernels' layout, 64-byte aligned: loads in place
};

/// "reference" or "striped" (the value of checkpoint_keys::layout).
inline const char* to_string(checkpoint_layout l) noexcept {
    return l == checkpoint_layout::striped ? "striped" : "reference";
}

/// Where the arrays of a striped-layout layer start in the file: a multiple
/// of this many bytes (a cache line, and a full AVX-512 vector).
constexpr std::size_t checkpoint_alignment = 64;

#if SQLLM_IO_HAS_MMAP
namespace detail {

/// The LUT as `type` (F32, F16 or BF16): F16 and BF16 must hold every value
/// exactly, else errc::out_of_range rather than lose precision silently.
template <class Lut>
void add_lut(safetensors_writer& out, const std::string& name, std::size_t rows, std::size_t levels, const Lut* lut,
             dtype type) {
    const std::vector<std::size_t> shape{rows, levels};
    const std::size_t n = rows * levels;
    auto narrowed = [&](auto tag) {
        using T = decltype(tag);
        std::vector<T> v(n);
        for (std::size_t i = 0; i < n; ++i) {
            const float x = lut_value_traits<Lut>::to_float(lut[i]);
            v[i] = T(x);
            if (!(static_cast<float>(v[i]) == x))
                sqllm::detail::fail(errc::out_of_range, "layer \"" + name + "\": LUT value " + std::to_string(x) +
                                                            " is not exact in " + to_string(type));
        }
        out.add<T>(name + ".lookup_table", shape, v);
    };
    if (type == dtype::f32) {
        std::vector<float> v(n);
        for (std::size_t i = 0; i < n; ++i)
            v[i] = lut_value_traits<Lut>::to_float(lut[i]);
        out.add<float>(name + ".lookup_table", shape, v);
    } else if (type == dtype::f16) {
        narrowed(half{});
    } else {
        narrowed(bfloat16{});
    }
}

}  // namespace detail

/// Writes the arrays of one quantized layer under `name` in `layout` (see
/// the file comment) and records its shape in the writer's metadata. The
/// LUT is stored as `lut_type`: F32 (the reference's) or F16, and for the
/// striped layout also BF16 (the kernels take all three); F16 and BF16 must
/// hold every value exactly or the write throws errc::out_of_range rather
/// than lose precision silently. The striped layout also sets the file's
/// "sqllm.layout" metadata and starts each array at a multiple of 64 bytes
/// (safetensors_writer::pad_to); the writer's metadata must not name another
/// layout (errc::invalid_argument: a file holds one layout). POSIX only, as
/// safetensors_writer.
template <int Bits, class Lut, class Sparse, class Layout>
void write_quantized(safetensors_writer& out, const std::string& name,
                     const quantized_view<Bits, Lut, Sparse, Layout>& m, dtype lut_type = dtype::f32,
                     checkpoint_layout layout = checkpoint_layout::reference) {
    const std::size_t rows = m.rows(), levels = std::size_t(1) << Bits;
    if (lut_type != dtype::f32 && lut_type != dtype::f16 && (lut_type != dtype::bf16 || layout != checkpoint_layout::striped))
        sqllm::detail::fail(errc::invalid_argument,
                            std::string("a lookup_table is stored as F32 or F16") +
                                (layout == checkpoint_layout::striped ? " or BF16" : " (BF16 in the striped layout only)") +
                                ", not " + to_string(lut_type));
    // Mixed files are refused by find_quantized_layers; refuse them here as far as the metadata tells.
    const auto key = out.metadata().find(checkpoint_keys::layout);
    if (key != out.metadata().end() && key->second != to_string(layout))
        sqllm::detail::fail(errc::invalid_argument, out.path() + ": layer \"" + name + "\" in the " + to_string(layout) +
                                                        " layout, but the file is in the " + key->second +
                                                        " layout (a file holds one layout)");
    if (layout == checkpoint_layout::reference) {
        const reference_checkpoint ck = export_reference(m);
        const std::size_t groups = reference_layout<Bits>::word_count(1, m.cols()) / Bits;
        out.add<std::int32_t>(name + ".qweight", {groups * Bits, rows}, ck.qweight);
        detail::add_lut(out, name, rows, levels, ck.lookup_table.data(), lut_type);
        if (!ck.sparse_rows.empty()) {
            out.add<std::int32_t>(name + ".rows", {ck.sparse_rows.size()}, ck.sparse_rows);
            out.add<std::int32_t>(name + ".cols", {ck.sparse_cols.size()}, ck.sparse_cols);
            out.add<float>(name + ".vals", {ck.sparse_vals.size()}, ck.sparse_vals);
        }
    } else {
        using striped = striped_layout<Bits>;
        const std::size_t wpr = striped::words_per_row(m.cols());
        const std::vector<std::size_t> shape{rows, wpr};
        const std::size_t bytes = checked_mul(striped::word_count(rows, m.cols()), 4, "striped codes size");
        out.pad_to(checkpoint_alignment);
        if (std::is_same<Layout, striped>::value) {  // the words as they are: no copy
            out.add(name + ".striped_codes", dtype::u32, shape, m.words(), bytes);
        } else {
            const auto words = repack<striped, Layout>(span<const std::uint32_t>(m.words(), m.word_count()), rows, m.cols());
            out.add(name + ".striped_codes", dtype::u32, shape, words.data(), bytes);
        }
        out.pad_to(checkpoint_alignment);
        detail::add_lut(out, name, rows, levels, m.lut(), lut_type);
        reference_csr_arrays sparse;
        sparse_format_traits<Sparse>::to_reference(m.sparse(), rows, sparse);
        if (!sparse.rows.empty()) {
            out.pad_to(checkpoint_alignment);
            out.add<std::int32_t>(name + ".rows", {sparse.rows.size()}, sparse.rows);
            out.pad_to(checkpoint_alignment);
            out.add<std::int32_t>(name + ".cols", {sparse.cols.size()}, sparse.cols);
            out.pad_to(checkpoint_alignment);
            out.add<float>(name + ".vals", {sparse.vals.size()}, sparse.vals);
        }
        out.pad_to(checkpoint_alignment);  // whatever comes next starts aligned too
        out.set_metadata(checkpoint_keys::layout, to_string(layout));
    }
    out.set_metadata(checkpoint_keys::shape_prefix + name,
                     "[" + std::to_string(rows) + ", " + std::to_string(m.cols()) + "]");
}
#endif  // SQLLM_IO_HAS_MMAP

/// A quantized layer found in a file, its header checked for consistency.
struct quantized_layer_info {
    std::string name;
    std::size_t rows = 0;
    std::size_t cols = 0;
    int bits = 0;
    dtype lut_type = dtype::f32;
    std::size_t nnz = 0;      ///< sparse values (0 when dense-only)
    bool has_sparse = false;  ///< the .rows/.cols/.vals arrays are present
    checkpoint_layout layout = checkpoint_layout::reference;  ///< .qweight or .striped_codes

    /// The name of the tensor holding the codes: `<name>.qweight` or `<name>.striped_codes`.
    std::string codes_tensor() const {
        return name + (layout == checkpoint_layout::striped ? ".striped_codes" : ".qweight");
    }

    /// Bytes of the layer's arrays as stored (padding tensors not included).
    /// (The arrays exist in a file, so the sum fits; it is checked anyway.)
    std::size_t stored_bytes() const {
        const char* what = "quantized layer size";
        const std::size_t codes = layout == checkpoint_layout::striped
                                      ? checked_mul(rows, padded_words(), what)
                                      : checked_mul(group_count(cols), static_cast<std::size_t>(bits), what);
        std::size_t b = checked_add(checked_mul(codes, layout == checkpoint_layout::striped ? 4 : rows * 4, what),
                                    checked_mul(rows, std::size_t(1) << bits, size_of(lut_type), what), what);
        if (has_sparse) b = checked_add(b, checked_add(checked_mul(rows + 1, 4, what), checked_mul(nnz, 8, what), what), what);
        return b;
    }

private:
    /// Words of one striped row: ceil(cols/256)·8·Bits.
    std::size_t padded_words() const { return striped_geometry::padded_cols(cols) / 32 * static_cast<std::size_t>(bits); }
};

namespace detail {

/// Parses "[rows, cols]".
inline bool parse_shape(const std::string& text, std::size_t& rows, std::size_t& cols) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_array() || j.size() != 2 || !j[0].is_number_unsigned() || !j[1].is_number_unsigned()) return false;
    rows = j[0].get<std::size_t>();
    cols = j[1].get<std::size_t>();
    return true;
}

/// Checks a layer's LUT entry (its dtype, [rows, 2^Bits]) and sets rows, bits, lut_type.
template <class Bad>
void read_lut_header(const tensor_info& lut, bool bf16_allowed, quantized_layer_info& L, Bad&& bad) {
    if (lut.type != dtype::f32 && lut.type != dtype::f16 && (!bf16_allowed || lut.type != dtype::bf16))
        bad("lookup_table is " + lut.describe() + (bf16_allowed ? ", expected F32, F16 or BF16" : ", expected F32 or F16"));
    if (lut.shape.size() != 2) bad("lookup_table is " + lut.describe() + ", expected 2-D [rows, 2^Bits]");
    L.lut_type = lut.type;
    L.rows = lut.shape[0];
    const std::size_t levels = lut.shape[1];
    for (int b = 1; b <= 8; ++b)
        if (levels == (std::size_t(1) << b)) L.bits = b;
    if (L.bits == 0) bad("lookup_table has " + std::to_string(levels) + " entries per row, not 2^Bits with Bits 1..8");
    if (L.rows == 0) bad("has no rows");
}

}  // namespace detail

/// The tensor-name suffixes of a quantized layer's arrays (either layout).
inline const std::vector<std::string>& quantized_suffixes() {
    static const std::vector<std::string> s{".qweight", ".striped_codes", ".lookup_table", ".rows", ".cols", ".vals"};
    return s;
}

/// Every quantized layer of `f` (each `<name>.qweight` or
/// `<name>.striped_codes`), in file order, with shapes, dtypes and array
/// sizes checked against each other: for a striped layer also the shape
/// metadata it needs (cols cannot be inferred from padded rows) and its
/// words (rows × striped_layout<Bits>::words_per_row(cols)), and the file's
/// "sqllm.layout" against every layer's. Padding tensors are not layers.
/// Throws errc::corrupt_data naming the layer and the inconsistency. The
/// codes and CSR contents are checked when a layer is loaded.
inline std::vector<quantized_layer_info> find_quantized_layers(const safetensors_file& f) {
    std::vector<quantized_layer_info> out;
    const auto file_layout = f.metadata().find(checkpoint_keys::layout);
    if (file_layout != f.metadata().end() && file_layout->second != "reference" && file_layout->second != "striped")
        sqllm::detail::fail(errc::corrupt_data, f.path() + ": metadata " + checkpoint_keys::layout + " is \"" +
                                                    printable(file_layout->second) +
                                                    "\", not \"reference\" or \"striped\"");
    const std::string layout_said = file_layout == f.metadata().end() ? "reference" : file_layout->second;
    for (const tensor_info& q : f.tensors()) {
        const bool striped = detail::ends_with(q.name, ".striped_codes");
        if (!striped && !detail::ends_with(q.name, ".qweight")) continue;
        quantized_layer_info L;
        L.layout = striped ? checkpoint_layout::striped : checkpoint_layout::reference;
        L.name = q.name.substr(0, q.name.size() - (striped ? 14 : 8));
        const std::string where = f.path() + ": quantized layer \"" + printable(L.name) + "\"";
        auto bad = [&](const std::string& what) { sqllm::detail::fail(errc::corrupt_data, where + ": " + what); };
        if (layout_said != to_string(L.layout))
            bad(std::string("is in the ") + to_string(L.layout) + " layout but the file's " + checkpoint_keys::layout +
                " says " + layout_said);
        if (striped && f.find(L.name + ".qweight")) bad("has both a qweight and striped_codes");
        const tensor_info* lut = f.find(L.name + ".lookup_table");
        if (!lut) bad(std::string("has ") + (striped ? "striped_codes" : "a qweight") + " but no lookup_table");
        const auto shape = f.metadata().find(checkpoint_keys::shape_prefix + L.name);
        if (striped) {
            if (q.type != dtype::u32 || q.shape.size() != 2)
                bad("striped_codes is " + q.describe() + ", expected U32[rows, words per row]");
            detail::read_lut_header(*lut, true, L, bad);
            if (shape == f.metadata().end())
                bad(std::string("has no ") + checkpoint_keys::shape_prefix + L.name +
                    " metadata (a striped layer needs its exact shape)");
            std::size_t r = 0, c = 0;
            if (!detail::parse_shape(shape->second, r, c) || r != L.rows || c == 0)
                bad("metadata shape \"" + printable(shape->second) + "\" is not [rows, cols] with the lookup_table's " +
                    std::to_string(L.rows) + " rows");
            L.cols = c;
            std::size_t wpr = 0;
            try {
                wpr = striped_geometry::padded_cols(c) / 32 * static_cast<std::size_t>(L.bits);
            } catch (const error&) {
                bad("metadata shape " + printable(shape->second) + " overflows");
            }
            if (q.shape[0] != L.rows || q.shape[1] != wpr)
                bad("striped_codes is " + q.describe() + ", but " + std::to_string(L.rows) + " × " +
                    std::to_string(c) + " at " + std::to_string(L.bits) + " bits needs U32[" + std::to_string(L.rows) +
                    ", " + std::to_string(wpr) + "] (striped_layout<" + std::to_string(L.bits) + ">::word_count)");
        } else {
            if (q.type != dtype::i32) bad("qweight is " + q.describe() + ", expected I32");
            if (q.shape.size() != 2) bad("qweight is " + q.describe() + ", expected 2-D [cols·Bits/32, rows]");
            detail::read_lut_header(*lut, false, L, bad);
            if (q.shape[1] != L.rows)
                bad("qweight has " + std::to_string(q.shape[1]) + " columns but lookup_table " + std::to_string(L.rows) +
                    " rows");
            if (q.shape[0] == 0 || q.shape[0] % L.bits != 0)
                bad("qweight has " + std::to_string(q.shape[0]) +
                    " word rows, not a positive multiple of Bits = " + std::to_string(L.bits));
            const std::size_t groups = q.shape[0] / L.bits;
            L.cols = groups * 32;
            if (shape != f.metadata().end()) {
                std::size_t r = 0, c = 0;
                if (!detail::parse_shape(shape->second, r, c))
                    bad("metadata shape \"" + printable(shape->second) + "\" is not [rows, cols]");
                if (r != L.rows || c == 0 || group_count(c) != groups)
                    bad("metadata shape " + printable(shape->second) + " disagrees with qweight " + q.describe() +
                        " and lookup_table " + lut->describe());
                L.cols = c;
            }
        }
        const tensor_info* rp = f.find(L.name + ".rows");
        const tensor_info* ci = f.find(L.name + ".cols");
        const tensor_info* va = f.find(L.name + ".vals");
        L.has_sparse = rp || ci || va;
        if (L.has_sparse) {
            if (!rp || !ci || !va) bad("has only some of the sparse arrays rows, cols, vals");
            if (rp->type != dtype::i32 || rp->shape.size() != 1 || rp->shape[0] != L.rows + 1)
                bad("rows is " + rp->describe() + ", expected I32[" + std::to_string(L.rows + 1) + "]");
            if (ci->type != dtype::i32 || ci->shape.size() != 1)
                bad("cols is " + ci->describe() + ", expected I32[nnz]");
            if (va->type != dtype::f32 || va->shape.size() != 1)
                bad("vals is " + va->describe() + ", expected F32[nnz]");
            if (ci->shape[0] != va->shape[0])
                bad("cols has " + std::to_string(ci->shape[0]) + " entries but vals " + std::to_string(va->shape[0]));
            L.nnz = ci->shape[0];
        }
        out.push_back(std::move(L));
    }
    // A lookup_table without its codes is a broken file too.
    for (const tensor_info& t : f.tensors()) {
        if (!detail::ends_with(t.name, ".lookup_table")) continue;
        const std::string base = t.name.substr(0, t.name.size() - 13);
        if (!f.find(base + ".qweight") && !f.find(base + ".striped_codes"))
            sqllm::detail::fail(errc::corrupt_data,
                                f.path() + ": \"" + printable(t.name) + "\" has no qweight or striped_codes beside it");
    }
    return out;
}

/// True when `name` is one of the arrays of a layer in `layers`.
inline bool is_quantized_array(const std::vector<quantized_layer_info>& layers, const std::string& name) {
    for (const quantized_layer_info& L : layers)
        if (name.size() > L.name.size() && name.compare(0, L.name.size(), L.name) == 0)
            for (const std::string& s : quantized_suffixes())
                if (name.size() == L.name.size() + s.size() && detail::ends_with(name, s)) return true;
    return false;
}

namespace detail {

/// A tensor's elements: in place when its dtype is T and its address is
/// aligned for T, else copied into `keep` (which then owns them).
template <class T>
span<const T> in_place_or_copy(const safetensors_file& f, const tensor_info& t, std::vector<T>& keep) {
    if (t.type == dtype_of<T>::value && reinterpret_cast<std::uintptr_t>(f.bytes(t).data()) % alignof(T) == 0)
        return f.view<T>(t);
    keep = f.read<T>(t);
    return {keep.data(), keep.size()};
}

/// Throws errc::corrupt_data unless every padding code of a striped matrix
/// (columns cols .. padded_cols of each row) is 0, as sqllm writes them: the
/// kernels ignore them (x is zero-padded), but a file is then canonical, and
/// repacking it elsewhere carries no stray codes.
template <int Bits>
void check_striped_padding(const std::uint32_t* words, std::size_t rows, std::size_t cols) {
    using S = striped_layout<Bits>;
    const std::size_t padded = S::padded_cols(cols);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = cols; c < padded; ++c)
            if (S::get(words, rows, cols, r, c) != 0)
                sqllm::detail::fail(errc::corrupt_data, "striped_codes: padding code (" + std::to_string(r) + ", " +
                                                            std::to_string(c) + ") past the " + std::to_string(cols) +
                                                            " columns is " + std::to_string(S::get(words, rows, cols, r, c)) +
                                                            ", not 0");
}

template <class Sparse>
struct is_int32_float_csr : std::false_type {};
template <csr_schedule S>
struct is_int32_float_csr<csr<float, std::int32_t, S>> : std::true_type {};

/// Rethrows `e` with the file and the layer in front of its message.
[[noreturn]] inline void rethrow_for_layer(const safetensors_file& f, const quantized_layer_info& L, const error& e) {
    throw error(e.code(), f.path() + ": quantized layer \"" + printable(L.name) + "\": " + e.message());
}

/// Bits, and for a view the Lut, requested against the file's.
inline void check_requested(const safetensors_file& f, const quantized_layer_info& L, int bits) {
    if (L.bits != bits)
        sqllm::detail::fail(errc::invalid_argument, f.path() + ": layer \"" + printable(L.name) + "\" has " +
                                                        std::to_string(L.bits) + "-bit codes, requested " +
                                                        std::to_string(bits));
}

}  // namespace detail

/// A view of a striped-layout layer straight over the file's mapped bytes:
/// no copy, no repack; the view is valid while `f` is alive. Lut must be the
/// file's LUT type (float, half, bfloat16 ↔ F32, F16, BF16) and Bits its
/// width, else errc::invalid_argument; a reference-layout layer is refused
/// the same way (load_quantized repacks it; sqllm-convert --layout striped
/// rewrites the file). Sparse is csr<float, int32_t> (default_sparse),
/// balanced_csr<float, int32_t> (the same arrays, another schedule) or
/// no_sparse (then a layer with sparse values is refused: they would be
/// dropped). Validates what quantized_view's checking constructor does —
/// array sizes against the shape, LUT finite, CSR consistent (monotone row
/// pointers ending at nnz, columns in range and increasing per row, finite
/// values) — plus every array's address alignment (alignof its type: the
/// actual pointer is checked, which covers mapped_file::mode::read's buffer;
/// the writer aligns them to 64) and zero padding codes. Cost: reads the
/// LUT, the CSR arrays and each row's last words, not the codes.
/// Errors are sqllm::error naming the file and the layer.
template <int Bits, class Lut = float, class Sparse = default_sparse>
quantized_view<Bits, Lut, Sparse, striped_layout<Bits>> view_quantized(const safetensors_file& f,
                                                                       const quantized_layer_info& L) {
    static_assert(detail::is_int32_float_csr<Sparse>::value || std::is_same<Sparse, no_sparse>::value,
                  "sqllm: view_quantized: a file's sparse arrays are csr<float, int32_t>: use default_sparse, "
                  "balanced_csr<float, int32_t> or no_sparse (load_quantized converts to other formats)");
    using view_type = quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>;
    detail::check_requested(f, L, Bits);
    const std::string where = f.path() + ": quantized layer \"" + printable(L.name) + "\"";
    if (L.layout != checkpoint_layout::striped)
        sqllm::detail::fail(errc::invalid_argument,
                            where + " is stored in the reference layout: load_quantized repacks it, or "
                                    "sqllm-convert --layout striped rewrites the file for view_quantized");
    if (L.lut_type != dtype_of<Lut>::value)
        sqllm::detail::fail(errc::invalid_argument, where + " has a " + to_string(L.lut_type) +
                                                        " lookup_table, requested " + lut_value_traits<Lut>::name +
                                                        " (" + to_string(dtype_of<Lut>::value) + ")");
    if (std::is_same<Sparse, no_sparse>::value && L.nnz != 0)
        sqllm::detail::fail(errc::invalid_argument, where + " has " + std::to_string(L.nnz) +
                                                        " sparse values but the view type has no sparse part");
    try {
        const span<const std::uint32_t> words = f.view<std::uint32_t>(f.at(L.name + ".striped_codes"));
        const span<const Lut> lut = f.view<Lut>(f.at(L.name + ".lookup_table"));
        typename view_type::sparse_view sparse{};
        if constexpr (detail::is_int32_float_csr<Sparse>::value) {
            if (L.has_sparse)
                sparse = csr_view<float, std::int32_t>{f.view<std::int32_t>(f.at(L.name + ".rows")),
                                                       f.view<std::int32_t>(f.at(L.name + ".cols")),
                                                       f.view<float>(f.at(L.name + ".vals"))};
        }
        const view_type v(L.rows, L.cols, lut, words, sparse);  // validates sizes, LUT and CSR
        detail::check_striped_padding<Bits>(words.data(), L.rows, L.cols);
        return v;
    } catch (const error& e) {
        detail::rethrow_for_layer(f, L, e);
    }
}

/// Loads one quantized layer of either file layout into a quantized_matrix
/// in Layout (by default default_layout, the CPU kernels' striped layout).
/// Bits must equal layer.bits. A reference-layout layer is repacked in row
/// blocks run through `exec` (core/executor.hpp; the result is the same
/// for every executor); a striped layer into the striped layout is a copy
/// (view_quantized needs none). Everything import_reference checks is
/// checked here: array sizes, NaN/Inf in the LUT, and the CSR arrays
/// (monotone row pointers ending at nnz, column indices in range and
/// increasing per row, finite values); for a striped layer also its zero
/// padding codes. Failures throw sqllm::error naming the layer.
template <int Bits, class Lut = float, class Sparse = default_sparse, class Layout = default_layout<Bits>,
          class Executor = sequential_executor>
quantized_matrix<Bits, Lut, Sparse, Layout> load_quantized(const safetensors_file& f, const quantized_layer_info& L,
                                                           const Executor& exec = Executor{}) {
    detail::check_requested(f, L, Bits);
    const bool striped = L.layout == checkpoint_layout::striped;
    const tensor_info& codes_t = f.at(L.codes_tensor());
    // In place where the file allows it (aligned, as every sqllm writer
    // leaves qweight), else copies: tensors in a file need not be aligned.
    std::vector<std::int32_t> qweight_copy, rows_copy, cols_copy;
    std::vector<std::uint32_t> words_copy;
    std::vector<float> vals_copy;
    span<const std::int32_t> qweight;
    span<const std::uint32_t> words;
    if (striped) words = detail::in_place_or_copy(f, codes_t, words_copy);
    else qweight = detail::in_place_or_copy(f, codes_t, qweight_copy);
    span<const std::int32_t> rows, cols;
    span<const float> vals;
    if (L.has_sparse) {
        rows = detail::in_place_or_copy(f, f.at(L.name + ".rows"), rows_copy);
        cols = detail::in_place_or_copy(f, f.at(L.name + ".cols"), cols_copy);
        vals = detail::in_place_or_copy(f, f.at(L.name + ".vals"), vals_copy);
    }
    const tensor_info& lut_t = f.at(L.name + ".lookup_table");
    try {
        auto import = [&](auto tag) {
            using LutIn = decltype(tag);
            std::vector<LutIn> table_copy;
            const span<const LutIn> table = detail::in_place_or_copy(f, lut_t, table_copy);
            if (!striped)
                return import_reference<Bits, Lut, Sparse, Layout>(
                    L.rows, L.cols, reference_arrays<LutIn>{qweight, table, rows, cols, vals}, exec);
            if (words.size() == striped_layout<Bits>::word_count(L.rows, L.cols))
                detail::check_striped_padding<Bits>(words.data(), L.rows, L.cols);
            return import_packed<Bits, Lut, Sparse, Layout, striped_layout<Bits>>(
                L.rows, L.cols, words, table, reference_csr{rows, cols, vals}, exec);
        };
        if (lut_t.type == dtype::f16) return import(half{});
        if (lut_t.type == dtype::bf16) return import(bfloat16{});
        return import(float{});
    } catch (const error& e) {
        detail::rethrow_for_layer(f, L, e);
    }
}

}  // namespace io
SQLLM_NAMESPACE_END
