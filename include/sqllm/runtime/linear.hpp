// sqllm/runtime/linear.hpp — a quantized linear layer whose types are chosen
// at run time: the type an engine holds.
//
// The templates (quantized_view<Bits, Lut, Sparse, Layout>, gemv, gemm) fix
// the code width, LUT type and sparse format at compile time, so an engine
// that loads whatever a checkpoint holds would switch over every combination
// around every call. sqllm::linear holds any of them behind one type:
//   Bits 1..8 × LUT f32/f16/bf16 × sparse none/csr/balanced_csr × optional
//   bias (f32/f16/bf16), in the CPU kernels' layout (striped_layout),
// and takes activations and writes outputs in f32, f16 or bf16 (fp32
// accumulation). Each gemv/gemm dispatches once per call (one virtual call
// and a switch on the activation types), never per row.
//
// This header is light: it declares the layer and includes no kernel, so a
// translation unit that only uses the layer compiles in well under a second
// when linked against the compiled library (CMake target sqllm::runtime,
// which defines SQLLM_COMPILED_LIB). Without it, the header includes its
// definitions (runtime/linear_impl.hpp) and every combination is compiled
// in the including unit: header-only use works, at the cost of compile time
// (README, "Embedding sqllm in an engine", has the figures).
//
// Layers come from a checkpoint (runtime/model_file.hpp) or from a
// quantized_matrix/quantized_view (make_linear in runtime/linear_impl.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "../config.hpp"
#include "../core/executor_ref.hpp"
#include "../core/span.hpp"
#include "../error.hpp"
#include "../target/target_id.hpp"
#include "../types/bfloat16.hpp"
#include "../types/half.hpp"
#include "../types/scalar_type.hpp"

// Functions defined in runtime/*_impl.hpp: inline when header-only, out of
// line in the compiled library.
#if defined(SQLLM_COMPILED_LIB)
#define SQLLM_RUNTIME_INLINE
#else
#define SQLLM_RUNTIME_INLINE inline
#endif

SQLLM_NAMESPACE_BEGIN

/// The sparse format of a run-time-typed layer (sparse/csr.hpp).
enum class sparse_kind : std::uint8_t {
    none,          ///< dense only (no_sparse)
    csr,           ///< csr<float, int32>: sparse rows summed with their dense row block
    balanced_csr,  ///< balanced_csr<float, int32>: sparse part split by nonzeros (skewed rows)
};

/// "none", "csr", "balanced_csr".
inline const char* to_string(sparse_kind k) noexcept {
    return k == sparse_kind::csr ? "csr" : k == sparse_kind::balanced_csr ? "balanced_csr" : "none";
}

/// What a linear layer is: its shape, its types, its size.
struct linear_info {
    std::size_t rows = 0;  ///< outputs
    std::size_t cols = 0;  ///< inputs
    int bits = 0;          ///< code width, 1..8
    scalar_type lut_type = scalar_type::f32;
    sparse_kind sparse = sparse_kind::none;
    std::size_t nonzeros = 0;  ///< weights kept exactly in the sparse part
    bool has_bias = false;
    scalar_type bias_type = scalar_type::f32;
    std::size_t storage_bytes = 0;  ///< packed codes + LUT + sparse part + bias
    bool zero_copy = false;         ///< its arrays are views of a mapped file, not copies
    /// storage_bytes · 8 / (rows · cols).
    double bits_per_weight() const noexcept {
        return rows && cols ? static_cast<double>(storage_bytes) * 8.0 / (static_cast<double>(rows) * cols) : 0.0;
    }
};

namespace detail {

/// What every run-time-typed layer implements (runtime/linear_impl.hpp: one
/// linear_model<Bits, Lut, Sparse> per combination).
class linear_interface {
public:
    virtual ~linear_interface() = default;
    virtual const linear_info& info() const noexcept = 0;
    /// The best target this CPU runs that has a kernel for the layer.
    virtual target_id default_target() const noexcept = 0;
    /// True if this build and CPU run target t with a kernel for the layer.
    virtual bool has_kernel(target_id t) const noexcept = 0;
    /// Y = W·X (+ bias) on target t; X, Y checked by the caller (linear).
    virtual void multiply(target_id t, const activation_ref& X, const output_ref& Y, executor_ref exec) const = 0;
};

}  // namespace detail

/// A quantized linear layer y = W·x (+ bias), its types chosen at run time.
/// A cheap handle: copies share the (immutable) weights, so one layer can be
/// used from many threads at once. Default-constructed, it is empty and
/// every multiply throws.
class linear {
public:
    linear() noexcept = default;
    /// Wraps an implementation (make_linear and model_file build layers).
    explicit linear(std::shared_ptr<const detail::linear_interface> impl) noexcept;

    bool empty() const noexcept { return !impl_; }
    explicit operator bool() const noexcept { return !empty(); }

    /// Shape, types and size; throws sqllm::error(invalid_argument) when empty.
    const linear_info& info() const;
    std::size_t rows() const { return info().rows; }
    std::size_t cols() const { return info().cols; }
    int bits() const { return info().bits; }

    /// The target gemv and gemm run on: the best one this CPU runs, unless set_target chose another.
    target_id target() const noexcept { return target_; }
    /// Runs later multiplies on target t; throws sqllm::error(invalid_argument)
    /// if this build or CPU lacks t or t has no kernel for the layer.
    void set_target(target_id t);

    /// y = W·x (+ bias): x has cols() values, y rows(); y is overwritten.
    /// x and y may each be float, sqllm::half or sqllm::bfloat16; the sums
    /// are fp32, rounded once to y's type. Activations other than fp32 cost
    /// one conversion of x and an fp32 array of rows() floats, allocated per
    /// call. Throws sqllm::error(shape_mismatch) if x or y does not fit.
    void gemv(span<const float> x, span<float> y, executor_ref exec = {}) const;
    template <class XT, class YT>
    void gemv(span<const XT> x, span<YT> y, executor_ref exec = {}) const {
        multiply({x.data(), scalar_type_of<XT>::value, 1, x.size(), x.size()},
                 {y.data(), scalar_type_of<YT>::value, 1, y.size(), y.size()}, exec);
    }

    /// Y = W·X (+ bias) for a batch: X is N × cols() (one activation vector
    /// per row), Y is N × rows(), overwritten; types as gemv.
    void gemm(matrix_view<const float> X, matrix_view<float> Y, executor_ref exec = {}) const;
    template <class XT, class YT>
    void gemm(matrix_view<const XT> X, matrix_view<YT> Y, executor_ref exec = {}) const {
        multiply({X.data(), scalar_type_of<XT>::value, X.rows(), X.cols(), X.stride()},
                 {Y.data(), scalar_type_of<YT>::value, Y.rows(), Y.cols(), Y.stride()}, exec);
    }

    /// The type-erased multiply the above call: checks shapes, then one dispatch.
    void multiply(const activation_ref& X, const output_ref& Y, executor_ref exec = {}) const;

private:
    std::shared_ptr<const detail::linear_interface> impl_;
    target_id target_ = target_id::scalar;
};

SQLLM_NAMESPACE_END

#if !defined(SQLLM_COMPILED_LIB)
#include "linear_impl.hpp"
#endif
