// sqllm/io/quantized_checkpoint.hpp — quantized layers in safetensors files,
// under the SqueezeLLM reference's tensor names and layout.
//
// Per quantized layer `<name>` (docs/DESIGN.md §3, format/reference_checkpoint.hpp):
//   <name>.qweight       I32 [ceil(cols/32)·Bits, rows]  codes, reference layout
//   <name>.lookup_table  F32 (or F16) [rows, 2^Bits]
//   <name>.rows          I32 [rows + 1]   CSR row pointers   } only when the layer
//   <name>.cols          I32 [nnz]        CSR column indices } has a sparse part
//   <name>.vals          F32 [nnz]        residuals          }
// A reference checkpoint converted to safetensors loads as is: Bits comes
// from the LUT width and cols from qweight (the reference needs multiples
// of 128). sqllm also records each layer's exact shape in the metadata as
// "sqllm.shape.<name>" = "[rows, cols]", so any width round-trips; tools
// that do not know the key ignore it. Other metadata keys sqllm writes are
// listed at checkpoint_keys.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../format/reference_checkpoint.hpp"
#include "../layout/striped.hpp"
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
}  // namespace checkpoint_keys

#if SQLLM_IO_HAS_MMAP
/// Writes the arrays of one quantized layer under `name` (see the file
/// comment) and records its shape in the writer's metadata. The LUT is
/// stored as `lut_type` (F32, the reference's, or F16; F16 must hold every
/// value exactly or the write throws errc::out_of_range rather than lose
/// precision silently). POSIX only, as safetensors_writer.
template <int Bits, class Lut, class Sparse, class Layout>
void write_quantized(safetensors_writer& out, const std::string& name,
                     const quantized_view<Bits, Lut, Sparse, Layout>& m, dtype lut_type = dtype::f32) {
    const reference_checkpoint ck = export_reference(m);
    const std::size_t rows = m.rows(), groups = reference_layout<Bits>::word_count(1, m.cols()) / Bits;
    out.add<std::int32_t>(name + ".qweight", {groups * Bits, rows}, ck.qweight);
    const std::vector<std::size_t> lut_shape{rows, std::size_t(1) << Bits};
    if (lut_type == dtype::f32) {
        out.add<float>(name + ".lookup_table", lut_shape, ck.lookup_table);
    } else if (lut_type == dtype::f16) {
        std::vector<half> h(ck.lookup_table.size());
        for (std::size_t i = 0; i < h.size(); ++i) {
            h[i] = half(ck.lookup_table[i]);
            if (static_cast<float>(h[i]) != ck.lookup_table[i])
                sqllm::detail::fail(
                    errc::out_of_range,
                    "layer \"" + name + "\": LUT value " + std::to_string(ck.lookup_table[i]) + " is not exact in F16");
        }
        out.add<half>(name + ".lookup_table", lut_shape, h);
    } else {
        sqllm::detail::fail(errc::invalid_argument,
                            std::string("a lookup_table is stored as F32 or F16, not ") + to_string(lut_type));
    }
    if (!ck.sparse_rows.empty()) {
        out.add<std::int32_t>(name + ".rows", {ck.sparse_rows.size()}, ck.sparse_rows);
        out.add<std::int32_t>(name + ".cols", {ck.sparse_cols.size()}, ck.sparse_cols);
        out.add<float>(name + ".vals", {ck.sparse_vals.size()}, ck.sparse_vals);
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

    /// Bytes of the layer's arrays as stored.
    /// (The arrays exist in a file, so the sum fits; it is checked anyway.)
    std::size_t stored_bytes() const {
        const char* what = "quantized layer size";
        std::size_t b = checked_add(checked_mul(group_count(cols), static_cast<std::size_t>(bits), rows * 4, what),
                                    checked_mul(rows, std::size_t(1) << bits, size_of(lut_type), what), what);
        if (has_sparse) b = checked_add(b, checked_add(checked_mul(rows + 1, 4, what), checked_mul(nnz, 8, what), what), what);
        return b;
    }
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

}  // namespace detail

/// The tensor-name suffixes of a quantized layer's arrays.
inline const std::vector<std::string>& quantized_suffixes() {
    static const std::vector<std::string> s{".qweight", ".lookup_table", ".rows", ".cols", ".vals"};
    return s;
}

/// Every quantized layer of `f` (each `<name>.qweight`), in file order,
/// with shapes, dtypes and array sizes checked against each other. Throws
/// errc::corrupt_data naming the layer and the inconsistency. The codes and
/// CSR contents are checked when a layer is loaded.
inline std::vector<quantized_layer_info> find_quantized_layers(const safetensors_file& f) {
    std::vector<quantized_layer_info> out;
    for (const tensor_info& q : f.tensors()) {
        if (!detail::ends_with(q.name, ".qweight")) continue;
        quantized_layer_info L;
        L.name = q.name.substr(0, q.name.size() - 8);
        const std::string where = f.path() + ": quantized layer \"" + printable(L.name) + "\"";
        auto bad = [&](const std::string& what) { sqllm::detail::fail(errc::corrupt_data, where + ": " + what); };
        const tensor_info* lut = f.find(L.name + ".lookup_table");
        if (!lut) bad("has a qweight but no lookup_table");
        if (q.type != dtype::i32) bad("qweight is " + q.describe() + ", expected I32");
        if (q.shape.size() != 2) bad("qweight is " + q.describe() + ", expected 2-D [cols·Bits/32, rows]");
        if (lut->type != dtype::f32 && lut->type != dtype::f16)
            bad("lookup_table is " + lut->describe() + ", expected F32 or F16");
        if (lut->shape.size() != 2) bad("lookup_table is " + lut->describe() + ", expected 2-D [rows, 2^Bits]");
        L.lut_type = lut->type;
        L.rows = lut->shape[0];
        const std::size_t levels = lut->shape[1];
        for (int b = 1; b <= 8; ++b)
            if (levels == (std::size_t(1) << b)) L.bits = b;
        if (L.bits == 0)
            bad("lookup_table has " + std::to_string(levels) + " entries per row, not 2^Bits with Bits 1..8");
        if (L.rows == 0) bad("has no rows");
        if (q.shape[1] != L.rows)
            bad("qweight has " + std::to_string(q.shape[1]) + " columns but lookup_table " + std::to_string(L.rows) +
                " rows");
        if (q.shape[0] == 0 || q.shape[0] % L.bits != 0)
            bad("qweight has " + std::to_string(q.shape[0]) +
                " word rows, not a positive multiple of Bits = " + std::to_string(L.bits));
        const std::size_t groups = q.shape[0] / L.bits;
        L.cols = groups * 32;
        const auto shape = f.metadata().find(checkpoint_keys::shape_prefix + L.name);
        if (shape != f.metadata().end()) {
            std::size_t r = 0, c = 0;
            if (!detail::parse_shape(shape->second, r, c))
                bad("metadata shape \"" + printable(shape->second) + "\" is not [rows, cols]");
            if (r != L.rows || c == 0 || group_count(c) != groups)
                bad("metadata shape " + printable(shape->second) + " disagrees with qweight " + q.describe() +
                    " and lookup_table " + lut->describe());
            L.cols = c;
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
    // A lookup_table or sparse array without its qweight is a broken file too.
    for (const tensor_info& t : f.tensors())
        for (const std::string& s : quantized_suffixes()) {
            if (s == ".qweight" || !detail::ends_with(t.name, s)) continue;
            const std::string base = t.name.substr(0, t.name.size() - s.size());
            if (s == ".lookup_table" && !f.find(base + ".qweight"))
                sqllm::detail::fail(errc::corrupt_data, f.path() + ": \"" + printable(t.name) + "\" has no qweight beside it");
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

/// Loads one quantized layer into a quantized_matrix, repacking the codes
/// once into Layout (by default default_layout, the CPU kernels' striped layout). Bits must
/// equal layer.bits. Everything import_reference checks is checked here:
/// array sizes, NaN/Inf in the LUT, and the CSR arrays (monotone row
/// pointers ending at nnz, column indices in range and increasing per row,
/// finite values); failures throw sqllm::error naming the layer.
template <int Bits, class Lut = float, class Sparse = default_sparse, class Layout = default_layout<Bits>>
quantized_matrix<Bits, Lut, Sparse, Layout> load_quantized(const safetensors_file& f, const quantized_layer_info& L) {
    if (L.bits != Bits)
        sqllm::detail::fail(errc::invalid_argument, f.path() + ": layer \"" + printable(L.name) + "\" has " +
                                                        std::to_string(L.bits) + "-bit codes, requested " +
                                                        std::to_string(Bits));
    // Copies, not views: tensors in a file need not be aligned for their type.
    const auto qweight = f.read<std::int32_t>(f.at(L.name + ".qweight"));
    std::vector<std::int32_t> rows, cols;
    std::vector<float> vals;
    if (L.has_sparse) {
        rows = f.read<std::int32_t>(f.at(L.name + ".rows"));
        cols = f.read<std::int32_t>(f.at(L.name + ".cols"));
        vals = f.read<float>(f.at(L.name + ".vals"));
    }
    const tensor_info& lut = f.at(L.name + ".lookup_table");
    try {
        if (lut.type == dtype::f16) {
            const auto table = f.read<half>(lut);
            return import_reference<Bits, Lut, Sparse, Layout>(
                L.rows, L.cols, reference_arrays<half>{qweight, table, rows, cols, vals});
        }
        const auto table = f.read<float>(lut);
        return import_reference<Bits, Lut, Sparse, Layout>(L.rows, L.cols,
                                                           reference_arrays<float>{qweight, table, rows, cols, vals});
    } catch (const error& e) {
        throw error(e.code(), f.path() + ": quantized layer \"" + printable(L.name) + "\": " + e.message());
    }
}

}  // namespace io
SQLLM_NAMESPACE_END
