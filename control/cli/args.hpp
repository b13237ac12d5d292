// Checking the operator's words before anything is sent: addresses,
// prefixes, port and VIP names, numbers and the keyword forms of
// `route add` and `backend ...`. Messages say what was expected, in the
// config file's vocabulary (docs/config.md), so a typo is caught here with
// a clear message instead of coming back as a bad_field from the server.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::cli {

using Json = nlohmann::json;

// Decimal digits only, min..max.
bool parse_number(const std::string& text, uint64_t min, uint64_t max, const std::string& what, uint64_t* out,
                  std::string* err);
// Canonical text of an address / prefix (host bits must be clear).
bool check_address(const std::string& text, const std::string& what, std::string* canonical, std::string* err);
bool check_prefix(const std::string& text, std::string* canonical, std::string* err);
bool check_port_name(const std::string& text, std::string* err);  // [a-z0-9_-]{1,15}
bool check_vip_name(const std::string& text, std::string* err);   // [A-Za-z0-9_.-]{1,32}

// `route add PREFIX via ADDR [dev PORT] [via ADDR [dev PORT] ...]` or
// `route add PREFIX dev PORT`: the words after the prefix into the route's
// JSON form {"prefix", "nexthops": [{"via", "port"}]}. `port` is accepted
// for `dev` (the config file's word).
bool build_route(const std::string& prefix, const std::vector<std::string>& words, Json* route, std::string* err);

// `ADDR [port N] [weight N]` of `backend ...`. `allowed` lists the keywords
// this subcommand takes ("port", "weight").
struct BackendWords {
    std::string address;
    std::optional<uint16_t> port;
    std::optional<uint32_t> weight;
};
bool parse_backend_words(const std::string& address, const std::vector<std::string>& words,
                         const std::vector<std::string>& allowed, BackendWords* out, std::string* err);

}  // namespace sluice::cli
