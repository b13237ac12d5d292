// The control channel's message envelope (docs/control-protocol.md):
//   request: {"v":1, "id":N, "type":"...", "args":{...}}
//   reply:   {"v":1, "id":N, "ok":true,  "result":{...}}
//            {"v":1, "id":N, "ok":false, "error":{"code":"...", "message":"...",
//                                                 "field":"...", "errors":[{"what","message"}]}}
// Both sides parse with nlohmann::json (never throwing out of here) and
// check the envelope before anything reads a field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::channel {

using Json = nlohmann::json;

enum class ErrorCode : uint8_t {
    bad_frame,         // length 0 or above the limit, or the stream ended inside a frame
    too_large,         // body above the limit
    malformed,         // not JSON, not an object, or an envelope field missing / of the wrong type
    bad_version,       // "v" is not a version this side speaks
    unknown_type,      // no such request type
    bad_field,         // an argument is missing, of the wrong type or out of range ("field" names it)
    not_permitted,     // peer credentials refused, or hello missing before other requests
    rejected,          // well-formed but the tables refused it ("errors" says why); nothing changed
    stale_generation,  // generation older than the last applied one
    busy,              // another sync is in progress on another connection
    unavailable,       // the data plane is not reachable (control process answering the CLI)
    internal,          // a bug: logged on the server
};
const char* to_string(ErrorCode c);
bool parse_error_code(std::string_view s, ErrorCode* out);

// Errors that end the connection after the error reply is sent: after them
// the peer cannot be trusted to be in step (docs/control-protocol.md).
bool closes_connection(ErrorCode c);

struct Request {
    uint64_t id = 0;
    std::string type;
    Json args;  // always an object (empty when absent)
};

struct Error {
    ErrorCode code = ErrorCode::internal;
    std::string message;
    std::string field;  // argument path, "args.routes[3].prefix"; may be empty
    struct Item {
        std::string what, message;
    };
    std::vector<Item> errors;  // rejected: one per refused request item
    uint64_t id = 0;           // of the request, when it could be read
};

struct Reply {
    uint64_t id = 0;
    bool ok = false;
    Json result;  // ok
    Error error;  // !ok
};

// Envelope checks. A body that is not a valid request gives an Error whose
// id is the request's when it could be read (0 otherwise).
std::variant<Request, Error> parse_request(std::string_view body);
std::variant<Reply, Error> parse_reply(std::string_view body);

std::string encode_request(uint64_t id, std::string_view type, const Json& args);
std::string encode_ok(uint64_t id, const Json& result);
std::string encode_error(const Error& e);

}  // namespace sluice::channel
