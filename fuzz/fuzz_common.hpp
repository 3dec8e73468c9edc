// fuzz/fuzz_common.hpp — what the fuzz targets share: a reader that decodes
// the fuzz input front to back (the seed generator, make_corpus.cpp, writes
// the same encoding), a temporary file for the readers that take a path,
// an out-of-order executor, and the one way a target reports a broken
// invariant (abort with a message: libFuzzer records the input).
#pragma once

#include <sqllm/sqllm.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <unistd.h>
#include <vector>

namespace sqllm_fuzz {

/// A broken invariant: print it and abort (libFuzzer saves the input as a crash).
[[noreturn]] inline void finding(const std::string& what) {
    std::fprintf(stderr, "\n*** sqllm fuzz invariant broken: %s\n", what.c_str());
    std::fflush(stderr);
    std::abort();
}
#define SQLLM_FUZZ_CHECK(cond, msg)                                                              \
    do {                                                                                         \
        if (!(cond)) ::sqllm_fuzz::finding(std::string(#cond " — ") + (msg));                    \
    } while (0)

/// Reads the fuzz input front to back; past the end every read yields zeros.
class reader {
public:
    reader(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}

    std::size_t left() const { return n_ - i_; }
    std::uint8_t u8() { return i_ < n_ ? p_[i_++] : 0; }
    std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(u16()) | (static_cast<std::uint32_t>(u16()) << 16); }
    std::uint64_t u64() { return static_cast<std::uint64_t>(u32()) | (static_cast<std::uint64_t>(u32()) << 32); }
    float f32() {
        const std::uint32_t b = u32();
        float f;
        std::memcpy(&f, &b, sizeof f);
        return f;
    }
    /// A size: one tag byte, then either a small value or a raw 64-bit one
    /// (so huge declared shapes, e.g. 2^62 + 1, are one mutation away).
    std::uint64_t size(std::uint64_t small_max) {
        const std::uint8_t tag = u8();
        if (tag < 0xF0) return small_max ? static_cast<std::uint64_t>(tag) % (small_max + 1) : 0;
        if (tag < 0xF8) return u64();                      // raw
        if (tag < 0xFC) return (std::uint64_t(1) << (56 + (tag & 7))) + u8();  // 2^56..2^63 + small
        return std::numeric_limits<std::uint64_t>::max() - u8();              // near SIZE_MAX
    }
    /// The rest of the input.
    const std::uint8_t* rest(std::size_t& n) {
        n = n_ - i_;
        const std::uint8_t* r = p_ + i_;
        i_ = n_;
        return r;
    }

private:
    const std::uint8_t* p_;
    std::size_t n_;
    std::size_t i_ = 0;
};

/// Writes the input to a temporary file (mkstemp, on /dev/shm when there is
/// one) for the readers that take a path; the file is removed on destruction.
class temp_file {
public:
    temp_file(const std::uint8_t* data, std::size_t size) {
        const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        path_ = std::string(dir) + "/sqllm-fuzz-XXXXXX";
        const int fd = mkstemp(&path_[0]);
        if (fd < 0) finding("mkstemp failed (harness environment)");
        std::size_t done = 0;
        while (done < size) {
            const ssize_t w = write(fd, data + done, size - done);
            if (w <= 0) finding("write to the temporary file failed (harness environment)");
            done += static_cast<std::size_t>(w);
        }
        close(fd);
    }
    ~temp_file() { unlink(path_.c_str()); }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

/// An executor that claims `workers` workers and runs the chunks on the
/// calling thread, in order or in reverse: for a given concurrency the
/// results must not depend on the order (row-fused formats: nor on the
/// concurrency at all).
struct chunk_executor {
    std::size_t workers = 3;
    bool reverse = false;
    std::size_t concurrency() const noexcept { return workers; }
    template <class F>
    void bulk(std::size_t n, F&& f) const {
        if (reverse)
            for (std::size_t i = n; i-- > 0;)
                f(i);
        else
            for (std::size_t i = 0; i < n; ++i)
                f(i);
    }
};

/// A number with all its digits (and its hex form), for messages.
inline std::string num(double v) {
    char b[80];
    std::snprintf(b, sizeof b, "%.9g (%a)", v, v);
    return b;
}

/// Bit-exact float equality (NaN payloads included; -0 != +0).
inline bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

/// γ_m = m·u / (1 − m·u), u = 2^-24: the float32 bound on summing m terms.
inline double gamma(std::size_t m) {
    const double u = std::ldexp(1.0, -24);
    return static_cast<double>(m) * u / (1.0 - static_cast<double>(m) * u);
}

}  // namespace sqllm_fuzz
