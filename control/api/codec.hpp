// JSON forms of the values the control channel carries, with the field
// names of the config file (docs/config.md), so that one vocabulary serves
// the file, the channel and the CLI's --json output.
//   address "198.18.0.1", prefix "198.18.0.0/24", mac "02:00:00:00:00:01"
//   route    {"prefix":P, "nexthops":[{"via":A, "port":NAME}, ...]}      (via or port may be absent)
//   neighbor {"port":NAME, "address":A, "mac":M}
//   backend  {"address":A, "port":N, "weight":N, "state":"up|drain|down"}
//   vip      {"name", "address", "protocol":"tcp|udp|both", "port", "mode", "table_size", "hash",
//             "on_backend_down", "encap_source":[P...], "gue_port", "backends":[backend...]}
// Decoders never throw: on a wrong type or value they return false and say
// where ("routes[3].nexthops[0].via") and what was expected.
#pragma once

#include <string>

#include "api/lb.hpp"
#include "api/net.hpp"
#include "config/model.hpp"
#include "control/api/message.hpp"

namespace sluice::channel {

struct FieldError {
    std::string field;    // path under the value decoded, prefixed with the caller's `at`
    std::string message;  // what was expected
};

Json to_json(const net::IpAddr& a);
Json to_json(const net::Prefix& p);
Json mac_to_json(const net::MacAddr& m);
Json to_json(const config::Route& r);
Json to_json(const config::StaticNeighbor& n);
Json to_json(const api::Backend& b);
Json to_json(const api::Vip& v);

// `at` is the path of `j` in the message ("args.routes[3]").
bool from_json(const Json& j, const std::string& at, net::IpAddr* out, FieldError* err);
bool from_json(const Json& j, const std::string& at, net::Prefix* out, FieldError* err);
bool mac_from_json(const Json& j, const std::string& at, net::MacAddr* out, FieldError* err);
bool from_json(const Json& j, const std::string& at, config::Route* out, FieldError* err);
bool from_json(const Json& j, const std::string& at, config::StaticNeighbor* out, FieldError* err);
bool from_json(const Json& j, const std::string& at, api::Backend* out, FieldError* err);
bool from_json(const Json& j, const std::string& at, api::Vip* out, FieldError* err);

// Typed argument readers for request handlers: false and *err when `key`
// is missing (unless optional) or of the wrong type/range.
bool get_u64(const Json& obj, const std::string& at, const char* key, uint64_t* out, FieldError* err,
             bool optional = false);
bool get_string(const Json& obj, const std::string& at, const char* key, std::string* out, FieldError* err,
                bool optional = false);

}  // namespace sluice::channel
