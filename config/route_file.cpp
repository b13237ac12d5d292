#include "config/route_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace sluice::config {

namespace {

constexpr size_t kMaxErrorsPerFile = 100;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

struct Token {
    std::string_view text;
    int column = 0;  // 1-based
};

// Splits a line at blanks, up to a '#' comment.
std::vector<Token> tokens(std::string_view line) {
    std::vector<Token> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && is_space(line[i])) ++i;
        if (i >= line.size() || line[i] == '#') break;
        size_t start = i;
        while (i < line.size() && !is_space(line[i]) && line[i] != '#') ++i;
        out.push_back({line.substr(start, i - start), int(start + 1)});
    }
    return out;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

class LineParser {
public:
    LineParser(const std::string& file, uint32_t index, std::vector<ConfigError>& errs)
        : file_(file), index_(index), errs_(errs) {}

    size_t errors = 0;

    // One line into r; false (with an error recorded) if it is not a route.
    bool parse(const std::vector<Token>& t, int line, Route& r) {
        line_ = line;
        r.mark = SourceMark{line, t[0].column, index_};
        auto p = parse_prefix(t[0].text);
        if (!p) return fail(t[0], "expected a prefix like 198.19.0.0/16 or 2001:db8:99::/48, got " + quoted(t[0].text));
        r.prefix = *p;
        if (t.size() == 1) return fail(t[0], "route " + quoted(t[0].text) + " has no next hop; add \"via ADDRESS\" or \"port NAME\"");
        size_t i = 1;
        while (i < t.size()) {
            NextHop h;
            if (t[i].text == "via") {
                if (i + 1 >= t.size()) return fail(t[i], "\"via\" needs a gateway address after it");
                auto a = parse_ip(t[i + 1].text);
                if (!a) return fail(t[i + 1], "expected a gateway IPv4 or IPv6 address, got " + quoted(t[i + 1].text));
                h.via = *a;
                i += 2;
                if (i < t.size() && t[i].text == "port") {
                    if (i + 1 >= t.size()) return fail(t[i], "\"port\" needs a port name after it");
                    h.port = std::string(t[i + 1].text);
                    i += 2;
                }
            } else if (t[i].text == "port") {
                if (i + 1 >= t.size()) return fail(t[i], "\"port\" needs a port name after it");
                h.port = std::string(t[i + 1].text);
                i += 2;
            } else {
                return fail(t[i], "expected \"via ADDRESS\" or \"port NAME\", got " + quoted(t[i].text));
            }
            r.nexthops.push_back(std::move(h));
        }
        return true;
    }

    void error(int line, int column, std::string msg) {
        ++errors;
        ConfigError e;
        e.file = file_;
        e.line = line;
        e.column = column;
        e.field = "route_files[" + std::to_string(index_ - 1) + "]";
        e.message = std::move(msg);
        errs_.push_back(std::move(e));
    }

private:
    bool fail(const Token& at, std::string msg) {
        error(line_, at.column, std::move(msg));
        return false;
    }

    const std::string& file_;
    uint32_t index_;
    std::vector<ConfigError>& errs_;
    int line_ = 0;
};

bool read_file(const std::string& path, std::string& out, int& err) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err = errno;
        return false;
    }
    char buf[1 << 16];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            err = errno;
            ::close(fd);
            return false;
        }
        if (n == 0) break;
        if (out.size() + size_t(n) > kMaxRouteFileBytes) {
            err = EFBIG;
            ::close(fd);
            return false;
        }
        out.append(buf, size_t(n));
    }
    ::close(fd);
    return true;
}

}  // namespace

void parse_route_text(std::string_view text, const std::string& file_name, uint32_t file_index, Config& cfg,
                      std::vector<ConfigError>& errs) {
    LineParser lp(file_name, file_index, errs);
    int line = 0;
    size_t pos = 0;
    while (pos < text.size() && lp.errors < kMaxErrorsPerFile) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view l = text.substr(pos, end - pos);
        pos = end + 1;
        ++line;
        auto t = tokens(l);
        if (t.empty()) continue;
        if (cfg.routes.size() >= kMaxRoutes) {
            lp.error(line, 1, "more than " + std::to_string(kMaxRoutes) + " routes in all; split the table or raise kMaxRoutes");
            return;
        }
        Route r;
        if (lp.parse(t, line, r)) cfg.routes.push_back(std::move(r));
    }
    if (lp.errors >= kMaxErrorsPerFile)
        lp.error(line, 0, "too many errors; stopped reading this file at line " + std::to_string(line));
}

void read_route_files(Config& cfg, const std::string& config_path, std::vector<ConfigError>& errs) {
    std::string dir;
    if (size_t slash = config_path.rfind('/'); slash != std::string::npos && config_path != "<string>")
        dir = config_path.substr(0, slash + 1);
    for (size_t k = 0; k < cfg.route_files.size(); ++k) {
        std::string& path = cfg.route_files[k];
        if (!path.empty() && path[0] != '/') path = dir + path;
        std::string text;
        int err = 0;
        if (!read_file(path, text, err)) {
            ConfigError e;
            e.file = path;
            e.field = "route_files[" + std::to_string(k) + "]";
            e.message = (err == EFBIG ? "route file larger than " + std::to_string(kMaxRouteFileBytes >> 20) + " MiB"
                                      : "cannot read route file: " + std::error_code(err, std::generic_category()).message());
            errs.push_back(std::move(e));
            continue;
        }
        parse_route_text(text, path, uint32_t(k + 1), cfg, errs);
    }
}

}  // namespace sluice::config
