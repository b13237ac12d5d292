#include <gtest/gtest.h>

#include <random>

#include "control/api/message.hpp"

namespace sluice::channel {
namespace {

Error req_error(std::string_view body) {
    auto r = parse_request(body);
    EXPECT_TRUE(std::holds_alternative<Error>(r)) << body;
    if (auto* e = std::get_if<Error>(&r)) return *e;
    return {};
}

Request req_ok(std::string_view body) {
    auto r = parse_request(body);
    EXPECT_TRUE(std::holds_alternative<Request>(r)) << body << ": "
                                                    << (std::holds_alternative<Error>(r) ? std::get<Error>(r).message : "");
    if (auto* q = std::get_if<Request>(&r)) return *q;
    return {};
}

TEST(Envelope, ValidRequest) {
    Request r = req_ok(R"({"v":1,"id":17,"type":"show","args":{"what":"routes"}})");
    EXPECT_EQ(r.id, 17u);
    EXPECT_EQ(r.type, "show");
    EXPECT_EQ(r.args["what"], "routes");
}

TEST(Envelope, AbsentArgsIsEmptyObject) {
    Request r = req_ok(R"({"v":1,"id":0,"type":"hello"})");
    EXPECT_TRUE(r.args.is_object());
    EXPECT_TRUE(r.args.empty());
}

TEST(Envelope, MaxId) {
    Request r = req_ok(R"({"v":1,"id":18446744073709551615,"type":"x"})");
    EXPECT_EQ(r.id, UINT64_MAX);
}

struct Case {
    const char* body;
    ErrorCode code;
    uint64_t id;
};

TEST(Envelope, MalformedCases) {
    const Case cases[] = {
        {"", ErrorCode::malformed, 0},
        {"not json", ErrorCode::malformed, 0},
        {"{\"v\":1,", ErrorCode::malformed, 0},
        {"[1,2]", ErrorCode::malformed, 0},
        {"\"str\"", ErrorCode::malformed, 0},
        {"17", ErrorCode::malformed, 0},
        {"null", ErrorCode::malformed, 0},
        {R"({"v":1,"type":"x"})", ErrorCode::malformed, 0},                 // no id
        {R"({"v":1,"id":"3","type":"x"})", ErrorCode::malformed, 0},        // id string
        {R"({"v":1,"id":-3,"type":"x"})", ErrorCode::malformed, 0},         // negative id
        {R"({"v":1,"id":3.5,"type":"x"})", ErrorCode::malformed, 0},        // float id
        {R"({"v":1,"id":1e30,"type":"x"})", ErrorCode::malformed, 0},       // too large
        {R"({"v":1,"id":null,"type":"x"})", ErrorCode::malformed, 0},
        {R"({"id":5,"type":"x"})", ErrorCode::malformed, 5},                // no v
        {R"({"v":"1","id":5,"type":"x"})", ErrorCode::malformed, 5},        // v string
        {R"({"v":true,"id":5,"type":"x"})", ErrorCode::malformed, 5},
        {R"({"v":1,"id":5})", ErrorCode::malformed, 5},                     // no type
        {R"({"v":1,"id":5,"type":7})", ErrorCode::malformed, 5},            // type number
        {R"({"v":1,"id":5,"type":null})", ErrorCode::malformed, 5},
        {R"({"v":1,"id":5,"type":"x","args":[]})", ErrorCode::malformed, 5},
        {R"({"v":1,"id":5,"type":"x","args":"a"})", ErrorCode::malformed, 5},
        {R"({"v":1,"id":5,"type":"x","args":null})", ErrorCode::malformed, 5},
        {R"({"v":2,"id":9,"type":"x"})", ErrorCode::bad_version, 9},
        {R"({"v":0,"id":9,"type":"x"})", ErrorCode::bad_version, 9},
        {R"({"v":1.0,"id":9,"type":"x"})", ErrorCode::bad_version, 9},
        {R"({"v":-1,"id":9,"type":"x"})", ErrorCode::bad_version, 9},
        {"{\"v\":1,\"id\":1,\"type\":\"\xff\"}", ErrorCode::malformed, 0},  // invalid UTF-8
    };
    for (const auto& c : cases) {
        Error e = req_error(c.body);
        EXPECT_EQ(e.code, c.code) << c.body << " -> " << e.message;
        EXPECT_EQ(e.id, c.id) << c.body;
        EXPECT_FALSE(e.message.empty()) << c.body;
    }
}

TEST(Envelope, BadVersionKeepsIdAndSaysVersion) {
    Error e = req_error(R"({"v":2,"id":42,"type":"hello"})");
    EXPECT_EQ(e.code, ErrorCode::bad_version);
    EXPECT_EQ(e.id, 42u);
    EXPECT_NE(e.message.find('2'), std::string::npos);
    EXPECT_TRUE(closes_connection(e.code));
}

TEST(Envelope, DeepNestingRefused) {
    std::string body = R"({"v":1,"id":1,"type":"x","args":{"a":)" + std::string(100000, '[') +
                       std::string(100000, ']') + "}}";
    Error e = req_error(body);
    EXPECT_EQ(e.code, ErrorCode::malformed);
    // Brackets inside strings do not count.
    Request r = req_ok(R"({"v":1,"id":1,"type":"x","args":{"a":")" + std::string(1000, '[') + "\"}}");
    EXPECT_EQ(r.args["a"].get<std::string>().size(), 1000u);
}

TEST(Envelope, ErrorCodeNamesRoundTrip) {
    const ErrorCode all[] = {ErrorCode::bad_frame,     ErrorCode::too_large,        ErrorCode::malformed,
                             ErrorCode::bad_version,   ErrorCode::unknown_type,     ErrorCode::bad_field,
                             ErrorCode::not_permitted, ErrorCode::rejected,         ErrorCode::stale_generation,
                             ErrorCode::busy,          ErrorCode::unavailable,      ErrorCode::internal};
    for (ErrorCode c : all) {
        ErrorCode back = ErrorCode::internal;
        ASSERT_TRUE(parse_error_code(to_string(c), &back)) << to_string(c);
        EXPECT_EQ(back, c);
    }
    ErrorCode x;
    EXPECT_FALSE(parse_error_code("nope", &x));
    EXPECT_STREQ(to_string(ErrorCode::stale_generation), "stale_generation");
}

TEST(Envelope, ClosesConnectionTable) {
    EXPECT_TRUE(closes_connection(ErrorCode::bad_frame));
    EXPECT_TRUE(closes_connection(ErrorCode::too_large));
    EXPECT_TRUE(closes_connection(ErrorCode::malformed));
    EXPECT_TRUE(closes_connection(ErrorCode::bad_version));
    EXPECT_TRUE(closes_connection(ErrorCode::unknown_type));
    EXPECT_TRUE(closes_connection(ErrorCode::not_permitted));
    EXPECT_FALSE(closes_connection(ErrorCode::bad_field));
    EXPECT_FALSE(closes_connection(ErrorCode::rejected));
    EXPECT_FALSE(closes_connection(ErrorCode::stale_generation));
    EXPECT_FALSE(closes_connection(ErrorCode::busy));
    EXPECT_FALSE(closes_connection(ErrorCode::unavailable));
    EXPECT_FALSE(closes_connection(ErrorCode::internal));
}

TEST(Envelope, EncodeRequestParses) {
    std::string s = encode_request(7, "sync_begin", Json{{"generation", 42}});
    Request r = req_ok(s);
    EXPECT_EQ(r.id, 7u);
    EXPECT_EQ(r.type, "sync_begin");
    EXPECT_EQ(r.args["generation"], 42);
    // A null args is sent as {}.
    Request r2 = req_ok(encode_request(8, "hello", Json()));
    EXPECT_TRUE(r2.args.is_object());
}

TEST(Envelope, EncodeOkAndParseReply) {
    auto p = parse_reply(encode_ok(3, Json{{"applied", true}}));
    ASSERT_TRUE(std::holds_alternative<Reply>(p));
    const Reply& r = std::get<Reply>(p);
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.id, 3u);
    EXPECT_EQ(r.result["applied"], true);
}

TEST(Envelope, EncodeErrorRoundTrip) {
    Error e;
    e.code = ErrorCode::rejected;
    e.message = "2 items refused";
    e.field = "args.routes[3].prefix";
    e.errors = {{"route 198.18.0.0/15", "no such port p9"}, {"vip web", "bad"}};
    e.id = 99;
    std::string s = encode_error(e);
    Json j = Json::parse(s);
    EXPECT_EQ(j["v"], 1);
    EXPECT_EQ(j["ok"], false);
    EXPECT_EQ(j["error"]["code"], "rejected");
    auto p = parse_reply(s);
    ASSERT_TRUE(std::holds_alternative<Reply>(p));
    const Reply& r = std::get<Reply>(p);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.id, 99u);
    EXPECT_EQ(r.error.id, 99u);
    EXPECT_EQ(r.error.code, ErrorCode::rejected);
    EXPECT_EQ(r.error.message, e.message);
    EXPECT_EQ(r.error.field, e.field);
    ASSERT_EQ(r.error.errors.size(), 2u);
    EXPECT_EQ(r.error.errors[0].what, "route 198.18.0.0/15");
    EXPECT_EQ(r.error.errors[1].message, "bad");
}

TEST(Envelope, EncodersNeverThrowOnInvalidUtf8) {
    Error e;
    e.code = ErrorCode::bad_field;
    e.message = "bad \xff\xfe bytes";
    std::string s = encode_error(e);
    EXPECT_TRUE(std::holds_alternative<Reply>(parse_reply(s))) << s;
    std::string q = encode_request(1, "x\xff", Json{{"k", "\xc3"}});
    EXPECT_TRUE(std::holds_alternative<Request>(parse_request(q))) << q;
}

TEST(Envelope, ReplyMalformedCases) {
    const char* bad[] = {
        "[]",
        R"({"v":1,"id":1})",                                  // no ok
        R"({"v":1,"id":1,"ok":"yes"})",                       // ok not bool
        R"({"v":1,"id":1,"ok":false})",                       // no error
        R"({"v":1,"id":1,"ok":false,"error":"x"})",           // error not object
        R"({"v":1,"id":1,"ok":false,"error":{}})",            // no code
        R"({"v":1,"id":1,"ok":false,"error":{"code":3}})",
        R"({"v":1,"id":1,"ok":false,"error":{"code":"busy","message":3}})",
        R"({"v":1,"id":1,"ok":false,"error":{"code":"busy","field":[]}})",
        R"({"v":1,"id":1,"ok":false,"error":{"code":"busy","errors":{}}})",
        R"({"v":1,"id":1,"ok":false,"error":{"code":"busy","errors":[1]}})",
        R"({"v":1,"id":1,"ok":false,"error":{"code":"busy","errors":[{"what":1}]}})",
    };
    for (const char* b : bad) {
        auto p = parse_reply(b);
        ASSERT_TRUE(std::holds_alternative<Error>(p)) << b;
        EXPECT_EQ(std::get<Error>(p).code, ErrorCode::malformed) << b;
    }
    auto v2 = parse_reply(R"({"v":2,"id":4,"ok":true})");
    ASSERT_TRUE(std::holds_alternative<Error>(v2));
    EXPECT_EQ(std::get<Error>(v2).code, ErrorCode::bad_version);
    EXPECT_EQ(std::get<Error>(v2).id, 4u);
}

TEST(Envelope, ReplyUnknownCodeStaysAnError) {
    auto p = parse_reply(R"({"v":1,"id":1,"ok":false,"error":{"code":"future_thing","message":"m"}})");
    ASSERT_TRUE(std::holds_alternative<Reply>(p));
    EXPECT_FALSE(std::get<Reply>(p).ok);
    EXPECT_EQ(std::get<Reply>(p).error.code, ErrorCode::internal);
    EXPECT_NE(std::get<Reply>(p).error.message.find("future_thing"), std::string::npos);
}

// Every outcome is one of the defined ones, and nothing throws or crashes.
void check_defined(const std::string& body) {
    auto r = parse_request(body);
    if (auto* e = std::get_if<Error>(&r)) {
        EXPECT_TRUE(e->code == ErrorCode::malformed || e->code == ErrorCode::bad_version) << body;
        EXPECT_FALSE(e->message.empty());
    } else {
        const Request& q = std::get<Request>(r);
        EXPECT_TRUE(q.args.is_object());
    }
    auto p = parse_reply(body);
    if (auto* e = std::get_if<Error>(&p)) {
        EXPECT_TRUE(e->code == ErrorCode::malformed || e->code == ErrorCode::bad_version) << body;
    }
}

TEST(Envelope, FuzzMutatedBodies) {
    std::mt19937 rng(12345);
    const std::vector<std::string> seeds = {
        R"({"v":1,"id":17,"type":"show","args":{"what":"routes","limit":10}})",
        R"({"v":1,"id":1,"ok":true,"result":{"x":[1,2,3]}})",
        R"({"v":1,"id":2,"ok":false,"error":{"code":"rejected","message":"m","field":"f","errors":[{"what":"a","message":"b"}]}})",
        R"({"v":1,"id":3,"type":"apply","args":{"generation":4,"routes":[{"op":"set","prefix":"198.18.0.0/15"}]}})",
    };
    const std::string alphabet = "{}[]\":,0123456789-.eEtruefalsnvidokyp \\\x01\xff\xc3";
    for (int i = 0; i < 20000; ++i) {
        std::string s = seeds[size_t(rng()) % seeds.size()];
        int muts = int(rng() % 6) + 1;
        for (int m = 0; m < muts && !s.empty(); ++m) {
            size_t pos = size_t(rng()) % s.size();
            switch (rng() % 4) {
                case 0: s[pos] = alphabet[size_t(rng()) % alphabet.size()]; break;
                case 1: s.erase(pos, size_t(rng() % 4) + 1); break;
                case 2: s.insert(pos, 1, alphabet[size_t(rng()) % alphabet.size()]); break;
                case 3: s = s.substr(0, pos); break;
            }
        }
        check_defined(s);
    }
    // Purely random bytes too.
    for (int i = 0; i < 5000; ++i) {
        std::string s(size_t(rng() % 64), '\0');
        for (auto& c : s) c = alphabet[size_t(rng()) % alphabet.size()];
        check_defined(s);
    }
}

TEST(Envelope, FuzzGeneratedEnvelopes) {
    // Structurally valid JSON with random envelope field types.
    std::mt19937 rng(99);
    auto random_value = [&]() -> Json {
        switch (rng() % 9) {
            case 0: return nullptr;
            case 1: return bool(rng() & 1);
            case 2: return int64_t(rng()) - int64_t(1u << 31);
            case 3: return uint64_t(rng());
            case 4: return double(rng()) / 7.0;
            case 5: return "s" + std::to_string(rng() % 10);
            case 6: return Json::array({1, "a"});
            case 7: return Json::object({{"k", 1}});
            default: return 1;
        }
    };
    const char* keys[] = {"v", "id", "type", "args", "ok", "result", "error"};
    for (int i = 0; i < 10000; ++i) {
        Json j = Json::object();
        for (const char* k : keys)
            if (rng() % 3) j[k] = random_value();
        std::string body = j.dump();
        check_defined(body);
        auto r = parse_request(body);
        if (std::holds_alternative<Request>(r)) {
            // As read off the wire (a non-negative integer parses unsigned).
            Json w = Json::parse(body);
            EXPECT_TRUE(w["v"].is_number_unsigned() && w["v"] == 1) << body;
            EXPECT_TRUE(w["id"].is_number_unsigned()) << body;
            EXPECT_TRUE(w["type"].is_string()) << body;
        }
    }
}

}  // namespace
}  // namespace sluice::channel
