// Error formatting of load.hpp (the address text helpers are api/net.hpp).
#include <string>

#include "config/load.hpp"

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
