// sqllm/core/stop_token.hpp — asking a long-running call to stop.
//
// A minimal C++17 stand-in for C++20's std::stop_source / std::stop_token
// (no callbacks): the caller keeps a stop_source, passes its get_token() to
// the call (e.g. quantize_options::stop), and calls request_stop() from any
// thread — a progress callback, a UI thread, a signal-watching thread. The
// call polls the token between units of work and gives up with
// errc::cancelled. All members are thread-safe; tokens share the source's
// state (a std::shared_ptr), so they stay valid after the source is gone.
#pragma once

#include <atomic>
#include <memory>
#include <utility>

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN

/// A view of a stop_source's state. A default-constructed token never stops.
class stop_token {
public:
    stop_token() noexcept = default;

    /// Whether request_stop() was called on the source (false for a default token).
    bool stop_requested() const noexcept { return state_ && state_->load(std::memory_order_acquire); }
    /// Whether a stop can ever be requested (false for a default token).
    bool stop_possible() const noexcept { return state_ != nullptr; }

private:
    friend class stop_source;
    explicit stop_token(std::shared_ptr<const std::atomic<bool>> state) noexcept : state_(std::move(state)) {}

    std::shared_ptr<const std::atomic<bool>> state_;
};

/// Owns a stop state; copies share it.
class stop_source {
public:
    stop_source() : state_(std::make_shared<std::atomic<bool>>(false)) {}
    // Copies share the state; a move copies too (no moved-from source without one).
    stop_source(const stop_source&) = default;
    stop_source& operator=(const stop_source&) = default;

    /// Asks every token of this source to stop (idempotent).
    void request_stop() noexcept { state_->store(true, std::memory_order_release); }
    bool stop_requested() const noexcept { return state_->load(std::memory_order_acquire); }
    stop_token get_token() const noexcept { return stop_token(state_); }

private:
    std::shared_ptr<std::atomic<bool>> state_;
};

SQLLM_NAMESPACE_END
