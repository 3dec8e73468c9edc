// sqllm/io/torch_checkpoint.hpp — reading PyTorch `.pt` state dicts
// (`torch.save(model.state_dict())`, the zip format of torch ≥ 1.6)
// without PyTorch and without running any of the file's code.
//
// The format (docs/DESIGN.md §8, docs/TORCH.md): a zip archive whose entries
// share one top-level folder `<root>/` (torch writes the file's stem or
// "archive"); `<root>/data.pkl` is a pickle of an OrderedDict mapping names
// to tensors — `torch._utils._rebuild_tensor_v2(storage, offset, size,
// stride, requires_grad, hooks)` — or to plain ints; each storage is a
// persistent id `('storage', torch.<T>Storage, key, location, numel)` whose
// little-endian bytes are the entry `<root>/data/<key>`.
//
// The pickle goes through io/pickle.hpp (an allow-list, nothing executed).
// On open every tensor is checked against its storage: the entry exists,
// is stored uncompressed (torch.save never compresses; a compressed entry
// could declare any size), holds exactly numel × dtype-size bytes, agrees
// with every other tensor that shares it, and the tensor's offset, sizes
// and strides stay inside it. Reading returns one tensor's bytes,
// row-major; nothing else is held in memory but the header data.
//
// Part of the optional CMake target sqllm::torch (needs libzip). Not
// thread-safe: one object reads through one libzip handle.
#pragma once

#include <zip.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../error.hpp"
#include "pickle.hpp"
#include "safetensors.hpp"

SQLLM_NAMESPACE_BEGIN
namespace io {

/// One tensor of a torch state dict.
struct torch_tensor_info {
    std::string name;
    dtype type = dtype::f32;
    std::vector<std::size_t> shape;
    std::vector<std::size_t> strides;  ///< in elements
    std::string storage_key;           ///< the entry <root>/data/<key>
    std::size_t storage_offset = 0;    ///< in elements
    std::size_t storage_numel = 0;     ///< elements of the whole storage

    /// Elements (checked on open: the product fits).
    std::size_t numel() const noexcept {
        std::size_t n = 1;
        for (std::size_t d : shape)
            n *= d;
        return n;
    }
    /// Bytes of the tensor read row-major.
    std::size_t bytes() const noexcept { return numel() * size_of(type); }
    /// Whether the elements lie row-major without gaps (dimensions of size 1 ignored).
    bool contiguous() const noexcept {
        std::size_t expect = 1;
        for (std::size_t i = shape.size(); i-- > 0;) {
            if (shape[i] != 1 && strides[i] != expect) return false;
            expect *= shape[i];
        }
        return true;
    }
    /// "F32[64, 172]"
    std::string describe() const { return describe_tensor(type, shape); }
};

/// Limits on what a checkpoint may declare.
struct torch_limits {
    std::size_t max_pickle_bytes = std::size_t(64) << 20;  ///< data.pkl (a 65B model's is ~1 MB)
    std::size_t max_dims = 16;                              ///< tensor rank
    pickle::pickle_limits pickle;
};

/// A torch.save zip archive, opened and validated (see the file comment).
class torch_checkpoint {
public:
    /// Opens `path` and validates the archive, the pickle and every tensor
    /// against its storage. Throws sqllm::error: errc::io_error when the file
    /// cannot be opened or is not a regular file; errc::corrupt_data for a
    /// broken archive or pickle, a missing or short storage; errc::invalid_argument
    /// for a global outside the allow-list (io/pickle.hpp).
    explicit torch_checkpoint(std::string path, const torch_limits& limits = {})
        : path_(std::move(path)), limits_(limits) {
        open_archive();
        find_root();
        const std::vector<unsigned char> pkl = read_entry_whole(root_ + "/data.pkl", limits_.max_pickle_bytes);
        const pickle::graph g = pickle::unpickle(pkl.data(), pkl.size(), path_ + ": " + root_ + "/data.pkl", limits_.pickle);
        interpret(g);
    }

    const std::string& path() const noexcept { return path_; }
    /// The archive's top-level folder ("archive", or the stem of the saved name).
    const std::string& root() const noexcept { return root_; }
    /// Every tensor, in the state dict's order.
    const std::vector<torch_tensor_info>& tensors() const noexcept { return tensors_; }
    /// The entries that are plain Python ints (e.g. "sparse_threshold.<layer>"), in order.
    const std::vector<std::pair<std::string, std::int64_t>>& integers() const noexcept { return integers_; }

    /// The tensor named `name`, or nullptr. O(log n).
    const torch_tensor_info* find(const std::string& name) const noexcept {
        const auto it = by_name_.find(name);
        return it == by_name_.end() || !it->second.first ? nullptr : &tensors_[it->second.second];
    }
    /// The tensor named `name`; throws errc::invalid_argument if there is none.
    const torch_tensor_info& at(const std::string& name) const {
        const torch_tensor_info* t = find(name);
        if (!t) sqllm::detail::fail(errc::invalid_argument, path_ + ": no tensor named \"" + printable(name) + "\"");
        return *t;
    }
    /// The int entry named `name`, or nullptr.
    const std::int64_t* find_integer(const std::string& name) const noexcept {
        const auto it = by_name_.find(name);
        return it == by_name_.end() || it->second.first ? nullptr : &integers_[it->second.second].second;
    }

    /// The tensor's bytes, row-major and little-endian (numel × dtype size),
    /// gathered through its strides when it is not contiguous. Reads only
    /// the part of the storage the tensor spans. Throws errc::corrupt_data
    /// if the entry turns out shorter than the archive declared.
    std::vector<unsigned char> read_bytes(const torch_tensor_info& t) const {
        const std::size_t es = size_of(t.type), n = t.numel();
        std::vector<unsigned char> out(n * es);
        if (n == 0) return out;
        if (t.contiguous()) {
            read_range(t, t.storage_offset * es, out.data(), out.size());
            return out;
        }
        // Span of the strided tensor in its storage (checked on open).
        std::size_t last = 0;
        for (std::size_t i = 0; i < t.shape.size(); ++i)
            last += (t.shape[i] - 1) * t.strides[i];
        std::vector<unsigned char> span_bytes((last + 1) * es);
        read_range(t, t.storage_offset * es, span_bytes.data(), span_bytes.size());
        std::vector<std::size_t> idx(t.shape.size(), 0);
        std::size_t src = 0;
        for (std::size_t k = 0; k < n; ++k) {
            std::memcpy(out.data() + k * es, span_bytes.data() + src * es, es);
            for (std::size_t d = t.shape.size(); d-- > 0;) {  // odometer, last dimension fastest
                if (++idx[d] < t.shape[d]) {
                    src += t.strides[d];
                    break;
                }
                src -= (t.shape[d] - 1) * t.strides[d];
                idx[d] = 0;
            }
        }
        return out;
    }

    /// The tensor as a vector of T; its dtype must be dtype_of<T> (else errc::shape_mismatch).
    template <class T>
    std::vector<T> read(const torch_tensor_info& t) const {
        if (t.type != dtype_of<T>::value)
            sqllm::detail::fail(errc::shape_mismatch, path_ + ": tensor \"" + printable(t.name) + "\" is " +
                                                          t.describe() + ", expected " + to_string(dtype_of<T>::value));
        const std::vector<unsigned char> b = read_bytes(t);
        std::vector<T> out(t.numel());
        if (!b.empty()) std::memcpy(out.data(), b.data(), b.size());
        return out;
    }

    /// An F32, F16 or BF16 tensor converted to float (exact); other dtypes
    /// throw errc::shape_mismatch.
    std::vector<float> to_float(const torch_tensor_info& t) const {
        if (t.type != dtype::f32 && t.type != dtype::f16 && t.type != dtype::bf16)
            sqllm::detail::fail(errc::shape_mismatch, path_ + ": tensor \"" + printable(t.name) + "\" is " +
                                                          t.describe() + ", not a floating-point type (F32, F16, BF16)");
        const std::vector<unsigned char> b = read_bytes(t);
        std::vector<float> out(t.numel());
        const std::size_t es = size_of(t.type);
        for (std::size_t i = 0; i < out.size(); ++i) {
            if (t.type == dtype::f32) {
                std::memcpy(&out[i], b.data() + 4 * i, 4);
            } else if (t.type == dtype::f16) {
                half h;
                std::memcpy(&h, b.data() + es * i, 2);
                out[i] = static_cast<float>(h);
            } else {
                bfloat16 h;
                std::memcpy(&h, b.data() + es * i, 2);
                out[i] = static_cast<float>(h);
            }
        }
        return out;
    }

private:
    struct zip_closer {
        void operator()(zip_t* z) const noexcept { zip_discard(z); }  // read-only: nothing to write back
    };
    struct file_closer {
        void operator()(zip_file_t* f) const noexcept { zip_fclose(f); }
    };
    struct storage_entry {
        zip_uint64_t index = 0;
        dtype type = dtype::f32;
        std::size_t numel = 0;
    };

    [[noreturn]] void fail(errc code, const std::string& what) const { sqllm::detail::fail(code, path_ + ": " + what); }

    std::string zip_message(zip_error_t* e) const { return zip_error_strerror(e); }

    void open_archive() {
        // A FIFO or device would block or never end: refuse anything but a regular file.
        std::error_code ec;
        const auto st = std::filesystem::status(path_, ec);
        if (ec || !std::filesystem::exists(st)) fail(errc::io_error, "cannot open (no such file)");
        if (!std::filesystem::is_regular_file(st)) fail(errc::io_error, "not a regular file");
        int code = 0;
        zip_t* z = zip_open(path_.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
        if (!z) {
            zip_error_t e;
            zip_error_init_with_code(&e, code);
            const std::string msg = zip_message(&e);
            zip_error_fini(&e);
            const bool io = code == ZIP_ER_OPEN || code == ZIP_ER_NOENT || code == ZIP_ER_READ || code == ZIP_ER_MEMORY;
            fail(io ? errc::io_error : errc::corrupt_data,
                 "not a readable zip archive (" + msg + "; torch.save files since torch 1.6 are zip archives, "
                 "and a truncated one loses its central directory)");
        }
        zip_.reset(z);
    }

    void find_root() {
        const zip_int64_t n = zip_get_num_entries(zip_.get(), 0);
        for (zip_int64_t i = 0; i < n; ++i) {
            const char* nm = zip_get_name(zip_.get(), static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
            if (!nm) continue;
            const std::string s(nm);
            const std::size_t slash = s.find('/');
            if (slash == std::string::npos || slash == 0 || s.compare(slash, std::string::npos, "/data.pkl") != 0)
                continue;
            if (!root_.empty() && root_ != s.substr(0, slash))
                fail(errc::corrupt_data, "the archive has two data.pkl (\"" + printable(root_) + "\" and \"" +
                                             printable(s.substr(0, slash)) + "\")");
            root_ = s.substr(0, slash);
        }
        if (root_.empty())
            fail(errc::corrupt_data,
                 "the archive has no <root>/data.pkl: not a torch.save zip file (legacy pre-1.6 files are not supported)");
        // torch ≥ 2.1 records the byte order; the storages must be little-endian.
        zip_stat_t st;
        if (zip_stat(zip_.get(), (root_ + "/byteorder").c_str(), 0, &st) == 0) {
            const std::vector<unsigned char> b = read_entry_whole(root_ + "/byteorder", 16);
            if (std::string(b.begin(), b.end()) != "little")
                fail(errc::corrupt_data, "the storages are not little-endian (" + root_ + "/byteorder)");
        }
    }

    /// Index and stat of an entry; errc::corrupt_data naming `what` if it is missing.
    zip_uint64_t locate(const std::string& entry, zip_stat_t& st, const std::string& what) const {
        const zip_int64_t i = zip_name_locate(zip_.get(), entry.c_str(), ZIP_FL_ENC_RAW);
        if (i < 0) fail(errc::corrupt_data, what + ": the archive has no entry " + printable(entry));
        zip_stat_init(&st);
        if (zip_stat_index(zip_.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
            fail(errc::corrupt_data, what + ": cannot stat the entry " + printable(entry));
        return static_cast<zip_uint64_t>(i);
    }

    std::vector<unsigned char> read_entry_whole(const std::string& entry, std::size_t limit) const {
        zip_stat_t st;
        const zip_uint64_t i = locate(entry, st, entry);
        if (st.size > limit)
            fail(errc::corrupt_data, printable(entry) + " declares " + std::to_string(st.size) +
                                         " bytes, more than the limit of " + std::to_string(limit));
        std::vector<unsigned char> out(static_cast<std::size_t>(st.size));
        std::unique_ptr<zip_file_t, file_closer> f(zip_fopen_index(zip_.get(), i, 0));
        if (!f) fail(errc::corrupt_data, "cannot open the entry " + printable(entry) + " (" +
                                             zip_message(zip_get_error(zip_.get())) + ")");
        read_fully(f.get(), out.data(), out.size(), entry);
        unsigned char extra;  // must end exactly here (and reading to the end checks the CRC)
        if (zip_fread(f.get(), &extra, 1) != 0)
            fail(errc::corrupt_data, printable(entry) + " is longer than declared or fails its checksum");
        return out;
    }

    void read_fully(zip_file_t* f, unsigned char* dst, std::size_t len, const std::string& entry) const {
        std::size_t done = 0;
        while (done < len) {
            const zip_int64_t got = zip_fread(f, dst + done, len - done);
            if (got < 0)
                fail(errc::corrupt_data, "reading " + printable(entry) + " failed (" + zip_message(zip_file_get_error(f)) + ")");
            if (got == 0)
                fail(errc::corrupt_data, printable(entry) + " ends after " + std::to_string(done) + " of " +
                                             std::to_string(len) + " bytes (truncated archive)");
            done += static_cast<std::size_t>(got);
        }
    }

    void read_range(const torch_tensor_info& t, std::size_t offset, unsigned char* dst, std::size_t len) const {
        const std::string entry = root_ + "/data/" + t.storage_key;
        const storage_entry& s = storages_.at(t.storage_key);
        std::unique_ptr<zip_file_t, file_closer> f(zip_fopen_index(zip_.get(), s.index, 0));
        if (!f) fail(errc::corrupt_data, "tensor \"" + printable(t.name) + "\": cannot open " + printable(entry));
        if (offset && zip_fseek(f.get(), static_cast<zip_int64_t>(offset), SEEK_SET) != 0)
            fail(errc::corrupt_data, "tensor \"" + printable(t.name) + "\": cannot seek in " + printable(entry));
        read_fully(f.get(), dst, len, entry);
    }

    // --- the pickle's graph --------------------------------------------
    static std::string kind_of(const pickle::graph& g, pickle::ref r) { return pickle::to_string(g[r].type); }

    void interpret(const pickle::graph& g) {
        using pickle::kind;
        const pickle::object& root = g[g.root()];
        if (root.type != kind::dict) fail(errc::corrupt_data, "data.pkl holds " + kind_of(g, g.root()) + ", not a state dict");
        for (std::size_t i = 0; i + 1 < root.items.size(); i += 2) {
            const pickle::object& key = g[root.items[i]];
            if (key.type != kind::string)
                fail(errc::corrupt_data, "a state dict key is " + kind_of(g, root.items[i]) + ", not a str");
            const std::string& name = key.text;
            if (by_name_.count(name)) fail(errc::corrupt_data, "the state dict has \"" + printable(name) + "\" twice");
            const pickle::ref v = root.items[i + 1];
            if (g[v].type == kind::integer) {
                by_name_[name] = {false, integers_.size()};
                integers_.emplace_back(name, g[v].integer);
                continue;
            }
            by_name_[name] = {true, tensors_.size()};
            tensors_.push_back(tensor(g, v, name));
        }
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`,
    /// possibly wrapped in `_rebuild_parameter(tensor, requires_grad, hooks)`.
    torch_tensor_info tensor(const pickle::graph& g, pickle::ref v, const std::string& name) {
        using pickle::kind;
        const std::string where = "entry \"" + printable(name) + "\"";
        auto bad = [&](const std::string& what) { fail(errc::corrupt_data, where + ": " + what); };
        auto call_args = [&](pickle::ref r, const char* fn) -> const pickle::object* {
            if (g[r].type != kind::reduce || !g.is_global(g[r].items[0], fn)) return nullptr;
            return &g[g[r].items[1]];
        };
        if (const pickle::object* a = call_args(v, "torch._utils _rebuild_parameter")) {
            if (a->items.size() != 3) bad("_rebuild_parameter takes 3 arguments");
            v = a->items[0];
        }
        const pickle::object* a = call_args(v, "torch._utils _rebuild_tensor_v2");
        if (!a) bad("is " + kind_of(g, v) + ", not a tensor or an int");
        if (a->items.size() != 6 && a->items.size() != 7)
            bad("_rebuild_tensor_v2 has " + std::to_string(a->items.size()) + " arguments, expected 6 or 7");
        torch_tensor_info t;
        t.name = name;
        // The storage: ('storage', torch.<T>Storage, key, location, numel).
        const pickle::object& pid = g[a->items[0]];
        if (pid.type != kind::persistent_id) bad("the tensor's storage is not a persistent id");
        const pickle::object& s = g[pid.items[0]];
        if (s.type != kind::tuple || s.items.size() != 5 || g[s.items[0]].type != kind::string ||
            g[s.items[0]].text != "storage")
            bad("the storage id is not ('storage', type, key, location, numel)");
        if (!storage_dtype(g, s.items[1], t.type)) bad("the storage type is not a torch.<T>Storage");
        const pickle::object& key = g[s.items[2]];
        if (key.type != kind::string || key.text.empty() || key.text.size() > 64 ||
            !std::all_of(key.text.begin(), key.text.end(), [](char c) {
                return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
            }))
            bad("the storage key is not a short name of letters, digits and _");
        t.storage_key = key.text;
        t.storage_numel = non_negative(g, s.items[4], where + ": storage size");
        t.storage_offset = non_negative(g, a->items[1], where + ": storage offset");
        t.shape = dims(g, a->items[2], where + ": size");
        t.strides = dims(g, a->items[3], where + ": stride");
        if (t.strides.size() != t.shape.size())
            bad("has " + std::to_string(t.shape.size()) + " sizes but " + std::to_string(t.strides.size()) + " strides");
        if (g[a->items[4]].type != kind::boolean) bad("requires_grad is not a bool");

        // Elements, and the storage elements the tensor spans.
        std::size_t n = 1, last = t.storage_offset;
        for (std::size_t i = 0; i < t.shape.size(); ++i)
            n = checked_mul(n, t.shape[i], "tensor element count");
        if (n > 0)
            for (std::size_t i = 0; i < t.shape.size(); ++i)
                last = checked_add(last, checked_mul(t.shape[i] - 1, t.strides[i], "tensor extent"), "tensor extent");
        (void)checked_mul(n, size_of(t.type), "tensor bytes");
        if (n > 0 ? last >= t.storage_numel : t.storage_offset > t.storage_numel)
            bad(t.describe() + " at offset " + std::to_string(t.storage_offset) + " with strides " +
                list(t.strides) + " reaches past its storage of " + std::to_string(t.storage_numel) + " elements");
        check_storage(t, where);
        return t;
    }

    static std::string list(const std::vector<std::size_t>& v) {
        std::string s = "(";
        for (std::size_t i = 0; i < v.size(); ++i)
            s += (i ? ", " : "") + std::to_string(v[i]);
        return s + ")";
    }

    static bool storage_dtype(const pickle::graph& g, pickle::ref r, dtype& out) {
        static const std::pair<const char*, dtype> table[] = {
            {"torch FloatStorage", dtype::f32}, {"torch HalfStorage", dtype::f16},  {"torch BFloat16Storage", dtype::bf16},
            {"torch DoubleStorage", dtype::f64}, {"torch IntStorage", dtype::i32},  {"torch LongStorage", dtype::i64},
            {"torch ShortStorage", dtype::i16},  {"torch CharStorage", dtype::i8},  {"torch ByteStorage", dtype::u8},
            {"torch BoolStorage", dtype::boolean}};
        for (const auto& e : table)
            if (g.is_global(r, e.first)) {
                out = e.second;
                return true;
            }
        return false;
    }

    std::size_t non_negative(const pickle::graph& g, pickle::ref r, const std::string& what) const {
        if (g[r].type != pickle::kind::integer || g[r].integer < 0)
            fail(errc::corrupt_data, what + " is not a non-negative int");
        return checked_narrow<std::size_t>(g[r].integer, what.c_str());
    }

    std::vector<std::size_t> dims(const pickle::graph& g, pickle::ref r, const std::string& what) const {
        if (g[r].type != pickle::kind::tuple) fail(errc::corrupt_data, what + " is not a tuple");
        if (g[r].items.size() > limits_.max_dims)
            fail(errc::corrupt_data, what + " has more than " + std::to_string(limits_.max_dims) + " dimensions");
        std::vector<std::size_t> out;
        for (pickle::ref d : g[r].items)
            out.push_back(non_negative(g, d, what));
        return out;
    }

    /// The storage entry exists, is stored, holds numel × size bytes, and
    /// every tensor on it agrees about its dtype and size.
    void check_storage(const torch_tensor_info& t, const std::string& where) {
        const auto known = storages_.find(t.storage_key);
        if (known != storages_.end()) {
            if (known->second.type != t.type || known->second.numel != t.storage_numel)
                fail(errc::corrupt_data, where + ": storage " + printable(t.storage_key) +
                                             " is declared with another dtype or size by an earlier tensor");
            return;
        }
        const std::string entry = root_ + "/data/" + t.storage_key;
        zip_stat_t st;
        storage_entry s;
        s.index = locate(entry, st, where);
        s.type = t.type;
        s.numel = t.storage_numel;
        if ((st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method != ZIP_CM_STORE)
            fail(errc::corrupt_data, where + ": storage entry " + printable(entry) +
                                         " is compressed (torch.save stores storages uncompressed)");
        if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
            fail(errc::corrupt_data, where + ": storage entry " + printable(entry) + " is encrypted");
        const std::size_t need = checked_mul(t.storage_numel, size_of(t.type), "storage bytes");
        if (st.size != need)
            fail(errc::corrupt_data, where + ": storage entry " + printable(entry) + " has " + std::to_string(st.size) +
                                         " bytes, but " + std::to_string(t.storage_numel) + " " + to_string(t.type) +
                                         " elements need " + std::to_string(need));
        storages_[t.storage_key] = s;
    }

    std::string path_;
    torch_limits limits_;
    std::unique_ptr<zip_t, zip_closer> zip_;
    std::string root_;
    std::vector<torch_tensor_info> tensors_;
    std::vector<std::pair<std::string, std::int64_t>> integers_;
    std::map<std::string, std::pair<bool, std::size_t>> by_name_;  // name -> (is tensor, index)
    std::map<std::string, storage_entry> storages_;
};

}  // namespace io
SQLLM_NAMESPACE_END
