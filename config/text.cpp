// Error formatting of load.hpp and quote.hpp (the address text helpers are
// api/net.hpp).
#include <string>

#include "config/load.hpp"
#include "config/quote.hpp"

namespace sluice::config {

std::string ConfigError::to_string() const {
    std::string s = file.empty() ? "<string>" : file;
    if (line > 0) {
        s += ":" + std::to_string(line);
        if (column > 0) s += ":" + std::to_string(column);
    }
    s += ": ";
    if (!field.empty()) s += field + ": ";
    s += message;
    return s;
}

void append_escaped(std::string& out, char c, Escape e) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
    } else if (e == Escape::newline_tab_by_name && c == '\n') {
        out += "\\n";
    } else if (e == Escape::newline_tab_by_name && c == '\t') {
        out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
        static const char* hex = "0123456789abcdef";
        out += "\\x";
        out += hex[u >> 4];
        out += hex[u & 15];
    } else {
        out += c;
    }
}

std::string quote(std::string_view s, Escape e) {
    std::string r = "\"";
    size_t n = 0;
    for (char c : s) {
        if (++n > 60) {
            r += "...";
            break;
        }
        append_escaped(r, c, e);
    }
    return r + "\"";
}

std::string LoadResult::error_text() const {
    if (ok()) return {};
    std::string s;
    for (const auto& e : errors()) {
        if (!s.empty()) s += '\n';
        s += e.to_string();
    }
    return s;
}

}  // namespace sluice::config
