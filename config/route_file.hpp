// Route files: large route sets (a full table, a benchmark's million
// prefixes) kept out of the YAML, one route per line:
//
//   # comment
//   198.19.0.0/16 via 198.18.1.2
//   2001:db8:99::/48 via fe80::1 port p1
//   198.19.8.0/24 port p0                          (on-link)
//   198.19.9.0/24 via 198.18.1.2 via 198.18.2.2    (ECMP)
//
// A line is a prefix followed by one or more next hops, each either
// "via ADDRESS [port NAME]" or "port NAME". The routes join the YAML
// `routes:` list and get the same validation; errors name the route file,
// its line and column.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/load.hpp"

namespace sluice::config {

inline constexpr size_t kMaxRouteFileBytes = size_t(256) << 20;  // ~8M routes of typical length
inline constexpr size_t kMaxRoutes = 4u << 20;                   // all files and the YAML together

// Parses one route file's text; `file_index` (1-based) goes into each
// route's SourceMark so validation can name the file. Appends to cfg.routes
// and errs; stops after 100 errors in one file.
void parse_route_text(std::string_view text, const std::string& file_name, uint32_t file_index, Config& cfg,
                      std::vector<ConfigError>& errs);

// Reads every file in cfg.route_files (paths relative to the directory of
// `config_path`, resolved in place).
void read_route_files(Config& cfg, const std::string& config_path, std::vector<ConfigError>& errs);

}  // namespace sluice::config
