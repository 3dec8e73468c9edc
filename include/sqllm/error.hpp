// sqllm/error.hpp — the library's single error type.
//
// Error policy: every public entry point validates its inputs and throws
// sqllm::error on bad input (mismatched shapes, non-finite values, negative
// sensitivities, out-of-range codes, inconsistent sparse arrays, ...). Nothing
// is reported through global state, and no function aborts on bad input.
// Kernels that run after validation (the hot loops) do not re-check.
#pragma once

#include <stdexcept>
#include <string>

#include "config.hpp"
#include "core/abi_std.hpp"

// The exception type and its codes are the one part of sqllm outside the ABI
// namespace (config.hpp): an error thrown by code from one translation unit
// must be caught as sqllm::error in every other, whatever their -m flags.
// Their members contain no loops a compiler could vectorise differently.
namespace sqllm {

/// What went wrong, for callers that branch on the kind of failure.
enum class errc {
    invalid_argument,  ///< a parameter out of its documented range
    shape_mismatch,    ///< sizes of inputs that must agree do not
    non_finite,        ///< NaN or Inf where a finite value is required
    negative_value,    ///< a negative sensitivity
    out_of_range,      ///< a code or index outside its valid range
    corrupt_data,      ///< imported arrays that are inconsistent with each other
    io_error,          ///< a file that cannot be opened, read, mapped or written
    cancelled,         ///< the caller asked a long-running call to stop (core/stop_token.hpp)
    device_error,      ///< a CUDA runtime call failed (sqllm/cuda/; the message names the call and CUDA's error)
};

/// Human-readable name of an error code.
inline const char* to_string(errc code) noexcept {
    switch (code) {
        case errc::invalid_argument:
            return "invalid argument";
        case errc::shape_mismatch:
            return "shape mismatch";
        case errc::non_finite:
            return "non-finite value";
        case errc::negative_value:
            return "negative value";
        case errc::out_of_range:
            return "out of range";
        case errc::corrupt_data:
            return "corrupt data";
        case errc::io_error:
            return "I/O error";
        case errc::cancelled:
            return "cancelled";
        case errc::device_error:
            return "device error";
    }
    return "unknown error";
}

/// The exception thrown by every sqllm function on bad input (and on cancellation: errc::cancelled).
/// what() reads "sqllm: <kind>: <message>", naming the offending argument.
class error : public std::runtime_error {
public:
    /// noexcept: a constructor that can throw gets exception cleanups, and GCC
    /// puts vzeroupper (an AVX instruction) in them when the unit is built
    /// with -mavx; this member is shared by units of every -m flag (run out
    /// of memory while building the message: std::terminate).
    error(errc code, const std::string& message) noexcept
        : std::runtime_error(std::string("sqllm: ") + to_string(code) + ": " + message), code_(code) {}

    errc code() const noexcept { return code_; }
    /// The message alone, without the "sqllm: <kind>: " prefix (to add context and rethrow).
    const char* message() const noexcept {
        const char* w = what();
        const std::size_t skip = std::char_traits<char>::length(to_string(code_)) + 9;  // "sqllm: " + ": "
        return std::char_traits<char>::length(w) >= skip ? w + skip : w;
    }

private:
    errc code_;
};

}  // namespace sqllm

SQLLM_NAMESPACE_BEGIN
namespace detail {
/// Throws sqllm::error(code, message). Out of line of the callers' loops:
/// write `if (!ok) detail::fail(...)` so messages are only built on failure.
[[noreturn]] inline void fail(errc code, const std::string& message) { throw error(code, message); }

/// Throws sqllm::error(code, message) unless cond holds (for fixed messages).
inline void require(bool cond, errc code, const char* message) {
    if (!cond) throw error(code, message);
}
}  // namespace detail
SQLLM_NAMESPACE_END
