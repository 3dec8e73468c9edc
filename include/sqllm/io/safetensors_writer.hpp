// sqllm/io/safetensors_writer.hpp — writes a safetensors file tensor by
// tensor (the format and the reader are io/safetensors.hpp).
//
// Part of sqllm's optional I/O layer (CMake target sqllm::io).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/span.hpp"
#include "../error.hpp"
#include "safetensors.hpp"

SQLLM_NAMESPACE_BEGIN
namespace io {

/// Writes a safetensors file tensor by tensor, holding none of them: data
/// goes to a spool file beside the output as it arrives; finish() writes
/// the header and the spooled data to `<path>.partial` and renames it to
/// `path`. Until finish() returns, `path` is untouched, and a writer
/// destroyed without finish() (an exception, an interrupt) deletes its
/// temporary files: an output file, when it exists, is always complete.
class safetensors_writer {
public:
    explicit safetensors_writer(std::string path)
        : path_(std::move(path)), spool_path_(path_ + ".spool"), partial_path_(path_ + ".partial") {
        spool_ = std::fopen(spool_path_.c_str(), "w+b");
        if (!spool_)
            sqllm::detail::fail(errc::io_error, spool_path_ + ": cannot create (" + std::strerror(errno) + ")");
    }
    safetensors_writer(const safetensors_writer&) = delete;
    safetensors_writer& operator=(const safetensors_writer&) = delete;
    ~safetensors_writer() { discard(); }

    /// Sets a "__metadata__" entry (replacing an earlier value).
    void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

    /// Appends a tensor of `type` and `shape` whose bytes are `data`
    /// (numel × size_of(type) bytes, little-endian). Throws on a duplicate
    /// or reserved name, a size mismatch, or a write error.
    void add(const std::string& name, dtype type, const std::vector<std::size_t>& shape, const void* data,
             std::size_t bytes) {
        require_open();
        if (name.empty() || name == "__metadata__")
            sqllm::detail::fail(errc::invalid_argument,
                                "safetensors tensor name \"" + name + "\" is reserved or empty");
        for (const tensor_info& t : tensors_)
            if (t.name == name)
                sqllm::detail::fail(errc::invalid_argument, "safetensors tensor \"" + name + "\" added twice");
        tensor_info t;
        t.name = name;
        t.type = type;
        t.shape = shape;
        std::size_t expect = size_of(type);  // numel() would wrap for a hostile shape: multiply checked
        bool fits = true;
        for (std::size_t d : shape)
            fits = fits && mul_fits(expect, d, expect);
        if (!fits || expect != bytes)
            sqllm::detail::fail(errc::shape_mismatch, "tensor \"" + name + "\" is " + t.describe() + " but " +
                                                          std::to_string(bytes) + " bytes were given");
        t.begin = offset_;
        t.end = offset_ + bytes;
        if (bytes && std::fwrite(data, 1, bytes, spool_) != bytes) write_failed(spool_path_);
        offset_ = t.end;
        tensors_.push_back(std::move(t));
    }
    /// Typed form: the dtype follows T.
    template <class T>
    void add(const std::string& name, const std::vector<std::size_t>& shape, span<const T> data) {
        add(name, dtype_of<T>::value, shape, data.data(), data.size() * sizeof(T));
    }

    /// Writes the file and renames it into place. The header is padded with
    /// spaces so the data section starts 8-byte aligned.
    void finish() {
        require_open();
        nlohmann::ordered_json h = nlohmann::ordered_json::object();
        if (!metadata_.empty()) h["__metadata__"] = metadata_;
        for (const tensor_info& t : tensors_)
            h[t.name] = {{"dtype", to_string(t.type)}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
        std::string text = h.dump();
        text.append((8 - text.size() % 8) % 8, ' ');
        std::FILE* out = std::fopen(partial_path_.c_str(), "wb");
        if (!out) sqllm::detail::fail(errc::io_error, partial_path_ + ": cannot create (" + std::strerror(errno) + ")");
        bool ok = true;
        unsigned char len[8];
        for (int i = 0; i < 8; ++i)
            len[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
        ok = std::fwrite(len, 1, 8, out) == 8 && std::fwrite(text.data(), 1, text.size(), out) == text.size();
        // Stream the spool across in 1 MiB pieces: memory stays flat.
        std::vector<unsigned char> buf(std::size_t(1) << 20);
        ok = ok && std::fflush(spool_) == 0 && std::fseek(spool_, 0, SEEK_SET) == 0;
        for (std::size_t left = offset_; ok && left > 0;) {
            const std::size_t n = std::min(left, buf.size());
            ok = std::fread(buf.data(), 1, n, spool_) == n && std::fwrite(buf.data(), 1, n, out) == n;
            left -= n;
        }
        ok = std::fclose(out) == 0 && ok;
        if (!ok) {
            std::remove(partial_path_.c_str());
            write_failed(partial_path_);
        }
        std::fclose(spool_);
        spool_ = nullptr;
        std::remove(spool_path_.c_str());
        if (std::rename(partial_path_.c_str(), path_.c_str()) != 0) {
            std::remove(partial_path_.c_str());
            sqllm::detail::fail(errc::io_error,
                                path_ + ": cannot rename the finished file into place (" + std::strerror(errno) + ")");
        }
        finished_ = true;
    }

    /// Deletes the temporary files without writing the output (also what
    /// the destructor does when finish() was not reached).
    void discard() noexcept {
        if (spool_) {
            std::fclose(spool_);
            spool_ = nullptr;
            std::remove(spool_path_.c_str());
        }
        if (!finished_) std::remove(partial_path_.c_str());
    }

    /// Bytes of tensor data added so far.
    std::size_t data_bytes() const noexcept { return offset_; }

private:
    void require_open() const {
        if (!spool_ || finished_)
            sqllm::detail::fail(errc::invalid_argument, path_ + ": the safetensors writer is finished or discarded");
    }
    [[noreturn]] void write_failed(const std::string& file) {
        sqllm::detail::fail(errc::io_error, file + ": write failed (" + std::strerror(errno) + ")");
    }

    std::string path_, spool_path_, partial_path_;
    std::FILE* spool_ = nullptr;
    bool finished_ = false;
    std::size_t offset_ = 0;
    std::map<std::string, std::string> metadata_;
    std::vector<tensor_info> tensors_;
};

}  // namespace io
SQLLM_NAMESPACE_END
