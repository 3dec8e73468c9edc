// sqllm/core/span.hpp — non-owning views of contiguous arrays and row-major matrices.
//
// C++17 has no std::span; these minimal views let every API take caller-owned
// (e.g. memory-mapped) data without copying.
#pragma once

#include <cstddef>
#include <type_traits>
#include <vector>

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN

/// A pointer and a length.
template <class T>
class span {
public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;

    constexpr span() noexcept = default;
    constexpr span(T* data, std::size_t size) noexcept : data_(data), size_(size) {}
    template <class U, class = std::enable_if_t<std::is_convertible<U (*)[], T (*)[]>::value>>
    span(std::vector<U>& v) noexcept : data_(v.data()), size_(v.size()) {}
    template <class U, class = std::enable_if_t<std::is_convertible<const U (*)[], T (*)[]>::value>>
    span(const std::vector<U>& v) noexcept : data_(v.data()), size_(v.size()) {}
    template <class U, class = std::enable_if_t<std::is_convertible<U (*)[], T (*)[]>::value>>
    constexpr span(span<U> s) noexcept : data_(s.data()), size_(s.size()) {}

    SQLLM_HOST_DEVICE constexpr T* data() const noexcept { return data_; }
    SQLLM_HOST_DEVICE constexpr std::size_t size() const noexcept { return size_; }
    SQLLM_HOST_DEVICE constexpr bool empty() const noexcept { return size_ == 0; }
    SQLLM_HOST_DEVICE constexpr T& operator[](std::size_t i) const noexcept { return data_[i]; }
    constexpr T* begin() const noexcept { return data_; }
    constexpr T* end() const noexcept { return data_ + size_; }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

/// A row-major matrix view: element (r, c) is data[r * stride + c], stride >= cols.
template <class T>
class matrix_view {
public:
    using value_type = std::remove_cv_t<T>;

    constexpr matrix_view() noexcept = default;
    constexpr matrix_view(T* data, std::size_t rows, std::size_t cols) noexcept
        : data_(data), rows_(rows), cols_(cols), stride_(cols) {}
    constexpr matrix_view(T* data, std::size_t rows, std::size_t cols, std::size_t stride) noexcept
        : data_(data), rows_(rows), cols_(cols), stride_(stride) {}
    template <class U, class = std::enable_if_t<std::is_convertible<U (*)[], T (*)[]>::value>>
    constexpr matrix_view(matrix_view<U> m) noexcept
        : data_(m.data()), rows_(m.rows()), cols_(m.cols()), stride_(m.stride()) {}

    SQLLM_HOST_DEVICE constexpr T* data() const noexcept { return data_; }
    SQLLM_HOST_DEVICE constexpr std::size_t rows() const noexcept { return rows_; }
    SQLLM_HOST_DEVICE constexpr std::size_t cols() const noexcept { return cols_; }
    SQLLM_HOST_DEVICE constexpr std::size_t stride() const noexcept { return stride_; }
    SQLLM_HOST_DEVICE constexpr bool empty() const noexcept { return data_ == nullptr; }
    SQLLM_HOST_DEVICE constexpr T* row(std::size_t r) const noexcept { return data_ + r * stride_; }
    SQLLM_HOST_DEVICE constexpr T& operator()(std::size_t r, std::size_t c) const noexcept {
        return data_[r * stride_ + c];
    }

private:
    T* data_ = nullptr;
    std::size_t rows_ = 0;
    std::size_t cols_ = 0;
    std::size_t stride_ = 0;
};

SQLLM_NAMESPACE_END
