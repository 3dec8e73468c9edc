// sqllm/io/mapped_file.hpp — a regular file's bytes, read-only, owned.
//
// Part of sqllm's optional I/O layer. Readers of untrusted files share two
// rules, kept here once:
// - only a regular file is read, and that is checked before anything can
//   block: the file is opened with O_NONBLOCK (a FIFO's open would otherwise
//   wait for a writer forever), then fstat'ed;
// - the mapping belongs to an object, so no failure path after the mapping
//   leaks it (a reader that threw from its constructor used to leave the
//   mapping behind: ~65,000 rejected files exhausted vm.max_map_count).
//
// A file truncated by another process while mapped makes a later read of
// the lost pages raise SIGBUS, as with any mmap; a reader that cannot rule
// that out reads the file into memory instead (mapped_file::mode::read).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/span.hpp"
#include "../error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define SQLLM_IO_HAS_MMAP 1
#else
#define SQLLM_IO_HAS_MMAP 0
#endif

SQLLM_NAMESPACE_BEGIN
namespace io {

/// The bytes of a regular file, memory-mapped read-only (or read into memory
/// where mmap is unavailable, or when asked to). Move-only; the destructor
/// releases the mapping. Throws sqllm::error (errc::io_error) naming the
/// path when the file cannot be opened, is not a regular file, or cannot be
/// mapped or read.
class mapped_file {
public:
    enum class mode {
        map,   ///< mmap (pages load on first touch; SIGBUS if the file shrinks meanwhile)
        read,  ///< read the whole file into memory now (immune to later truncation)
    };

    mapped_file() = default;
    explicit mapped_file(const std::string& path, mode m = mode::map) : path_(path) { open(m); }
    mapped_file(mapped_file&& o) noexcept { swap(o); }
    mapped_file& operator=(mapped_file&& o) noexcept {
        if (this != &o) {
            mapped_file(std::move(o)).swap(*this);
        }
        return *this;
    }
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    ~mapped_file() { release(); }

    const std::string& path() const noexcept { return path_; }
    const unsigned char* data() const noexcept { return base_; }
    std::size_t size() const noexcept { return size_; }
    span<const unsigned char> bytes() const noexcept { return {base_, size_}; }
    /// Whether the bytes are a mapping (page hints such as madvise apply).
    bool mapped() const noexcept { return mapped_; }

    void swap(mapped_file& o) noexcept {
        path_.swap(o.path_);
        std::swap(base_, o.base_);
        std::swap(size_, o.size_);
        std::swap(mapped_, o.mapped_);
        owned_.swap(o.owned_);
    }

private:
#if SQLLM_IO_HAS_MMAP
    /// Closes a descriptor on every path out of open().
    struct fd_guard {
        int fd;
        ~fd_guard() {
            if (fd >= 0) ::close(fd);
        }
    };
#endif

    [[noreturn]] void fail_io(const std::string& what) const { detail::fail(errc::io_error, path_ + ": " + what); }

    void open(mode m) {
#if SQLLM_IO_HAS_MMAP
        const fd_guard g{::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
        if (g.fd < 0) fail_io(std::string("cannot open (") + std::strerror(errno) + ")");
        struct stat st {};
        if (::fstat(g.fd, &st) != 0) fail_io(std::string("cannot stat (") + std::strerror(errno) + ")");
        if (!S_ISREG(st.st_mode)) fail_io("not a regular file");
        if (st.st_size < 0) fail_io("negative file size");
        const auto size = static_cast<unsigned long long>(st.st_size);
        if (size > static_cast<unsigned long long>(static_cast<std::size_t>(-1) / 2))
            fail_io("file too large for this address space");
        size_ = static_cast<std::size_t>(size);
        if (size_ == 0) return;  // nothing to map; data() is null
        if (m == mode::map) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, g.fd, 0);
            if (p == MAP_FAILED) fail_io(std::string("cannot map (") + std::strerror(errno) + ")");
            base_ = static_cast<const unsigned char*>(p);
            mapped_ = true;
            return;
        }
        // mode::read: the descriptor is non-blocking, which a regular file ignores.
        owned_.resize(size_);
        std::size_t got = 0;
        while (got < size_) {
            const ssize_t n = ::read(g.fd, owned_.data() + got, size_ - got);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) fail_io(std::string("read error (") + std::strerror(errno) + ")");
            if (n == 0) fail_io("file shrank while being read");
            got += static_cast<std::size_t>(n);
        }
        base_ = owned_.data();
#else
        (void)m;
        std::FILE* f = std::fopen(path_.c_str(), "rb");
        if (!f) fail_io("cannot open");
        unsigned char chunk[1 << 16];
        std::size_t got;
        while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0)
            owned_.insert(owned_.end(), chunk, chunk + got);
        const bool bad = std::ferror(f) != 0;
        std::fclose(f);
        if (bad) fail_io("read error");
        base_ = owned_.data();
        size_ = owned_.size();
#endif
    }

    void release() noexcept {
#if SQLLM_IO_HAS_MMAP
        if (mapped_) ::munmap(const_cast<unsigned char*>(base_), size_);
#endif
        mapped_ = false;
        base_ = nullptr;
        size_ = 0;
    }

    std::string path_;
    const unsigned char* base_ = nullptr;
    std::size_t size_ = 0;
    bool mapped_ = false;
    std::vector<unsigned char> owned_;
};

}  // namespace io
SQLLM_NAMESPACE_END
