// Progress reporting for sqllm-quantize: a redrawn one-line bar on a
// terminal, plain log lines otherwise (CI logs, pipes, files).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <algorithm>
#include <string>

#include <sys/ioctl.h>
#include <unistd.h>

namespace sqllm_tool {

/// "1:05" / "0:03"
inline std::string format_duration(double seconds) {
    if (!(seconds >= 0) || seconds > 359999) return "--:--";
    const long s = static_cast<long>(seconds + 0.5);
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

/// Tracks rows done across all tensors of a run; ETA from the run's average rate.
class progress {
public:
    using clock = std::chrono::steady_clock;

    progress(std::size_t total_rows, std::size_t tensors, bool quiet)
        : total_rows_(total_rows), tensors_(tensors), quiet_(quiet), tty_(!quiet && isatty(STDERR_FILENO)),
          start_(clock::now()) {}

    /// A tensor starts (index from 1).
    void begin_tensor(std::size_t index, const std::string& name, std::size_t rows, std::size_t cols) {
        index_ = index;
        name_ = name;
        shape_ = std::to_string(rows) + "×" + std::to_string(cols);
        rows_ = rows;
        last_draw_ = clock::time_point{};
        update(0);
    }

    /// rows_done of the current tensor; redraws at most ~10 times a second.
    void update(std::size_t rows_done) {
        current_ = rows_done;
        if (!tty_) return;
        const auto now = clock::now();
        if (rows_done != 0 && rows_done != rows_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
        last_draw_ = now;
        const std::size_t done = finished_rows_ + rows_done;
        const double elapsed = seconds_since(start_);
        const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
        const double frac = total_rows_ ? static_cast<double>(done) / static_cast<double>(total_rows_) : 1.0;
        constexpr int width = 24;
        std::string bar(static_cast<std::size_t>(frac * width + 0.5), '#');
        bar.resize(width, '.');
        char head[32], tail[160];
        std::snprintf(head, sizeof head, "[%zu/%zu] ", index_, tensors_);
        std::snprintf(tail, sizeof tail, " %s [%s] %3.0f%%  %.0f rows/s  ETA %s", shape_.c_str(), bar.c_str(),
                      100 * frac, rate,
                      rate > 0 ? format_duration(static_cast<double>(total_rows_ - done) / rate).c_str() : "--:--");
        const std::string line = fit_line(head, name_, tail, terminal_columns());
        std::fprintf(stderr, "\r\033[K%s", line.c_str());
        std::fflush(stderr);
    }

    /// The current tensor is done; `note` ends its log line.
    void end_tensor(const std::string& note) {
        finished_rows_ += rows_;
        if (quiet_) return;
        if (tty_) std::fprintf(stderr, "\r\033[K");
        std::fprintf(stderr, "[%zu/%zu] %s %s %s\n", index_, tensors_, name_.c_str(), shape_.c_str(), note.c_str());
        std::fflush(stderr);
    }

    /// Clears a half-drawn bar (before an error message).
    void clear_line() const {
        if (tty_) std::fprintf(stderr, "\r\033[K");
    }

    /// Columns a UTF-8 string takes (one per character: the bar uses no wide ones).
    static std::size_t columns(const std::string& s) {
        std::size_t n = 0;
        for (unsigned char c : s)
            n += (c & 0xc0u) != 0x80u;
        return n;
    }

    /// head + name + tail in fewer than `width` columns, so the terminal never
    /// wraps it (a wrapped line cannot be redrawn with \r: each redraw left a
    /// stale line behind). The name loses its start first ("...layers.3.wq"),
    /// then the line its end.
    static std::string fit_line(const std::string& head, const std::string& name, const std::string& tail,
                                std::size_t width) {
        if (width < 2) return head;
        const std::size_t room = width - 1;
        std::string line = head + name + tail;
        if (columns(line) <= room) return line;
        const std::size_t fixed = columns(head) + columns(tail) + 3;
        if (fixed + 8 <= room) {
            std::size_t keep = room - fixed, cut = name.size() - std::min(name.size(), keep);
            while (cut < name.size() && (static_cast<unsigned char>(name[cut]) & 0xc0u) == 0x80u)
                ++cut;
            return head + "..." + name.substr(cut) + tail;
        }
        std::string out;
        std::size_t n = 0;
        for (unsigned char c : line) {
            const bool starts = (c & 0xc0u) != 0x80u;
            if (starts && ++n > room) break;
            out += static_cast<char>(c);
        }
        return out;
    }

    /// The terminal's width now (it can change while we run), 80 if unknown.
    static std::size_t terminal_columns() {
        winsize ws{};
        if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
        return 80;
    }

    static double seconds_since(clock::time_point t) {
        return std::chrono::duration<double>(clock::now() - t).count();
    }

private:
    std::size_t total_rows_, tensors_;
    bool quiet_, tty_;
    clock::time_point start_, last_draw_{};
    std::size_t finished_rows_ = 0, current_ = 0, index_ = 0, rows_ = 0;
    std::string name_, shape_;
};

}  // namespace sqllm_tool
