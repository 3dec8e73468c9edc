// safetensors_writer and temporary_output: the file-safety rules of
// io/safetensors_writer.hpp. Temporaries never follow or replace an existing
// name, only this writer's own files are ever removed, the two-phase commit
// leaves the target untouched until commit(), and every error names the file
// that failed and the system's reason (write failures are made real with a
// small RLIMIT_FSIZE in a forked child).
#include <sqllm/io/safetensors.hpp>
#include <sqllm/io/safetensors_writer.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

using namespace sqllm;
using namespace sqllm::io;
using sqllm_test::throws_code;

namespace {

/// A fresh directory (mkdtemp), emptied and removed when the guard dies.
struct temp_dir {
    std::string path;
    temp_dir() {
        const char* base = std::getenv("TMPDIR");
        std::string templ = std::string(base ? base : "/tmp") + "/sqllm_writer_XXXXXX";
        std::vector<char> buf(templ.begin(), templ.end());
        buf.push_back('\0');
        REQUIRE(::mkdtemp(buf.data()) != nullptr);
        path = buf.data();
    }
    ~temp_dir() {
        for (const std::string& name : list()) {
            const std::string p = path + "/" + name;
            if (::unlink(p.c_str()) != 0) ::rmdir(p.c_str());
        }
        ::rmdir(path.c_str());
    }
    std::string operator/(const std::string& name) const { return path + "/" + name; }
    /// The directory's entries, sorted (without . and ..).
    std::vector<std::string> list() const {
        std::vector<std::string> names;
        if (DIR* d = ::opendir(path.c_str())) {
            while (const dirent* e = ::readdir(d)) {
                const std::string n = e->d_name;
                if (n != "." && n != "..") names.push_back(n);
            }
            ::closedir(d);
        }
        std::sort(names.begin(), names.end());
        return names;
    }
    /// Entries whose name contains `part`.
    std::vector<std::string> matching(const std::string& part) const {
        std::vector<std::string> out;
        for (const auto& n : list())
            if (n.find(part) != std::string::npos) out.push_back(n);
        return out;
    }
};

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

void spit(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
}

bool is_symlink(const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

bool exists(const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const error& e) {
        return e.what();
    }
    return "(no error)";
}

/// Runs `body` in a forked child whose files may grow to `fsize_limit` bytes
/// (SIGXFSZ ignored, so writes past it fail with EFBIG as in sqllm-quantize);
/// returns what the child wrote to the pipe (its error message).
std::string in_child_with_file_limit(rlim_t fsize_limit, const std::function<std::string()>& body) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        std::signal(SIGXFSZ, SIG_IGN);
        rlimit lim{fsize_limit, fsize_limit};
        std::string text;
        if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) {
            text = "setrlimit failed";
        } else {
            try {
                text = body();
            } catch (const std::exception& e) {
                text = std::string("uncaught: ") + e.what();
            }
        }
        (void)!::write(fds[1], text.data(), text.size());
        ::close(fds[1]);
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
        out.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    return out;
}

/// A pid that no longer exists: a child that has exited and been reaped.
long dead_pid() {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) ::_exit(0);
    ::waitpid(pid, nullptr, 0);
    return static_cast<long>(pid);
}

const std::vector<float> four = {1.0f, 2.0f, 3.0f, 4.0f};

}  // namespace

TEST_CASE("safetensors writer does not follow symlinks at the old fixed temporary names", "[safetensors][writer]") {
    // Regression: the writer opened <out>.spool ("w+b") and <out>.partial
    // ("wb") by name, so symlinks planted there had their targets truncated.
    temp_dir dir;
    const std::string out = dir / "out.safetensors", victim = dir / "victim.txt";
    spit(victim, "precious");
    REQUIRE(::symlink(victim.c_str(), (out + ".spool").c_str()) == 0);
    REQUIRE(::symlink(victim.c_str(), (out + ".partial").c_str()) == 0);
    {
        safetensors_writer w(out);
        w.add<float>("a", {4}, four);
        w.finish();
    }
    REQUIRE(slurp(victim) == "precious");
    REQUIRE(is_symlink(out + ".spool"));
    REQUIRE(is_symlink(out + ".partial"));
    safetensors_file f(out);
    REQUIRE(f.read<float>(f.at("a")) == four);
}

TEST_CASE("safetensors writer never deletes files it did not create", "[safetensors][writer]") {
    // Regression: a writer destroyed without finish() removed <out>.spool and
    // <out>.partial whoever had made them.
    temp_dir dir;
    const std::string out = dir / "out.safetensors";
    spit(out + ".spool", "someone's spool");
    spit(out + ".partial", "someone's partial");
    // A file of the new pattern with this very pid that this writer did not make.
    const std::string lookalike = out + ".sqllm-tmp." + std::to_string(::getpid()) + ".0123456789abcdef";
    spit(lookalike, "not the writer's");
    spit(out, "the old output");
    const auto before = dir.list();
    {
        safetensors_writer w(out);
        w.add<float>("a", {4}, four);
        REQUIRE(dir.list().size() == before.size() + 2);  // its spool and its output temporary
    }  // destroyed without finish(), as on an exception
    REQUIRE(dir.list() == before);
    REQUIRE(slurp(out + ".spool") == "someone's spool");
    REQUIRE(slurp(out + ".partial") == "someone's partial");
    REQUIRE(slurp(lookalike) == "not the writer's");
    REQUIRE(slurp(out) == "the old output");

    // The same after a failed prepare(): a tensor name JSON cannot dump is not
    // possible, so fail the commit instead: the target became a directory.
    {
        safetensors_writer w(dir / "gone.safetensors");
        w.add<float>("a", {4}, four);
        w.prepare();
        REQUIRE(::mkdir((dir / "gone.safetensors").c_str(), 0700) == 0);
        const std::string m = message_of([&] { w.commit(); });
        REQUIRE(m.find(dir / "gone.safetensors") != std::string::npos);
        REQUIRE(m.find("Is a directory") != std::string::npos);
    }
    REQUIRE(::rmdir((dir / "gone.safetensors").c_str()) == 0);
    REQUIRE(dir.list() == before);
}

TEST_CASE("safetensors writer's temporaries: the pattern, mode 0600, removed by the destructor", "[safetensors][writer]") {
    temp_dir dir;
    const std::string out = dir / "m.safetensors";
    {
        safetensors_writer w(out);
        const auto temps = dir.matching("m.safetensors.sqllm-tmp." + std::to_string(::getpid()) + ".");
        REQUIRE(temps.size() == 2);
        for (const auto& t : temps) {
            struct stat st {};
            REQUIRE(::lstat((dir / t).c_str(), &st) == 0);
            REQUIRE(S_ISREG(st.st_mode));
            REQUIRE((st.st_mode & 077) == 0);  // nobody else reads a half-written file
        }
        REQUIRE(w.spool_file().path() != w.output_file().path());
        REQUIRE(exists(w.spool_file().path()));
        REQUIRE(exists(w.output_file().path()));
        w.add<float>("a", {4}, four);
    }
    REQUIRE(dir.list().empty());
}

TEST_CASE("safetensors writer's two-phase commit", "[safetensors][writer]") {
    temp_dir dir;
    const std::string out = dir / "two.safetensors";
    spit(out, "old");
    const mode_t old_mask = ::umask(022);
    {
        safetensors_writer w(out);
        w.set_metadata("k", "v");
        w.add<float>("a", {4}, four);
        const std::string spool = w.spool_file().path(), temp = w.output_file().path();
        w.prepare();
        // The complete file exists as the temporary; the target is untouched.
        REQUIRE(slurp(out) == "old");
        REQUIRE_FALSE(exists(spool));
        {
            safetensors_file f(temp);
            REQUIRE(f.read<float>(f.at("a")) == four);
            REQUIRE(f.metadata().at("k") == "v");
        }
        REQUIRE(throws_code([&] { w.add<float>("b", {4}, four); }, errc::invalid_argument));
        REQUIRE(throws_code([&] { w.prepare(); }, errc::invalid_argument));
        w.commit();
        REQUIRE_FALSE(exists(temp));
        REQUIRE(throws_code([&] { w.commit(); }, errc::invalid_argument));
    }
    ::umask(old_mask);
    struct stat st {};
    REQUIRE(::stat(out.c_str(), &st) == 0);
    REQUIRE((st.st_mode & 07777) == 0644);  // what a new file gets under umask 022
    safetensors_file f(out);
    REQUIRE(f.read<float>(f.at("a")) == four);
    REQUIRE(dir.list() == std::vector<std::string>{"two.safetensors"});

    // Prepared but never committed: the target keeps its old content.
    spit(out, "old");
    {
        safetensors_writer w(out);
        w.add<float>("a", {4}, four);
        w.prepare();
    }
    REQUIRE(slurp(out) == "old");
    REQUIRE(dir.list() == std::vector<std::string>{"two.safetensors"});

    // finish() keeps its contract: prepare() and commit() in one.
    {
        safetensors_writer w(out);
        w.add<float>("a", {4}, four);
        w.finish();
    }
    REQUIRE(dir.list() == std::vector<std::string>{"two.safetensors"});
}

TEST_CASE("safetensors writer fails fast on an output it can never write", "[safetensors][writer]") {
    temp_dir dir;
    REQUIRE(::mkdir((dir / "sub").c_str(), 0700) == 0);
    std::string m = message_of([&] { safetensors_writer w(dir / "sub"); });
    REQUIRE(m.find(dir / "sub") != std::string::npos);
    REQUIRE(m.find("is a directory") != std::string::npos);
    REQUIRE(throws_code([&] { safetensors_writer w(dir / "sub"); }, errc::invalid_argument));
    m = message_of([&] { safetensors_writer w(dir / "none/x.safetensors"); });
    REQUIRE(m.find(dir / "none/x.safetensors") != std::string::npos);
    REQUIRE(m.find("No such file or directory") != std::string::npos);
    REQUIRE(throws_code([&] { safetensors_writer w("/nonexistent-dir/x.safetensors"); }, errc::io_error));
    spit(dir / "file", "x");
    m = message_of([&] { safetensors_writer w(dir / "file/x.safetensors"); });
    REQUIRE(m.find("not a directory") != std::string::npos);
    REQUIRE(dir.list() == (std::vector<std::string>{"file", "sub"}));
}

TEST_CASE("safetensors writer's write errors name the file that failed and why", "[safetensors][writer]") {
    // Regression: data left in stdio's buffer by add() failed at finish()'s
    // flush, and the message named <out>.partial, a file that was fine.
    temp_dir dir;
    const std::string out = dir / "big.safetensors";
    const std::string m1 = in_child_with_file_limit(1024, [&] {
        safetensors_writer w(out);
        const std::string spool = w.spool_file().path();
        const std::vector<float> v(500, 1.0f);  // 2000 bytes: over the limit in the spool
        try {
            w.add<float>("a", {500}, v);
            w.finish();
        } catch (const error& e) {
            return "spool=" + spool + "\n" + e.what();
        }
        return std::string("no error");
    });
    INFO(m1);
    const std::string spool = m1.substr(6, m1.find('\n') - 6);
    REQUIRE(spool.find(".sqllm-tmp.") != std::string::npos);
    const std::string what1 = m1.substr(m1.find('\n') + 1);
    REQUIRE(what1.find(spool) != std::string::npos);
    REQUIRE(what1.find("File too large") != std::string::npos);
    REQUIRE(what1.find("write failed") != std::string::npos);

    // The spool fits (65528 bytes), the final file (8 + header + data) does
    // not: the message names the output's temporary, not the spool.
    const std::string m2 = in_child_with_file_limit(65536, [&] {
        safetensors_writer w(out);
        const std::string spool2 = w.spool_file().path(), temp = w.output_file().path();
        const std::vector<float> v(65528 / 4, 1.0f);
        try {
            w.add<float>("a", {v.size()}, v);
            w.prepare();
        } catch (const error& e) {
            return "temp=" + temp + "\nspool=" + spool2 + "\n" + e.what();
        }
        return std::string("no error");
    });
    INFO(m2);
    const std::size_t nl = m2.find('\n');
    const std::string temp = m2.substr(5, nl - 5);
    const std::string what2 = m2.substr(m2.find('\n', nl + 1) + 1);
    REQUIRE(what2.find(temp) != std::string::npos);
    REQUIRE(what2.find("(temporary file for " + out + ")") != std::string::npos);
    REQUIRE(what2.find("File too large") != std::string::npos);
    // The children's writers removed their temporaries on the error path.
    REQUIRE(dir.list().empty());
}

TEST_CASE("temporary_output: write, commit, and a late failure leaves the target alone", "[safetensors][writer]") {
    temp_dir dir;
    const std::string report = dir / "r.json";
    {
        temporary_output t(report);
        t.write("{}\n", 3);
        REQUIRE_FALSE(exists(report));
        t.commit();
        REQUIRE(t.committed());
    }
    REQUIRE(slurp(report) == "{}\n");
    {
        temporary_output t(report);
        t.write("new", 3);
        // Someone removes the temporary: commit refuses rather than renaming
        // whatever now has the name, and names the file.
        REQUIRE(::unlink(t.path().c_str()) == 0);
        spit(t.path(), "planted");
        const std::string m = message_of([&] { t.commit(); });
        REQUIRE(m.find(t.path()) != std::string::npos);
        REQUIRE(m.find("removed or replaced") != std::string::npos);
        t.discard();
        REQUIRE(slurp(t.path()) == "planted");  // not ours: not deleted
        REQUIRE(::unlink(t.path().c_str()) == 0);
    }
    REQUIRE(slurp(report) == "{}\n");
    REQUIRE(dir.list() == std::vector<std::string>{"r.json"});
}

TEST_CASE("temporary_output::remove_stale removes only dead processes' own temporaries", "[safetensors][writer]") {
    temp_dir dir;
    const std::string out = dir / "o.safetensors";
    const std::string hex = ".0123456789abcdef";
    const long dead = dead_pid();
    const std::string tmp = "o.safetensors.sqllm-tmp.";
    const std::string stale = tmp + std::to_string(dead) + hex;
    spit(dir / stale, "stale");
    // Kept: a live process's (pid 1 always exists), this process's, another
    // output's, the wrong pattern, a symlink and a directory of the pattern.
    const std::vector<std::string> kept = {
        tmp + "1" + hex,
        tmp + std::to_string(::getpid()) + ".fedcba9876543210",
        "other.safetensors.sqllm-tmp." + std::to_string(dead) + hex,
        tmp + std::to_string(dead) + ".0123456789ABCDEF",
        tmp + std::to_string(dead) + ".0123",
        tmp + std::to_string(dead) + hex + ".x",
        "o.safetensors.spool",
    };
    for (const auto& k : kept)
        spit(dir / k, "keep");
    spit(dir / "victim", "victim");
    const std::string link = tmp + std::to_string(dead) + ".1111111111111111";
    REQUIRE(::symlink((dir / "victim").c_str(), (dir / link).c_str()) == 0);
    const std::string subdir = tmp + std::to_string(dead) + ".2222222222222222";
    REQUIRE(::mkdir((dir / subdir).c_str(), 0700) == 0);
    std::string foreign;
    if (::geteuid() == 0) {  // owned by someone else: kept (needs root to make)
        foreign = tmp + std::to_string(dead) + ".3333333333333333";
        spit(dir / foreign, "nobody's");
        REQUIRE(::chown((dir / foreign).c_str(), 65534, 65534) == 0);
    }

    const auto removed = temporary_output::remove_stale(out);
    REQUIRE(removed == std::vector<std::string>{dir / stale});
    REQUIRE_FALSE(exists(dir / stale));
    for (const auto& k : kept)
        REQUIRE(slurp(dir / k) == "keep");
    REQUIRE(is_symlink(dir / link));
    REQUIRE(slurp(dir / "victim") == "victim");
    REQUIRE(exists(dir / subdir));
    if (!foreign.empty()) REQUIRE(exists(dir / foreign));
    REQUIRE(temporary_output::remove_stale(out).empty());
}

TEST_CASE("safetensors writer finds duplicate names in O(log n)", "[safetensors][writer]") {
    // Regression: add() compared each name with every earlier one, O(n²)
    // in all: 200,000 tensors took minutes. Empty tensors: no data to write.
    temp_dir dir;
    safetensors_writer w(dir / "many.safetensors");
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t n = 200000;
    for (std::size_t i = 0; i < n; ++i)
        w.add("model.layers." + std::to_string(i) + ".weight", dtype::f32, {0}, nullptr, 0);
    REQUIRE(throws_code([&] { w.add("model.layers.777.weight", dtype::f32, {0}, nullptr, 0); },
                        errc::invalid_argument));
    REQUIRE(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));
}
