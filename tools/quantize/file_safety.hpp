// sqllm-quantize's file safety: which paths may be written (never the input
// under another name), and the removal of temporaries on fatal signals.
//
// The library's writer (sqllm/io/safetensors_writer.hpp) already removes its
// temporaries on every path that unwinds. What it cannot do, having no
// global state, is react to a signal that ends the process: SIGTERM, SIGHUP,
// SIGPIPE, a second SIGINT. This file keeps the small registry a signal
// handler needs: the temporaries' names in preallocated char buffers, with
// their device and inode, so the handler removes exactly the files this
// process created (lstat, compare, unlink: all async-signal-safe) and then
// dies of the same signal. SIGKILL cannot be caught: what it leaves,
// temporary_output::remove_stale() removes at the next run (docs/CLI.md).
#pragma once

#include <sqllm/error.hpp>
#include <sqllm/io/safetensors_writer.hpp>

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <string>

namespace sqllm_tool {

// --- the signal-safe registry ----------------------------------------------

/// One registered temporary: a name the handler may remove if it still
/// refers to (dev, ino). `active` is written last on registration and first
/// on removal, so the handler never reads a half-written name.
struct cleanup_slot {
    char path[4096];
    dev_t dev;
    ino_t ino;
    volatile std::sig_atomic_t active;
};

// A model directory's run holds two temporaries a shard until the end (the
// spool, the finished file) plus a few small files: 1024 slots cover 500
// shards (DeepSeek-V3 has 163). Untouched slots cost no memory (zero pages).
inline constexpr int cleanup_slots = 1024;
inline cleanup_slot cleanup_registry[cleanup_slots];  // zero-initialised: all inactive

/// Set by the first SIGINT; the run stops between tensors and unwinds.
inline volatile std::sig_atomic_t interrupted = 0;

/// Removes the registered temporaries that are still this process's files.
/// Async-signal-safe: lstat and unlink only.
inline void remove_registered() noexcept {
    for (cleanup_slot& s : cleanup_registry) {
        if (!s.active) continue;
        std::atomic_signal_fence(std::memory_order_acquire);
        struct stat st {};
        if (::lstat(s.path, &st) == 0 && st.st_dev == s.dev && st.st_ino == s.ino) ::unlink(s.path);
    }
}

/// Writes a constant string to stderr from a signal handler.
inline void signal_message(const char* text) noexcept { (void)!::write(2, text, std::strlen(text)); }

/// A fatal signal: remove the temporaries, say so, and die of the same
/// signal (so the parent sees how the process ended), or _exit(128 + sig)
/// should the default action somehow return.
extern "C" inline void on_fatal_signal(int sig) {
    remove_registered();
    const char* name = sig == SIGINT    ? "a second SIGINT"
                       : sig == SIGTERM ? "SIGTERM"
                       : sig == SIGHUP  ? "SIGHUP"
                       : sig == SIGPIPE ? "SIGPIPE"
                       : sig == SIGBUS  ? "SIGBUS (an input file shrank while mapped)"
                                        : "a signal";
    signal_message("\nsqllm-quantize: stopped by ");
    signal_message(name);
    signal_message("; temporary files removed, no output written\n");
    ::signal(sig, SIG_DFL);
    sigset_t set;
    ::sigemptyset(&set);
    ::sigaddset(&set, sig);
    ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    ::raise(sig);
    ::_exit(128 + sig);
}

/// SIGINT: the first asks the run to stop between tensors (it unwinds, the
/// writer removes its files, exit status 130); a second is fatal at once.
extern "C" inline void on_interrupt(int sig) {
    if (!interrupted) {
        interrupted = 1;
        return;
    }
    on_fatal_signal(sig);
}

/// Installs the handlers. SIGXFSZ (a file over `ulimit -f`) is ignored, so
/// the write fails with EFBIG and the normal error path removes the
/// temporaries and names the file ("File too large").
inline void install_signal_handlers() {
    struct sigaction sa {};
    ::sigemptyset(&sa.sa_mask);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE})
        ::sigaddset(&sa.sa_mask, s);  // one handler at a time
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_interrupt;
    ::sigaction(SIGINT, &sa, nullptr);
    sa.sa_handler = on_fatal_signal;
    // SIGBUS: the inputs are memory-mapped, and another process truncating
    // one makes the lost pages fault (docs/HARDENING.md). Synchronous, so it
    // is never blocked, only handled: temporaries removed, then the default
    // action (the handler re-raises it).
    for (int s : {SIGTERM, SIGHUP, SIGPIPE, SIGBUS})
        ::sigaction(s, &sa, nullptr);
    ::signal(SIGXFSZ, SIG_IGN);
}

/// Blocks the handled signals for a scope (while temporaries are created
/// and registered, so none can be created and not yet registered).
class signals_blocked {
public:
    signals_blocked() {
        sigset_t set;
        ::sigemptyset(&set);
        for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE})
            ::sigaddset(&set, s);
        ::pthread_sigmask(SIG_BLOCK, &set, &old_);
    }
    ~signals_blocked() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
    signals_blocked(const signals_blocked&) = delete;
    signals_blocked& operator=(const signals_blocked&) = delete;

private:
    sigset_t old_;
};

/// The temporaries of one run, registered for the signal handlers and
/// unregistered when this object dies. Declare it before the objects that
/// own the temporaries: they are destroyed (and remove their files) first.
class cleanup_list {
public:
    cleanup_list() = default;
    cleanup_list(const cleanup_list&) = delete;
    cleanup_list& operator=(const cleanup_list&) = delete;
    ~cleanup_list() {
        for (int i = 0; i < count_; ++i)
            cleanup_registry[slots_[i]].active = 0;
    }

    /// Registers a temporary. A name too long for the buffer is not
    /// registered (a fatal signal then leaves it for the next run's cleanup).
    void add(const sqllm::io::temporary_output& t) {
        const std::string& p = t.path();
        if (p.size() >= sizeof(cleanup_slot::path) || count_ == cleanup_slots) return;
        for (int i = 0; i < cleanup_slots; ++i) {
            cleanup_slot& s = cleanup_registry[i];
            if (s.active) continue;
            std::memcpy(s.path, p.c_str(), p.size() + 1);
            s.dev = t.device();
            s.ino = t.inode();
            std::atomic_signal_fence(std::memory_order_release);
            s.active = 1;
            slots_[count_++] = i;
            return;
        }
    }

private:
    int slots_[cleanup_slots] = {};
    int count_ = 0;
};

// --- which paths may be written ---------------------------------------------

/// A file's identity for "is this the same file?": device and inode when it
/// exists (following symlinks, so a link to the input is the input), else
/// its directory's device and inode and its name.
struct file_identity {
    bool known = false, exists = false;
    dev_t dev{};
    ino_t ino{};
    std::string name;
};

inline file_identity identify(const std::string& path) {
    file_identity id;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        id.known = id.exists = true;
        id.dev = st.st_dev;
        id.ino = st.st_ino;
        return id;
    }
    const std::string dir = sqllm::io::directory_of(path);
    if (::stat(dir.c_str(), &st) == 0) {
        id.known = true;
        id.dev = st.st_dev;
        id.ino = st.st_ino;
        id.name = sqllm::io::basename_of(path);
    }
    return id;
}

inline bool same_file(const file_identity& a, const file_identity& b) {
    return a.known && b.known && a.exists == b.exists && a.dev == b.dev && a.ino == b.ino && a.name == b.name;
}

/// Refuses a written path (`what` `path`) that is one of the files read or
/// already written: the same file by another name, a hard link or a symlink.
inline void require_distinct(const std::string& what, const std::string& path, const std::string& other_what,
                             const std::string& other) {
    if (path.empty() || other.empty()) return;
    if (same_file(identify(path), identify(other)))
        throw sqllm::error(sqllm::errc::invalid_argument,
                           what + " " + path + " would overwrite the " + other_what + " " + other +
                               " (the same file)");
}

}  // namespace sqllm_tool
