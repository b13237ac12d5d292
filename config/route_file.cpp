// Route files (route_file.hpp). A full table is 10^6 lines and a reload
// re-reads it, so the success path is built to cost little per line: the
// file is read in blocks (never held whole), each line is cut into tokens
// in place, routes are constructed directly in cfg.routes (reserved from
// the files' sizes), each route's next hops are allocated once at their
// final size, and error text is only built for a line that has an error.
#include "config/route_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <system_error>

#include "config/huge_pages.hpp"

namespace sluice::config {

namespace {

constexpr size_t kMaxErrorsPerFile = 100;
// The shortest line that holds a route is "::/0 port a\n": sizing
// cfg.routes by file size / this (+1 for a last line without a newline)
// never falls short. The capacity beyond the real count is never touched,
// so it costs address space, not memory.
constexpr size_t kMinRouteLine = 12;
constexpr size_t kReadBlock = size_t(1) << 20;

// Character classes of the line format: blanks separate tokens, '#'
// starts a comment (also right after a token), anything else is text.
enum : uint8_t { kText = 0, kBlank = 1, kComment = 2 };
constexpr std::array<uint8_t, 256> kClass = [] {
    std::array<uint8_t, 256> c{};
    c[uint8_t(' ')] = c[uint8_t('\t')] = c[uint8_t('\r')] = kBlank;
    c[uint8_t('#')] = kComment;
    return c;
}();
uint8_t char_class(char c) { return kClass[uint8_t(c)]; }

struct Token {
    std::string_view text;
    int column = 0;  // 1-based
};

// The blank-separated tokens of one line, up to a '#' comment, one at a
// time.
class Tokens {
public:
    explicit Tokens(std::string_view line) : line_(line) {}
    bool next(Token& t) {
        size_t i = pos_;
        while (i < line_.size() && char_class(line_[i]) == kBlank) ++i;
        if (i >= line_.size() || char_class(line_[i]) == kComment) {
            pos_ = line_.size();
            return false;
        }
        size_t start = i;
        while (i < line_.size() && char_class(line_[i]) == kText) ++i;
        pos_ = i;
        t = {line_.substr(start, i - start), int(start + 1)};
        return true;
    }

private:
    std::string_view line_;
    size_t pos_ = 0;
};

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Feeds lines of one route file into cfg.routes and errs.
class LineParser {
public:
    LineParser(const std::string& file, uint32_t index, Config& cfg, std::vector<ConfigError>& errs)
        : file_(file), index_(index), cfg_(cfg), errs_(errs) {}

    // False once the parser takes no more lines (too many errors or routes).
    bool accepting() const { return !stopped_ && errors_ < kMaxErrorsPerFile; }

    void line(std::string_view l) {
        ++line_;
        Tokens tk(l);
        Token first;
        if (!tk.next(first)) return;
        if (cfg_.routes.size() >= kMaxRoutes) {
            error(1, "more than " + std::to_string(kMaxRoutes) + " routes in all; split the table or raise kMaxRoutes");
            stopped_ = true;
            return;
        }
        Route& r = cfg_.routes.emplace_back();
        if (!parse(tk, first, r)) cfg_.routes.pop_back();
    }

    void finish() {
        if (!stopped_ && errors_ >= kMaxErrorsPerFile)
            error(0, "too many errors; stopped reading this file at line " + std::to_string(line_));
    }

private:
    // One line into r; false (with an error recorded) if it is not a route.
    bool parse(Tokens& tk, const Token& first, Route& r) {
        r.mark = SourceMark{line_, first.column, index_};
        auto p = parse_prefix(first.text);
        if (!p)
            return fail(first, "expected a prefix like 198.19.0.0/16 or 2001:db8:99::/48, got " + quoted(first.text));
        r.prefix = *p;
        hops_.clear();
        Token t;
        bool have = tk.next(t);
        if (!have)
            return fail(first, "route " + quoted(first.text) + " has no next hop; add \"via ADDRESS\" or \"port NAME\"");
        while (have) {
            NextHop& h = hops_.emplace_back();
            if (t.text == "via") {
                Token addr;
                if (!tk.next(addr)) return fail(t, "\"via\" needs a gateway address after it");
                auto a = gateway(addr.text);
                if (!a) return fail(addr, "expected a gateway IPv4 or IPv6 address, got " + quoted(addr.text));
                h.via = *a;
                have = tk.next(t);
                if (have && t.text == "port") {
                    Token name;
                    if (!tk.next(name)) return fail(t, "\"port\" needs a port name after it");
                    h.port.assign(name.text);
                    have = tk.next(t);
                }
            } else if (t.text == "port") {
                Token name;
                if (!tk.next(name)) return fail(t, "\"port\" needs a port name after it");
                h.port.assign(name.text);
                have = tk.next(t);
            } else {
                return fail(t, "expected \"via ADDRESS\" or \"port NAME\", got " + quoted(t.text));
            }
        }
        // One allocation of the final size (ECMP groups too).
        r.nexthops.assign(hops_.begin(), hops_.end());
        return true;
    }

    // parse_ip() of a gateway. A table names a handful of gateways on
    // 10^6 lines: the last few texts parsed are kept with their address.
    std::optional<IpAddr> gateway(std::string_view text) {
        for (const Memo& m : memo_)
            if (m.len == text.size() && m.len > 0 && std::memcmp(m.text, text.data(), m.len) == 0) return m.addr;
        auto a = parse_ip(text);
        if (a && text.size() <= sizeof(Memo::text)) {
            Memo& m = memo_[memo_next_++ % memo_.size()];
            std::memcpy(m.text, text.data(), text.size());
            m.len = uint8_t(text.size());
            m.addr = *a;
        }
        return a;
    }

    bool fail(const Token& at, std::string msg) {
        error(at.column, std::move(msg));
        return false;
    }

    void error(int column, std::string msg) {
        ++errors_;
        ConfigError e;
        e.file = file_;
        e.line = line_;
        e.column = column;
        e.field = "route_files[" + std::to_string(index_ - 1) + "]";
        e.message = std::move(msg);
        errs_.push_back(std::move(e));
    }

    const std::string& file_;
    uint32_t index_;
    Config& cfg_;
    std::vector<ConfigError>& errs_;
    std::vector<NextHop> hops_;  // scratch, reused for every line
    struct Memo {
        char text[48];
        uint8_t len = 0;
        IpAddr addr;
    };
    std::array<Memo, 4> memo_{};
    size_t memo_next_ = 0;
    int line_ = 0;
    size_t errors_ = 0;
    bool stopped_ = false;
};

// Calls each(line) for every '\n'-terminated line of text and for a last
// unterminated one; returns the unterminated rest when `partial` (a block
// of a larger file) instead of feeding it.
template <class Each>
std::string_view split_lines(std::string_view text, bool partial, Each&& each) {
    size_t pos = 0;
    while (pos < text.size()) {
        const void* nl = std::memchr(text.data() + pos, '\n', text.size() - pos);
        if (!nl) break;
        size_t end = size_t(static_cast<const char*>(nl) - text.data());
        if (!each(text.substr(pos, end - pos))) return {};
        pos = end + 1;
    }
    std::string_view rest = text.substr(pos);
    if (partial) return rest;
    if (!rest.empty()) each(rest);
    return {};
}

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// Parses one route file block by block. On a read error or a file over
// kMaxRouteFileBytes, everything this file added is taken back and only
// that error remains, as when the file was read whole before parsing.
bool read_and_parse(const std::string& path, uint32_t index, Config& cfg, std::vector<ConfigError>& errs,
                    int& err) {
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) {
        err = errno;
        return false;
    }
    const size_t routes_before = cfg.routes.size();
    const size_t errs_before = errs.size();
    auto undo = [&](int e) {
        cfg.routes.resize(routes_before);
        errs.resize(errs_before);
        err = e;
        return false;
    };
    LineParser lp(path, index, cfg, errs);
    auto feed = [&](std::string_view l) {
        lp.line(l);
        return lp.accepting();
    };
    std::unique_ptr<char[]> buf(new char[kReadBlock]);
    size_t cap = kReadBlock;
    size_t have = 0;   // bytes in buf not yet fed (an unfinished line)
    size_t total = 0;  // bytes read from the file
    while (true) {
        if (have == cap) {  // one line longer than the buffer: grow it
            std::unique_ptr<char[]> bigger(new char[cap * 2]);
            std::memcpy(bigger.get(), buf.get(), have);
            buf = std::move(bigger);
            cap *= 2;
        }
        ssize_t n = ::read(f.fd, buf.get() + have, cap - have);
        if (n < 0) {
            if (errno == EINTR) continue;
            return undo(errno);
        }
        if (n == 0) break;
        total += size_t(n);
        if (total > kMaxRouteFileBytes) return undo(EFBIG);
        if (!lp.accepting()) continue;  // read on only to see the size and read errors
        std::string_view block(buf.get(), have + size_t(n));
        std::string_view rest = split_lines(block, true, feed);
        have = lp.accepting() ? rest.size() : 0;
        if (have > 0) std::memmove(buf.get(), rest.data(), have);  // the unfinished line to the front
    }
    if (have > 0 && lp.accepting()) lp.line(std::string_view(buf.get(), have));
    lp.finish();
    return true;
}

}  // namespace

void parse_route_text(std::string_view text, const std::string& file_name, uint32_t file_index, Config& cfg,
                      std::vector<ConfigError>& errs) {
    LineParser lp(file_name, file_index, cfg, errs);
    split_lines(text, false, [&](std::string_view l) {
        lp.line(l);
        return lp.accepting();
    });
    lp.finish();
}

void read_route_files(Config& cfg, const std::string& config_path, std::vector<ConfigError>& errs) {
    std::string dir;
    if (size_t slash = config_path.rfind('/'); slash != std::string::npos && config_path != "<string>")
        dir = config_path.substr(0, slash + 1);
    size_t most = 0;  // routes the files can hold at most
    for (std::string& path : cfg.route_files) {
        if (!path.empty() && path[0] != '/') path = dir + path;
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) most += size_t(st.st_size) / kMinRouteLine + 1;
    }
    // Sized once for every file, so the routes never move while loading.
    cfg.routes.reserve(std::min(kMaxRoutes, cfg.routes.size() + most));
    advise_huge_pages(cfg.routes.data(), cfg.routes.capacity() * sizeof(Route));
    for (size_t k = 0; k < cfg.route_files.size(); ++k) {
        const std::string& path = cfg.route_files[k];
        int err = 0;
        if (!read_and_parse(path, uint32_t(k + 1), cfg, errs, err)) {
            ConfigError e;
            e.file = path;
            e.field = "route_files[" + std::to_string(k) + "]";
            e.message = (err == EFBIG ? "route file larger than " + std::to_string(kMaxRouteFileBytes >> 20) + " MiB"
                                      : "cannot read route file: " + std::error_code(err, std::generic_category()).message());
            errs.push_back(std::move(e));
        }
    }
}

}  // namespace sluice::config
