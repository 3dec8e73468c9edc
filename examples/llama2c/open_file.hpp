// open_file.hpp — how the example's readers open their input: a regular file
// or a clear error, never a wait (a FIFO's open blocks until a writer comes).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <system_error>

#include <sqllm/error.hpp>

#include <filesystem>

namespace llama2c {
namespace detail {

/// Opens `path` for binary reading and returns its size; throws
/// errc::io_error if it cannot be opened or is not a regular file. The type
/// is checked with stat before the open, so a FIFO is refused at once.
inline std::uint64_t llama2c_open(std::ifstream& in, const std::string& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec) throw sqllm::error(sqllm::errc::io_error, path + ": cannot open (" + ec.message() + ")");
    if (!std::filesystem::is_regular_file(status))
        throw sqllm::error(sqllm::errc::io_error, path + ": not a regular file");
    in.open(path, std::ios::binary);
    if (!in) throw sqllm::error(sqllm::errc::io_error, path + ": cannot open");
    in.seekg(0, std::ios::end);
    const std::streamoff end = in.tellg();
    in.seekg(0, std::ios::beg);
    if (end < 0 || !in) throw sqllm::error(sqllm::errc::io_error, path + ": cannot determine the file size");
    return static_cast<std::uint64_t>(end);
}

}  // namespace detail
}  // namespace llama2c
