// Loading a configuration file: YAML text -> validated Config, or every
// problem found, each naming the file, line, field and what was expected.
#pragma once

#include <string>
#include <string_view>
#include <optional>
#include <variant>
#include <vector>

#include "config/model.hpp"

namespace sluice::config {

struct ConfigError {
    std::string file;      // path as given, or "<string>"
    int line = 0;          // 1-based, 0 when the file could not be read at all
    int column = 0;        // 1-based
    std::string field;     // dotted path: "ports[1].addresses[0]"
    std::string message;   // what was expected / what is wrong
    // "file:line:column: field: message" (line/column omitted when 0)
    std::string to_string() const;
};

// Either a Config or a non-empty list of errors.
class LoadResult {
public:
    LoadResult(Config c) : v_(std::move(c)) {}
    LoadResult(std::vector<ConfigError> e) : v_(std::move(e)) {}
    bool ok() const { return std::holds_alternative<Config>(v_); }
    const Config& config() const { return std::get<Config>(v_); }
    Config& config() { return std::get<Config>(v_); }
    const std::vector<ConfigError>& errors() const { return std::get<std::vector<ConfigError>>(v_); }
    // All errors joined by newlines (empty when ok()).
    std::string error_text() const;

private:
    std::variant<Config, std::vector<ConfigError>> v_;
};

// Parses and validates. Never throws: YAML syntax errors, unknown fields,
// wrong types, out-of-range values and semantic conflicts all come back as
// ConfigError entries (all of them, not just the first).
LoadResult parse_config(std::string_view yaml_text, std::string_view source_name = "<string>");
LoadResult load_config_file(const std::string& path);

// Semantic checks over an already-typed Config (also used by tests that
// build a Config in code). Returns every problem found.
std::vector<ConfigError> validate(const Config& cfg);

// Text helpers, defined with the types in api/net.hpp.
using net::contains;
using net::network_of;
using net::parse_ip;
using net::parse_mac;
using net::parse_prefix;
using net::to_string;

}  // namespace sluice::config
