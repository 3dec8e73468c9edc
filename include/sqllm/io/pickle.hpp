// sqllm/io/pickle.hpp — a restricted Python unpickler that executes nothing.
//
// PyTorch's `torch.save` writes a state dict as a pickle (protocol 2) inside
// a zip archive (io/torch_checkpoint.hpp). A pickle is a program for a stack
// machine that may import and call any Python function; this reader runs
// only the opcodes such a state dict uses and builds an inert object graph:
// GLOBAL yields a reference to a name from a fixed allow-list (anything
// else is an error), REDUCE records "call f(args)" without calling anything
// (except `collections.OrderedDict()`, which becomes an empty dict), and
// BINPERSID records the persistent id (a torch storage reference).
//
// Hardening (docs/TORCH.md):
// - No recursion anywhere: the machine has an explicit stack, objects live
//   in one arena and refer to each other by index, so destroying a graph
//   never recurses either.
// - The graph is acyclic: a container becomes sealed once it is placed
//   inside another object (or used as call arguments or state), and a sealed
//   container cannot be modified, so no object can reach itself. (Python
//   pickles of self-referential data do that; state dicts never do.)
// - Limits (pickle_limits): nesting depth of containers and of MARKs, total
//   objects, memo entries, and every declared length against the input
//   left. Each opcode costs O(1) amortised beyond the bytes or items it
//   consumes: the whole parse is linear in the input.
// - Every error is sqllm::error(errc::corrupt_data) naming the opcode and
//   its byte offset; a name outside the allow-list is errc::invalid_argument.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../error.hpp"

SQLLM_NAMESPACE_BEGIN
namespace io {
namespace pickle {

/// What an object of the graph is.
enum class kind : std::uint8_t {
    none,
    boolean,
    integer,        ///< fits int64 (a larger LONG1 is an error)
    floating,       ///< BINFLOAT
    string,         ///< unicode text (UTF-8 bytes, not validated)
    bytes,          ///< BINBYTES
    tuple,          ///< items
    list,           ///< items
    dict,           ///< items: key, value, key, value, ... in insertion order
    global,         ///< text = "module name" from the allow-list
    persistent_id,  ///< items[0]: the persistent id object
    reduce,         ///< items[0]: the callable (a global), items[1]: its args tuple
};

/// Human-readable name of a kind ("a dict", ...), for messages.
inline const char* to_string(kind k) noexcept {
    switch (k) {
        case kind::none: return "None";
        case kind::boolean: return "a bool";
        case kind::integer: return "an int";
        case kind::floating: return "a float";
        case kind::string: return "a str";
        case kind::bytes: return "bytes";
        case kind::tuple: return "a tuple";
        case kind::list: return "a list";
        case kind::dict: return "a dict";
        case kind::global: return "a global";
        case kind::persistent_id: return "a persistent id";
        case kind::reduce: return "a call";
    }
    return "an object";
}

/// Index of an object in its graph.
using ref = std::size_t;
/// "no object" (e.g. no BUILD state).
constexpr ref no_ref = static_cast<ref>(-1);

/// One object. Containers hold indices into the same graph.
struct object {
    kind type = kind::none;
    bool sealed = false;      ///< placed inside another object: immutable from then on
    std::uint16_t depth = 0;  ///< 0 for scalars, 1 + the deepest child for containers
    std::int64_t integer = 0; ///< integer, boolean (0/1)
    double real = 0;          ///< floating
    std::string text;         ///< string, bytes, global ("module name")
    std::vector<ref> items;   ///< see kind
    ref state = no_ref;       ///< BUILD's argument, kept (OrderedDict attributes) but not interpreted
};

/// Limits on what a pickle may build. The defaults are far above a torch
/// state dict (a 65B-parameter model's data.pkl is ~1 MB, ~10^5 objects).
struct pickle_limits {
    std::size_t max_depth = 64;          ///< nesting of containers, and of MARKs
    std::size_t max_objects = 1u << 22;  ///< objects in the graph (and on the stack)
    std::size_t max_memo = 1u << 22;     ///< memo entries
};

/// The inert result of unpickling: objects and the root.
class graph {
public:
    const object& operator[](ref i) const { return objects_.at(i); }
    std::size_t size() const noexcept { return objects_.size(); }
    ref root() const noexcept { return root_; }

    /// Whether object `i` is the global "module name" (e.g. "torch FloatStorage").
    bool is_global(ref i, const char* module_and_name) const {
        return i < objects_.size() && objects_[i].type == kind::global && objects_[i].text == module_and_name;
    }

private:
    friend class parser;
    std::vector<object> objects_;
    ref root_ = no_ref;
};

/// The names GLOBAL may import: exactly what torch.save writes for a state
/// dict of tensors (and Parameters), nothing that executes anything.
inline bool allowed_global(const std::string& module, const std::string& name) {
    if (module == "collections") return name == "OrderedDict";
    if (module == "torch._utils") return name == "_rebuild_tensor_v2" || name == "_rebuild_parameter";
    if (module == "torch") {
        static const char* const storages[] = {"FloatStorage", "HalfStorage",  "BFloat16Storage", "DoubleStorage",
                                               "IntStorage",   "LongStorage",  "ShortStorage",    "CharStorage",
                                               "ByteStorage",  "BoolStorage"};
        for (const char* s : storages)
            if (name == s) return true;
    }
    return false;
}

/// The restricted unpickler. Use unpickle() below.
class parser {
public:
    parser(const unsigned char* data, std::size_t size, std::string where, const pickle_limits& limits)
        : p_(data), n_(size), where_(std::move(where)), lim_(limits) {}

    graph run() {
        while (true) {
            if (pos_ >= n_) fail_at(pos_, "the pickle ends without STOP (truncated)");
            op_pos_ = pos_;
            op_ = p_[pos_++];
            switch (op_) {
                case 0x80: {  // PROTO
                    const unsigned v = u8();
                    if (v > 5) fail("protocol " + std::to_string(v) + " is not supported (at most 5)");
                    break;
                }
                case 0x95: {  // FRAME: a length hint; the bytes follow inline
                    const std::uint64_t len = le(8);
                    if (len > n_ - pos_) fail("FRAME of " + std::to_string(len) + " bytes runs past the end");
                    break;
                }
                case '(':  // MARK
                    if (marks_.size() >= lim_.max_depth)
                        fail("MARKs nested deeper than " + std::to_string(lim_.max_depth));
                    marks_.push_back(stack_.size());
                    break;
                case '.': {  // STOP
                    if (!marks_.empty()) fail("STOP with an open MARK");
                    if (stack_.size() != 1)
                        fail("STOP with " + std::to_string(stack_.size()) + " objects on the stack, expected 1");
                    g_.root_ = stack_.back();
                    return std::move(g_);
                }
                case '}': push(make(kind::dict)); break;   // EMPTY_DICT
                case ']': push(make(kind::list)); break;   // EMPTY_LIST
                case ')': push(make(kind::tuple)); break;  // EMPTY_TUPLE
                case 't': {                                // TUPLE
                    const std::size_t m = pop_mark();
                    push(container(kind::tuple, m));
                    break;
                }
                case 0x85:  // TUPLE1
                case 0x86:  // TUPLE2
                case 0x87:  // TUPLE3
                {
                    const std::size_t k = static_cast<std::size_t>(op_ - 0x84);
                    need(k);
                    push(container(kind::tuple, stack_.size() - k));
                    break;
                }
                case 'J': push(make_int(static_cast<std::int32_t>(static_cast<std::uint32_t>(le(4))))); break;  // BININT
                case 'K': push(make_int(u8())); break;                                                       // BININT1
                case 'M': push(make_int(static_cast<std::int64_t>(le(2)))); break;                           // BININT2
                case 0x8a: {                                                                                 // LONG1
                    const unsigned len = u8();
                    if (len > 8) fail("integer of " + std::to_string(len) + " bytes does not fit 64 bits");
                    std::uint64_t v = le(len);
                    if (len > 0 && len < 8 && (v >> (8 * len - 1)) & 1) v |= ~std::uint64_t(0) << (8 * len);  // sign
                    push(make_int(static_cast<std::int64_t>(v)));
                    break;
                }
                case 0x88: push(make_bool(true)); break;   // NEWTRUE
                case 0x89: push(make_bool(false)); break;  // NEWFALSE
                case 'N': push(make(kind::none)); break;   // NONE
                case 'G': {                                // BINFLOAT: big-endian IEEE double
                    const std::uint64_t bits = be8();
                    const ref r = make(kind::floating);
                    std::memcpy(&g_.objects_[r].real, &bits, 8);
                    push(r);
                    break;
                }
                case 'X': push(make_text(kind::string, le(4))); break;     // BINUNICODE
                case 0x8c: push(make_text(kind::string, u8())); break;     // SHORT_BINUNICODE
                case 0x8d: push(make_text(kind::string, le(8))); break;    // BINUNICODE8
                case 'B': push(make_text(kind::bytes, le(4))); break;      // BINBYTES
                case 'C': push(make_text(kind::bytes, u8())); break;       // SHORT_BINBYTES
                case 0x8e: push(make_text(kind::bytes, le(8))); break;     // BINBYTES8
                case 'c': {                                                // GLOBAL "module\nname\n"
                    const std::string module = line(), name = line();
                    push(make_global(module, name));
                    break;
                }
                case 0x93: {  // STACK_GLOBAL (protocol 4)
                    need(2);
                    const ref name = stack_.back(), module = stack_[stack_.size() - 2];
                    if (obj(module).type != kind::string || obj(name).type != kind::string)
                        fail("STACK_GLOBAL needs two strings");
                    const std::string m = obj(module).text, nm = obj(name).text;
                    stack_.resize(stack_.size() - 2);
                    push(make_global(m, nm));
                    break;
                }
                case 'q': memo_put(u8()); break;         // BINPUT
                case 'r': memo_put(le(4)); break;        // LONG_BINPUT
                case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
                case 'h': push(memo_get(u8())); break;   // BINGET
                case 'j': push(memo_get(le(4))); break;  // LONG_BINGET
                case 'Q': {                              // BINPERSID
                    need(1);
                    const ref pid = stack_.back();
                    stack_.pop_back();
                    const ref r = make(kind::persistent_id);
                    adopt(r, pid);
                    push(r);
                    break;
                }
                case 'R': {  // REDUCE: callable, args -> a recorded call (nothing runs)
                    need(2);
                    const ref args = stack_.back(), fn = stack_[stack_.size() - 2];
                    stack_.resize(stack_.size() - 2);
                    if (obj(fn).type != kind::global) fail(std::string("REDUCE calls ") + to_string(obj(fn).type) + ", not a global");
                    if (obj(args).type != kind::tuple) fail(std::string("REDUCE arguments are ") + to_string(obj(args).type) + ", not a tuple");
                    if (g_.is_global(fn, "collections OrderedDict")) {
                        if (!obj(args).items.empty()) fail("OrderedDict() with arguments is not supported");
                        push(make(kind::dict));
                        break;
                    }
                    if (obj(fn).text.compare(0, 6, "torch ") == 0) fail("REDUCE calls the storage type " + obj(fn).text);
                    const ref r = make(kind::reduce);
                    adopt(r, fn);
                    adopt(r, args);
                    push(r);
                    break;
                }
                case 'b': {  // BUILD: state, object -> object with its state recorded
                    need(2);
                    const ref state = stack_.back();
                    stack_.pop_back();
                    const ref target = stack_.back();
                    const kind t = obj(target).type;
                    if (t != kind::dict && t != kind::reduce) fail(std::string("BUILD on ") + to_string(t));
                    mutable_obj(target);
                    if (obj(target).state != no_ref) fail("BUILD twice on one object");
                    seal(state, target);
                    g_.objects_[target].state = state;
                    break;
                }
                case 's': {  // SETITEM
                    need(3);
                    const std::size_t b = stack_.size() - 2;
                    fill(kind::dict, b - 1, b);
                    break;
                }
                case 'u': {  // SETITEMS
                    const std::size_t m = pop_mark();
                    if ((stack_.size() - m) % 2 != 0) fail("SETITEMS with an odd number of objects");
                    if (m == 0) fail("SETITEMS without a dict below the MARK");
                    fill(kind::dict, m - 1, m);
                    break;
                }
                case 'a': {  // APPEND
                    need(2);
                    const std::size_t b = stack_.size() - 1;
                    fill(kind::list, b - 1, b);
                    break;
                }
                case 'e': {  // APPENDS
                    const std::size_t m = pop_mark();
                    if (m == 0) fail("APPENDS without a list below the MARK");
                    fill(kind::list, m - 1, m);
                    break;
                }
                default:
                    fail_at(op_pos_, "opcode 0x" + hex(op_) + describe_op(op_) +
                                         " is not supported by the restricted unpickler");
            }
        }
    }

private:
    static std::string hex(unsigned v) {
        const char* d = "0123456789abcdef";
        return std::string{d[(v >> 4) & 15], d[v & 15]};
    }
    static std::string describe_op(unsigned char op) {
        if (op >= 0x20 && op < 0x7f) return std::string(" ('") + static_cast<char>(op) + "')";
        return "";
    }
    [[noreturn]] void fail_at(std::size_t at, const std::string& what) const {
        sqllm::detail::fail(errc::corrupt_data, where_ + ": pickle byte " + std::to_string(at) + ": " + what);
    }
    [[noreturn]] void fail(const std::string& what) const {
        fail_at(op_pos_, "opcode 0x" + hex(op_) + describe_op(op_) + ": " + what);
    }

    const object& obj(ref i) const { return g_.objects_[i]; }

    // --- input ---------------------------------------------------------
    void have(std::uint64_t k) const {
        if (k > n_ - pos_)
            fail("needs " + std::to_string(k) + " bytes but " + std::to_string(n_ - pos_) + " are left (truncated)");
    }
    unsigned u8() {
        have(1);
        return p_[pos_++];
    }
    std::uint64_t le(unsigned k) {
        have(k);
        std::uint64_t v = 0;
        for (unsigned i = 0; i < k; ++i)
            v |= static_cast<std::uint64_t>(p_[pos_ + i]) << (8 * i);
        pos_ += k;
        return v;
    }
    std::uint64_t be8() {
        have(8);
        std::uint64_t v = 0;
        for (unsigned i = 0; i < 8; ++i)
            v = (v << 8) | p_[pos_ + i];
        pos_ += 8;
        return v;
    }
    /// A newline-terminated name of GLOBAL (at most 256 bytes: no real module is longer).
    std::string line() {
        const std::size_t start = pos_;
        while (pos_ < n_ && p_[pos_] != '\n') {
            if (pos_ - start >= 256) fail("GLOBAL name longer than 256 bytes");
            ++pos_;
        }
        if (pos_ >= n_) fail("GLOBAL name without its newline (truncated)");
        std::string s(reinterpret_cast<const char*>(p_ + start), pos_ - start);
        ++pos_;
        return s;
    }

    // --- objects -------------------------------------------------------
    ref make(kind k) {
        if (g_.objects_.size() >= lim_.max_objects)
            fail("more than " + std::to_string(lim_.max_objects) + " objects");
        g_.objects_.emplace_back();
        g_.objects_.back().type = k;
        return g_.objects_.size() - 1;
    }
    ref make_int(std::int64_t v) {
        const ref r = make(kind::integer);
        g_.objects_[r].integer = v;
        return r;
    }
    ref make_bool(bool v) {
        const ref r = make(kind::boolean);
        g_.objects_[r].integer = v;
        return r;
    }
    ref make_text(kind k, std::uint64_t len) {
        have(len);  // a declared length never exceeds the bytes left: nothing is allocated for a lie
        const ref r = make(k);
        g_.objects_[r].text.assign(reinterpret_cast<const char*>(p_ + pos_), static_cast<std::size_t>(len));
        pos_ += static_cast<std::size_t>(len);
        return r;
    }
    ref make_global(const std::string& module, const std::string& name) {
        if (!allowed_global(module, name)) {
            std::string shown;
            for (char c : module + "." + name)
                shown += (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) ? '?' : c;
            sqllm::detail::fail(errc::invalid_argument,
                                where_ + ": pickle byte " + std::to_string(op_pos_) + ": global \"" + shown +
                                    "\" is not on the allow-list of a torch state dict (nothing is executed)");
        }
        const ref r = make(kind::global);
        g_.objects_[r].text = module + " " + name;
        return r;
    }

    /// Places `child` inside `parent`: seals it, updates the depth.
    void seal(ref child, ref parent) {
        if (child == parent) fail("an object placed inside itself");
        object& c = g_.objects_[child];
        c.sealed = true;
        object& p = g_.objects_[parent];
        if (c.depth + 1u > p.depth) {
            if (c.depth + 1u > lim_.max_depth) fail("objects nested deeper than " + std::to_string(lim_.max_depth));
            p.depth = static_cast<std::uint16_t>(c.depth + 1);
        }
    }
    void adopt(ref parent, ref child) {
        seal(child, parent);
        g_.objects_[parent].items.push_back(child);
    }
    void mutable_obj(ref i) const {
        if (obj(i).sealed)
            fail(std::string("modifies ") + to_string(obj(i).type) +
                 " already placed inside another object (a self-reference, never in a state dict)");
    }
    /// Moves stack_[from..] into the container at stack_[target].
    void fill(kind k, std::size_t target, std::size_t from) {
        if (!marks_.empty() && target < marks_.back()) fail("the container is below the current MARK");
        const ref c = stack_[target];
        if (obj(c).type != k) fail(std::string("expects ") + to_string(k) + " but finds " + to_string(obj(c).type));
        mutable_obj(c);
        for (std::size_t i = from; i < stack_.size(); ++i)
            adopt(c, stack_[i]);
        stack_.resize(from);
    }
    ref container(kind k, std::size_t from) {
        const ref c = make(k);
        for (std::size_t i = from; i < stack_.size(); ++i)
            adopt(c, stack_[i]);
        stack_.resize(from);
        return c;
    }

    // --- stack and memo ------------------------------------------------
    void push(ref r) {
        if (stack_.size() >= lim_.max_objects) fail("stack deeper than " + std::to_string(lim_.max_objects));
        stack_.push_back(r);
    }
    /// At least k objects above the current MARK (never pops through a MARK).
    void need(std::size_t k) const {
        const std::size_t floor = marks_.empty() ? 0 : marks_.back();
        if (stack_.size() - floor < k)
            fail("needs " + std::to_string(k) + " objects on the stack above the MARK, finds " +
                 std::to_string(stack_.size() - floor));
    }
    std::size_t pop_mark() {
        if (marks_.empty()) fail("no MARK to pop");
        const std::size_t m = marks_.back();
        marks_.pop_back();
        return m;
    }
    void memo_put(std::uint64_t key) {
        if (stack_.empty() || (!marks_.empty() && stack_.size() == marks_.back())) fail("memo put with nothing on the stack");
        if (memo_.size() >= lim_.max_memo && !memo_.count(key))
            fail("more than " + std::to_string(lim_.max_memo) + " memo entries");
        memo_[key] = stack_.back();
    }
    ref memo_get(std::uint64_t key) const {
        const auto it = memo_.find(key);
        if (it == memo_.end()) fail("memo entry " + std::to_string(key) + " is not defined");
        return it->second;
    }

    const unsigned char* p_;
    std::size_t n_;
    std::size_t pos_ = 0, op_pos_ = 0;
    unsigned char op_ = 0;
    std::string where_;
    pickle_limits lim_;
    graph g_;
    std::vector<ref> stack_;
    std::vector<std::size_t> marks_;
    std::unordered_map<std::uint64_t, ref> memo_;
};

/// Unpickles `size` bytes into an inert graph (see the file comment).
/// `where` names the input in error messages. Throws sqllm::error:
/// errc::invalid_argument for a global outside the allow-list,
/// errc::corrupt_data for everything else.
inline graph unpickle(const unsigned char* data, std::size_t size, const std::string& where,
                      const pickle_limits& limits = {}) {
    return parser(data, size, where, limits).run();
}

}  // namespace pickle
}  // namespace io
SQLLM_NAMESPACE_END
