// The envelope (docs/control-protocol.md, "Envelope"). Every body is
// untrusted: nothing here throws, and nothing reads a field before its type
// was checked.
#include "control/api/message.hpp"

#include "control/api/frame.hpp"

namespace sluice::channel {

namespace {

struct CodeName {
    ErrorCode code;
    const char* name;
};

constexpr CodeName kCodes[] = {
    {ErrorCode::bad_frame, "bad_frame"},
    {ErrorCode::too_large, "too_large"},
    {ErrorCode::malformed, "malformed"},
    {ErrorCode::bad_version, "bad_version"},
    {ErrorCode::unknown_type, "unknown_type"},
    {ErrorCode::bad_field, "bad_field"},
    {ErrorCode::not_permitted, "not_permitted"},
    {ErrorCode::rejected, "rejected"},
    {ErrorCode::stale_generation, "stale_generation"},
    {ErrorCode::busy, "busy"},
    {ErrorCode::unavailable, "unavailable"},
    {ErrorCode::internal, "internal"},
};

// Deeper nesting than any message of the protocol needs (a VIP's backend is
// at depth 6). nlohmann's parser and destructor are iterative, but dump()
// and comparisons recurse; a hostile "[[[[..." of 16 MiB must not reach them.
constexpr int kMaxDepth = 64;

bool too_deep(std::string_view s) {
    int depth = 0;
    bool in_string = false, escape = false;
    for (char c : s) {
        if (in_string) {
            if (escape) escape = false;
            else if (c == '\\') escape = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '[' || c == '{') {
            if (++depth > kMaxDepth) return true;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return false;
}

Error make_error(ErrorCode c, std::string msg, uint64_t id = 0) {
    Error e;
    e.code = c;
    e.message = std::move(msg);
    e.id = id;
    return e;
}

const char* type_name(const Json& j) {
    switch (j.type()) {
        case Json::value_t::null: return "null";
        case Json::value_t::object: return "an object";
        case Json::value_t::array: return "an array";
        case Json::value_t::string: return "a string";
        case Json::value_t::boolean: return "a boolean";
        case Json::value_t::number_integer: return "a negative number";
        case Json::value_t::number_unsigned: return "a number";
        case Json::value_t::number_float: return "a fractional number";
        case Json::value_t::binary: return "binary data";
        case Json::value_t::discarded: return "nothing";
    }
    return "?";
}

// Parses `body` into an object. On failure sets *err (malformed).
bool parse_object(std::string_view body, Json* out, Error* err, const char* what) {
    if (too_deep(body)) {
        *err = make_error(ErrorCode::malformed, std::string(what) + " is nested more than " +
                                                    std::to_string(kMaxDepth) + " levels deep");
        return false;
    }
    // allow_exceptions=false: a syntax error (or invalid UTF-8) gives a
    // discarded value instead of throwing. Allocation failure may still
    // throw, so catch that too.
    try {
        *out = Json::parse(body.begin(), body.end(), nullptr, false);
    } catch (const std::exception& e) {
        *err = make_error(ErrorCode::malformed, std::string(what) + " could not be parsed: " + e.what());
        return false;
    }
    if (out->is_discarded()) {
        *err = make_error(ErrorCode::malformed, std::string(what) + " is not valid JSON");
        return false;
    }
    if (!out->is_object()) {
        *err = make_error(ErrorCode::malformed,
                          std::string(what) + " must be a JSON object, got " + type_name(*out));
        return false;
    }
    return true;
}

// "v" and "id", shared by requests and replies. *id is set as soon as it is
// readable, so that even a bad_version error can be matched to its request.
bool check_common(const Json& j, uint64_t* id, Error* err) {
    auto it = j.find("id");
    if (it == j.end()) {
        *err = make_error(ErrorCode::malformed, "envelope field \"id\" is missing");
        return false;
    }
    if (!it->is_number_unsigned()) {
        *err = make_error(ErrorCode::malformed,
                          std::string("envelope field \"id\" must be an unsigned integer, got ") + type_name(*it));
        return false;
    }
    *id = it->get<uint64_t>();
    auto v = j.find("v");
    if (v == j.end()) {
        *err = make_error(ErrorCode::malformed, "envelope field \"v\" is missing", *id);
        return false;
    }
    if (!v->is_number()) {
        *err = make_error(ErrorCode::malformed,
                          std::string("envelope field \"v\" must be a number, got ") + type_name(*v), *id);
        return false;
    }
    // Any number other than the unsigned integer 1 (2, -1, 1.0) is a version
    // this side does not speak.
    if (!v->is_number_unsigned() || v->get<uint64_t>() != kVersion) {
        *err = make_error(ErrorCode::bad_version,
                          "protocol version " + v->dump() + " is not supported; this side speaks version " +
                              std::to_string(kVersion),
                          *id);
        return false;
    }
    return true;
}

std::string dump(const Json& j) {
    // replace: a string with invalid UTF-8 (from a caller's bytes) must not
    // throw out of an encoder.
    try {
        return j.dump(-1, ' ', false, Json::error_handler_t::replace);
    } catch (const std::exception&) {
        return "{}";
    }
}

}  // namespace

const char* to_string(ErrorCode c) {
    for (const auto& x : kCodes)
        if (x.code == c) return x.name;
    return "internal";
}

bool parse_error_code(std::string_view s, ErrorCode* out) {
    for (const auto& x : kCodes)
        if (s == x.name) {
            *out = x.code;
            return true;
        }
    return false;
}

bool closes_connection(ErrorCode c) {
    switch (c) {
        case ErrorCode::bad_frame:
        case ErrorCode::too_large:
        case ErrorCode::malformed:
        case ErrorCode::bad_version:
        case ErrorCode::unknown_type:
        case ErrorCode::not_permitted: return true;
        case ErrorCode::bad_field:
        case ErrorCode::rejected:
        case ErrorCode::stale_generation:
        case ErrorCode::busy:
        case ErrorCode::unavailable:
        case ErrorCode::internal: return false;
    }
    return true;
}

std::variant<Request, Error> parse_request(std::string_view body) {
    Error err;
    Json j;
    if (!parse_object(body, &j, &err, "the request")) return err;
    Request r;
    if (!check_common(j, &r.id, &err)) return err;
    auto t = j.find("type");
    if (t == j.end()) return make_error(ErrorCode::malformed, "envelope field \"type\" is missing", r.id);
    if (!t->is_string())
        return make_error(ErrorCode::malformed,
                          std::string("envelope field \"type\" must be a string, got ") + type_name(*t), r.id);
    r.type = t->get<std::string>();
    auto a = j.find("args");
    if (a == j.end()) {
        r.args = Json::object();
    } else if (!a->is_object()) {
        return make_error(ErrorCode::malformed,
                          std::string("envelope field \"args\" must be an object, got ") + type_name(*a), r.id);
    } else {
        r.args = std::move(*a);
    }
    return r;
}

std::variant<Reply, Error> parse_reply(std::string_view body) {
    Error err;
    Json j;
    if (!parse_object(body, &j, &err, "the reply")) return err;
    Reply r;
    if (!check_common(j, &r.id, &err)) return err;
    auto ok = j.find("ok");
    if (ok == j.end()) return make_error(ErrorCode::malformed, "envelope field \"ok\" is missing", r.id);
    if (!ok->is_boolean())
        return make_error(ErrorCode::malformed,
                          std::string("envelope field \"ok\" must be true or false, got ") + type_name(*ok), r.id);
    r.ok = ok->get<bool>();
    if (r.ok) {
        auto res = j.find("result");
        r.result = res == j.end() ? Json::object() : std::move(*res);
        return r;
    }
    auto e = j.find("error");
    if (e == j.end()) return make_error(ErrorCode::malformed, "envelope field \"error\" is missing", r.id);
    if (!e->is_object())
        return make_error(ErrorCode::malformed,
                          std::string("envelope field \"error\" must be an object, got ") + type_name(*e), r.id);
    r.error.id = r.id;
    auto code = e->find("code");
    if (code == e->end() || !code->is_string())
        return make_error(ErrorCode::malformed, "error.code must be a string", r.id);
    if (!parse_error_code(code->get_ref<const std::string&>(), &r.error.code)) {
        // A code from a newer peer: still an error, kept readable.
        r.error.code = ErrorCode::internal;
        r.error.message = "(unknown error code " + code->dump() + ") ";
    }
    auto msg = e->find("message");
    if (msg != e->end()) {
        if (!msg->is_string()) return make_error(ErrorCode::malformed, "error.message must be a string", r.id);
        r.error.message += msg->get<std::string>();
    }
    auto field = e->find("field");
    if (field != e->end() && !field->is_null()) {
        if (!field->is_string()) return make_error(ErrorCode::malformed, "error.field must be a string", r.id);
        r.error.field = field->get<std::string>();
    }
    auto items = e->find("errors");
    if (items != e->end() && !items->is_null()) {
        if (!items->is_array()) return make_error(ErrorCode::malformed, "error.errors must be an array", r.id);
        for (const auto& it : *items) {
            if (!it.is_object()) return make_error(ErrorCode::malformed, "error.errors items must be objects", r.id);
            Error::Item item;
            auto w = it.find("what");
            auto m = it.find("message");
            if ((w != it.end() && !w->is_string()) || (m != it.end() && !m->is_string()))
                return make_error(ErrorCode::malformed, "error.errors items' what and message must be strings", r.id);
            if (w != it.end()) item.what = w->get<std::string>();
            if (m != it.end()) item.message = m->get<std::string>();
            r.error.errors.push_back(std::move(item));
        }
    }
    return r;
}

std::string encode_request(uint64_t id, std::string_view type, const Json& args) {
    // Building the object allocates; bad_alloc must not leave here.
    try {
        Json j = Json::object();
        j["v"] = kVersion;
        j["id"] = id;
        j["type"] = std::string(type);
        j["args"] = args.is_null() ? Json::object() : args;
        return dump(j);
    } catch (const std::exception&) {
        return "{}";
    }
}

std::string encode_ok(uint64_t id, const Json& result) {
    // Building the object allocates; bad_alloc must not leave here.
    try {
        Json j = Json::object();
        j["v"] = kVersion;
        j["id"] = id;
        j["ok"] = true;
        j["result"] = result.is_null() ? Json::object() : result;
        return dump(j);
    } catch (const std::exception&) {
        return "{}";
    }
}

std::string encode_error(const Error& e) {
    // Building the object allocates; bad_alloc must not leave here.
    try {
        Json items = Json::array();
        for (const auto& it : e.errors) items.push_back({{"what", it.what}, {"message", it.message}});
        Json err = Json::object();
        err["code"] = to_string(e.code);
        err["message"] = e.message;
        err["field"] = e.field;
        err["errors"] = std::move(items);
        Json j = Json::object();
        j["v"] = kVersion;
        j["id"] = e.id;
        j["ok"] = false;
        j["error"] = std::move(err);
        return dump(j);
    } catch (const std::exception&) {
        return "{}";
    }
}

}  // namespace sluice::channel
