// sqllm/io/safetensors_writer.hpp — writes a safetensors file tensor by
// tensor (the format and the reader are io/safetensors.hpp), through
// temporary files that become the output only by an atomic rename.
//
// Part of sqllm's optional I/O layer (CMake target sqllm::io). POSIX only
// (open/fstat/rename/unlink): what makes the writer safe are O_EXCL and
// O_NOFOLLOW, device/inode checks and rename(2).
//
// File-safety rules (tools/quantize relies on them; docs/CLI.md):
// - temporaries live beside the output (so the final rename stays within one
//   file system) and are named `<output>.sqllm-tmp.<pid>.<16 hex digits>`;
//   they are created with O_CREAT|O_EXCL|O_NOFOLLOW, so no existing file or
//   symlink is ever opened, followed or truncated;
// - a temporary is removed only while the name still refers to the file this
//   object created (same device and inode): fixed look-alike names such as
//   `<output>.spool` are never touched;
// - a process killed outright (SIGKILL) cannot clean up: its temporaries
//   stay behind, and temporary_output::remove_stale() (run by the next
//   sqllm-quantize) recognises them by the pattern, a pid that no longer
//   exists, the owner and the file type.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../core/span.hpp"
#include "../error.hpp"
#include "safetensors.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#else
#error "sqllm/io/safetensors_writer.hpp needs POSIX (open, fstat, rename, unlink); reading (safetensors.hpp, quantized_checkpoint.hpp's loaders) does not"
#endif

SQLLM_NAMESPACE_BEGIN
namespace io {

/// The directory part of a path as open() would resolve it ("." for a bare name).
inline std::string directory_of(const std::string& path) {
    const std::size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

/// The last component of a path (what follows the last '/').
inline std::string basename_of(const std::string& path) {
    const std::size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

namespace detail {

inline std::string errno_text(int e) { return std::string("(") + std::strerror(e) + ")"; }

/// write(2) until done; false (errno set) on an error. A write that stops
/// short without an error (a full disk on some file systems) reports ENOSPC.
inline bool write_all(int fd, const void* data, std::size_t bytes) noexcept {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
        const ssize_t n = ::write(fd, p, std::min<std::size_t>(bytes, std::size_t(1) << 30));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) {
            errno = ENOSPC;
            return false;
        }
        p += n;
        bytes -= static_cast<std::size_t>(n);
    }
    return true;
}

/// 16 hex digits for a temporary's name. Unpredictable where the platform
/// has an entropy source (so nobody can plant a symlink at the name in
/// advance — O_EXCL refuses it anyway), and distinct per call regardless.
inline std::string random_hex(const void* salt, unsigned attempt) {
    std::uint64_t x = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    x ^= static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(salt)) * 0x9E3779B97F4A7C15ull;
    x ^= static_cast<std::uint64_t>(attempt) << 48;
    try {
        std::random_device rd;
        x ^= (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    } catch (...) {  // no entropy source: the clock, the address and O_EXCL suffice for uniqueness
    }
    x ^= x >> 33;  // splitmix64's finaliser: every input bit reaches every digit
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    char buf[17];
    for (int i = 15; i >= 0; --i, x >>= 4)
        buf[i] = "0123456789abcdef"[x & 15];
    buf[16] = '\0';
    return buf;
}

/// The marker between the output's name and `<pid>.<random>`.
constexpr const char* temporary_marker = ".sqllm-tmp.";

/// Whether `name` is `<base>.sqllm-tmp.<pid>.<16 hex>`; stores the pid.
inline bool parse_temporary_name(const std::string& name, const std::string& base, long& pid) {
    const std::string prefix = base + temporary_marker;
    if (name.size() < prefix.size() + 18 || name.compare(0, prefix.size(), prefix) != 0) return false;
    const std::size_t dot = name.find('.', prefix.size());
    if (dot == std::string::npos || dot == prefix.size() || dot - prefix.size() > 9) return false;
    if (name.size() - dot - 1 != 16) return false;
    long v = 0;
    for (std::size_t i = prefix.size(); i < dot; ++i) {
        if (name[i] < '0' || name[i] > '9') return false;
        v = v * 10 + (name[i] - '0');
    }
    for (std::size_t i = dot + 1; i < name.size(); ++i)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return false;
    if (v <= 0) return false;
    pid = v;
    return true;
}

}  // namespace detail

/// One temporary file that becomes `target` only by commit(): created
/// beside `target` as `<target>.sqllm-tmp.<pid>.<random>` (O_EXCL,
/// O_NOFOLLOW, mode 0600 while it is written); commit() gives it the mode a
/// new file would get (0666 less the umask), checks the close, and renames
/// it over `target`. Destroyed uncommitted, it removes the file it created
/// and nothing else. Throws sqllm::error: errc::io_error naming the file and
/// the system's reason, errc::invalid_argument for an unusable target.
class temporary_output {
public:
    explicit temporary_output(std::string target) : target_(std::move(target)) {
        check_target(target_);
        for (unsigned attempt = 0;; ++attempt) {
            path_ = target_ + detail::temporary_marker + std::to_string(static_cast<long>(::getpid())) + "." +
                    detail::random_hex(this, attempt);
            // Created with 0666 so the kernel applies the umask (and any default
            // ACL): that mode, read back, is what the output gets at commit().
            // No umask() call: it would change process-wide state.
            fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
            if (fd_ >= 0) break;
            if (errno == EEXIST && attempt < 100) continue;  // a name already taken (or planted): pick another
            const int e = errno;
            sqllm::detail::fail(errc::io_error, target_ + ": cannot create a temporary file in " +
                                                    directory_of(target_) + " " + detail::errno_text(e));
        }
        struct stat st {};
        if (::fstat(fd_, &st) != 0 || ::fchmod(fd_, st.st_mode & 0600) != 0) {
            const int e = errno;
            discard();
            sqllm::detail::fail(errc::io_error, describe() + ": cannot set its mode " + detail::errno_text(e));
        }
        dev_ = st.st_dev;
        ino_ = st.st_ino;
        final_mode_ = st.st_mode & 07777;
    }
    temporary_output(const temporary_output&) = delete;
    temporary_output& operator=(const temporary_output&) = delete;
    ~temporary_output() { discard(); }

    /// Fails fast, before any work, on a target that can never be written:
    /// an empty name, an existing directory, or a directory part that does
    /// not exist or is not a directory. (Permissions are tested by actually
    /// creating the temporary, which the constructor does next.)
    static void check_target(const std::string& target) {
        if (target.empty()) sqllm::detail::fail(errc::invalid_argument, "the output path is empty");
        if (target.back() == '/')
            sqllm::detail::fail(errc::invalid_argument, target + ": names a directory, not a file");
        struct stat st {};
        if (::stat(target.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
            sqllm::detail::fail(errc::invalid_argument, target + ": is a directory, not a file");
        const std::string dir = directory_of(target);
        if (::stat(dir.c_str(), &st) != 0) {
            const int e = errno;
            sqllm::detail::fail(errc::io_error,
                                target + ": cannot create: its directory " + dir + " " + detail::errno_text(e));
        }
        if (!S_ISDIR(st.st_mode))
            sqllm::detail::fail(errc::io_error, target + ": cannot create: " + dir + " is not a directory");
    }

    /// Removes the temporaries of `target` that killed processes left
    /// behind (SIGKILL, power loss): names of exactly this object's pattern
    /// for the same target, whose pid no longer exists (kill(pid, 0) fails
    /// with ESRCH), that are regular files (links are not followed) owned by
    /// this user. Temporaries of live processes (another run writing the same
    /// output) are kept. Returns the names removed; never throws. In a
    /// separate pid namespace sharing the directory a live writer's pid may
    /// look dead: don't run two writers to one output across containers.
    static std::vector<std::string> remove_stale(const std::string& target) {
        std::vector<std::string> removed;
        if (target.empty()) return removed;
        const std::string dir = directory_of(target), base = basename_of(target);
        DIR* d = ::opendir(dir.c_str());
        if (!d) return removed;
        const int dfd = ::dirfd(d);
        while (const dirent* ent = ::readdir(d)) {
            const std::string name = ent->d_name;
            long pid = 0;
            if (!detail::parse_temporary_name(name, base, pid)) continue;
            if (pid == static_cast<long>(::getpid())) continue;  // ours: alive by definition
            if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
            struct stat st {};
            if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
            if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) continue;
            if (::unlinkat(dfd, name.c_str(), 0) == 0) removed.push_back(dir == "." ? name : dir + "/" + name);
        }
        ::closedir(d);
        return removed;
    }

    /// The temporary's name (for a signal handler's cleanup list) and what it becomes.
    const std::string& path() const noexcept { return path_; }
    const std::string& target() const noexcept { return target_; }
    /// The temporary's identity: remove only a name that still refers to it.
    dev_t device() const noexcept { return dev_; }
    ino_t inode() const noexcept { return ino_; }
    /// The open descriptor (read/write), or -1 once sealed or discarded.
    int fd() const noexcept { return fd_; }

    /// Appends bytes; throws naming the temporary (and its target) and the cause.
    void write(const void* data, std::size_t bytes) {
        require_writable();
        if (!detail::write_all(fd_, data, bytes)) fail_errno("write failed");
    }

    /// Ends writing: the final mode, and the close checked (NFS reports
    /// deferred write errors there). After seal() only commit() or discard().
    void seal() {
        require_writable();
        if (::fchmod(fd_, final_mode_) != 0) fail_errno("cannot set its mode");
        const int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0) fail_errno("write failed at close");
        sealed_ = true;
    }

    /// Renames the (sealed, else sealed now) temporary over the target: the
    /// target is, at every moment, either its old content or the complete file.
    void commit() {
        if (!sealed_) seal();
        if (committed_ || !still_ours())
            sqllm::detail::fail(errc::io_error, describe() + ": the temporary file was removed or replaced");
        if (::rename(path_.c_str(), target_.c_str()) != 0) {
            const int e = errno;
            discard();
            sqllm::detail::fail(errc::io_error, target_ + ": cannot rename " + path_ + " into place " +
                                                    detail::errno_text(e));
        }
        committed_ = true;
    }

    /// Closes and removes the temporary unless committed; removes it only if
    /// the name still refers to the file created here. Idempotent.
    void discard() noexcept {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
        if (!committed_ && !discarded_ && !path_.empty() && still_ours()) ::unlink(path_.c_str());
        discarded_ = true;
    }

    bool committed() const noexcept { return committed_; }

private:
    bool still_ours() const noexcept {
        struct stat st {};
        return ::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_;
    }
    std::string describe() const { return path_ + " (temporary file for " + target_ + ")"; }
    void require_writable() const {
        if (fd_ < 0)
            sqllm::detail::fail(errc::invalid_argument, describe() + ": already sealed, committed or discarded");
    }
    [[noreturn]] void fail_errno(const char* what) const {
        const int e = errno;
        sqllm::detail::fail(errc::io_error, describe() + ": " + what + " " + detail::errno_text(e));
    }

    std::string target_, path_;
    int fd_ = -1;
    dev_t dev_{};
    ino_t ino_{};
    mode_t final_mode_ = 0644;
    bool sealed_ = false, committed_ = false, discarded_ = false;
};

/// Writes a safetensors file tensor by tensor, holding none of them: data
/// goes to a spool temporary beside the output as it arrives; prepare()
/// writes the header and the spooled data to a second temporary; commit()
/// renames that over `path`. finish() is both. Until commit(), `path` is
/// untouched; destroyed or discard()ed before it, the writer removes its
/// temporaries (and only those): an output file, when it exists, is always
/// complete. Construction fails fast (sqllm::error) when `path` is a
/// directory or its directory is missing or not writable.
///
/// Two phases let a caller that writes several files (a model and its
/// report) prepare all of them and rename them only once all succeeded.
class safetensors_writer {
public:
    explicit safetensors_writer(std::string path) : path_(std::move(path)), spool_(path_), out_(path_) {}
    safetensors_writer(const safetensors_writer&) = delete;
    safetensors_writer& operator=(const safetensors_writer&) = delete;
    ~safetensors_writer() { discard(); }

    /// Sets a "__metadata__" entry (replacing an earlier value).
    void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
    /// The "__metadata__" entries set so far.
    const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

    /// Appends a tensor of `type` and `shape` whose bytes are `data`
    /// (numel × size_of(type) bytes, little-endian). Throws on a duplicate
    /// or reserved name, a size mismatch, or a write error (naming the
    /// spool file and the cause). Duplicates are found in O(log n).
    /// Names starting with "__padding__." are reserved for the padding
    /// tensors of set_alignment.
    void add(const std::string& name, dtype type, const std::vector<std::size_t>& shape, const void* data,
             std::size_t bytes) {
        require_state(state::adding);
        if (name.empty() || name == "__metadata__" || is_padding_tensor(name))
            sqllm::detail::fail(errc::invalid_argument,
                                "safetensors tensor name \"" + name + "\" is reserved or empty");
        check(name, type, shape, bytes);  // before any padding: a refused tensor leaves the file as it was
        pad_to(alignment_);
        append(name, type, shape, data, bytes);
    }
    /// Typed form: the dtype follows T.
    template <class T>
    void add(const std::string& name, const std::vector<std::size_t>& shape, span<const T> data) {
        add(name, dtype_of<T>::value, shape, data.data(), data.size() * sizeof(T));
    }

    /// Aligns every tensor added from now on: its data starts at a multiple of
    /// `alignment` bytes of the FILE, so a reader that maps the file (a
    /// mapping starts on a page) can use it in place, e.g. with SIMD loads.
    /// The data section has to be tiled without holes, so each gap is a U8
    /// tensor "__padding__.<n>" (is_padding_tensor; at most alignment − 1
    /// bytes), and prepare() pads the JSON header with trailing spaces (as
    /// the format's own writer does) so the data section starts at a multiple
    /// of the largest alignment ever set. Any safetensors reader reads such a
    /// file; readers that list tensors as weights skip the padding ones.
    /// `alignment` is a power of two, 1 (the default: no padding) to 4096;
    /// else errc::invalid_argument. Tensors added earlier keep their offsets.
    void set_alignment(std::size_t alignment) {
        require_state(state::adding);
        check_alignment(alignment);
        alignment_ = alignment;
        header_alignment_ = std::max(header_alignment_, alignment);
    }
    /// The alignment set_alignment set (1 when none).
    std::size_t alignment() const noexcept { return alignment_; }

    /// Pads the data section now, as set_alignment does before each tensor, so
    /// that the next tensor would start at a multiple of `alignment` (a power
    /// of two, 1 to 4096), e.g. to align one tensor only. The data section
    /// start is aligned to it as well.
    void pad_to(std::size_t alignment) {
        require_state(state::adding);
        check_alignment(alignment);
        header_alignment_ = std::max(header_alignment_, alignment);
        const std::size_t gap = (alignment - offset_ % alignment) % alignment;
        if (gap == 0) return;
        static const unsigned char zeros[4096] = {};
        append(padding_tensor_prefix + std::to_string(paddings_++), dtype::u8, {gap}, zeros, gap);
    }

    /// Phase 1: writes the complete file (header, then the spooled data) to
    /// its temporary and removes the spool; `path` is still untouched. The
    /// header is padded with spaces so the data section starts 8-byte
    /// aligned (or at a multiple of the set_alignment/pad_to alignment).
    /// On failure the writer is discarded and the error names the file
    /// that failed.
    void prepare() {
        require_state(state::adding);
        try {
            nlohmann::ordered_json h = nlohmann::ordered_json::object();
            if (!metadata_.empty()) h["__metadata__"] = metadata_;
            for (const tensor_info& t : tensors_)
                h[t.name] = {{"dtype", to_string(t.type)}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
            std::string text = h.dump();
            // 8 + header ≡ 0 (mod the alignment): the data section starts aligned in the file.
            const std::size_t align = std::max<std::size_t>(8, header_alignment_);
            text.append((align - (8 + text.size()) % align) % align, ' ');
            unsigned char len[8];
            for (int i = 0; i < 8; ++i)
                len[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
            out_.write(len, 8);
            out_.write(text.data(), text.size());
            // Stream the spool across in 1 MiB pieces: memory stays flat.
            std::vector<unsigned char> buf(std::size_t(1) << 20);
            std::size_t done = 0;
            while (done < offset_) {
                const std::size_t want = std::min(offset_ - done, buf.size());
                const ssize_t n = ::pread(spool_.fd(), buf.data(), want, static_cast<off_t>(done));
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) {
                    const int e = n < 0 ? errno : EIO;
                    sqllm::detail::fail(errc::io_error, spool_.path() + " (temporary file for " + path_ +
                                                            "): read failed " +
                                                            (n < 0 ? detail::errno_text(e) : "(the file shrank)"));
                }
                out_.write(buf.data(), static_cast<std::size_t>(n));
                done += static_cast<std::size_t>(n);
            }
            out_.seal();
        } catch (...) {
            discard();
            throw;
        }
        spool_.discard();
        state_ = state::prepared;
    }

    /// Phase 2: renames the prepared file over `path` (atomic on POSIX).
    void commit() {
        require_state(state::prepared);
        try {
            out_.commit();
        } catch (...) {
            discard();
            throw;
        }
        state_ = state::committed;
    }

    /// Writes the file and renames it into place: prepare() then commit().
    void finish() {
        prepare();
        commit();
    }

    /// Deletes this writer's temporary files without writing the output
    /// (also what the destructor does before commit()). Idempotent.
    void discard() noexcept {
        spool_.discard();
        out_.discard();
        if (state_ != state::committed) state_ = state::discarded;
    }

    /// Bytes of tensor data added so far.
    std::size_t data_bytes() const noexcept { return offset_; }
    /// True when a tensor called `name` has been added.
    bool contains(const std::string& name) const { return names_.count(name) != 0; }
    const std::string& path() const noexcept { return path_; }
    /// The temporaries this writer owns (the spool, the file to be renamed),
    /// for a caller's signal handler that must remove them on a fatal signal.
    const temporary_output& spool_file() const noexcept { return spool_; }
    const temporary_output& output_file() const noexcept { return out_; }

private:
    static void check_alignment(std::size_t alignment) {
        if (alignment == 0 || alignment > 4096 || (alignment & (alignment - 1)) != 0)
            sqllm::detail::fail(errc::invalid_argument, "safetensors alignment " + std::to_string(alignment) +
                                                            " is not a power of two from 1 to 4096");
    }
    void check(const std::string& name, dtype type, const std::vector<std::size_t>& shape, std::size_t bytes) const {
        if (names_.count(name))
            sqllm::detail::fail(errc::invalid_argument, "safetensors tensor \"" + name + "\" added twice");
        std::size_t expect = size_of(type);  // numel() would wrap for a hostile shape: multiply checked
        bool fits = true;
        for (std::size_t d : shape)
            fits = fits && mul_fits(expect, d, expect);
        if (!fits || expect != bytes)
            sqllm::detail::fail(errc::shape_mismatch, "tensor \"" + name + "\" is " + describe_tensor(type, shape) +
                                                          " but " + std::to_string(bytes) + " bytes were given");
    }
    void append(const std::string& name, dtype type, const std::vector<std::size_t>& shape, const void* data,
                std::size_t bytes) {
        check(name, type, shape, bytes);
        tensor_info t;
        t.name = name;
        t.type = type;
        t.shape = shape;
        t.begin = offset_;
        t.end = offset_ + bytes;
        if (bytes) spool_.write(data, bytes);
        offset_ = t.end;
        names_.insert(name);
        tensors_.push_back(std::move(t));
    }

    enum class state { adding, prepared, committed, discarded };

    void require_state(state want) const {
        if (state_ == want) return;
        static const char* const names[] = {"still adding tensors", "prepared", "committed", "discarded"};
        sqllm::detail::fail(errc::invalid_argument,
                            path_ + ": the safetensors writer is " + names[static_cast<int>(state_)]);
    }

    std::string path_;
    temporary_output spool_, out_;
    state state_ = state::adding;
    std::size_t offset_ = 0;
    std::size_t alignment_ = 1, header_alignment_ = 1;
    std::size_t paddings_ = 0;  // padding tensors written (their names' numbers)
    std::map<std::string, std::string> metadata_;
    std::set<std::string> names_;
    std::vector<tensor_info> tensors_;
};

}  // namespace io
SQLLM_NAMESPACE_END
