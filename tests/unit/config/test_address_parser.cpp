// The hand-written address parser (api/net.cpp) against the libc one it
// replaced: parse_ip must accept exactly what the earlier implementation
// accepted (the strictness rules of api/net.hpp and docs/config.md, then
// inet_pton), with the same bytes, on edge cases, on every dotted quad made
// of awkward parts, and on random and mutated strings.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "config/load.hpp"

namespace sluice::config {
namespace {

using namespace std::string_view_literals;
using namespace std::string_literals;

// The implementation before the hand parser, kept verbatim as the oracle.
std::optional<IpAddr> reference_ip(std::string_view text) {
    if (text.empty() || text.size() > 45) return std::nullopt;
    for (char c : text) {
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' ||
                  c == ':';
        if (!ok) return std::nullopt;
    }
    std::string s(text);
    IpAddr r;
    if (s.find(':') != std::string::npos) {
        r.family = IpAddr::Family::V6;
        if (inet_pton(AF_INET6, s.c_str(), r.bytes.data()) != 1) return std::nullopt;
    } else {
        r.family = IpAddr::Family::V4;
        if (inet_pton(AF_INET, s.c_str(), r.bytes.data()) != 1) return std::nullopt;
    }
    return r;
}

std::optional<Prefix> reference_prefix(std::string_view text) {
    size_t slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto addr = reference_ip(text.substr(0, slash));
    if (!addr) return std::nullopt;
    // The length by a different route than the parser's digit loop: digits
    // only, std::stoul, and the canonical spelling (no leading zero) by
    // printing the value back.
    std::string len(text.substr(slash + 1));
    if (len.empty() || len.size() > 3 ||
        !std::all_of(len.begin(), len.end(), [](unsigned char ch) { return ch >= '0' && ch <= '9'; }))
        return std::nullopt;
    unsigned long v = std::stoul(len);
    if (std::to_string(v) != len) return std::nullopt;
    if (v > max_len(*addr)) return std::nullopt;
    return Prefix{*addr, uint8_t(v)};
}

Prefix reference_network_of(const Prefix& p) {
    Prefix r = p;
    unsigned total = max_len(p.addr);
    unsigned len = p.len > total ? total : p.len;
    for (unsigned bit = len; bit < 128; ++bit) {
        size_t byte = bit / 8;
        r.addr.bytes[byte] = uint8_t(r.addr.bytes[byte] & ~(0x80u >> (bit % 8)));
    }
    return r;
}

std::string printable(std::string_view s) {
    std::string r;
    for (char c : s) {
        if (c >= 0x20 && c < 0x7f) {
            r += c;
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", unsigned(uint8_t(c)));
            r += buf;
        }
    }
    return '"' + r + '"';
}

::testing::AssertionResult SameAsReference(std::string_view s) {
    auto got = parse_ip(s);
    auto want = reference_ip(s);
    if (got.has_value() != want.has_value())
        return ::testing::AssertionFailure() << printable(s) << ": parse_ip " << (got ? "accepts" : "rejects")
                                             << ", the reference " << (want ? "accepts" : "rejects");
    if (got && *got != *want)
        return ::testing::AssertionFailure() << printable(s) << ": parse_ip gives " << to_string(*got)
                                             << ", the reference " << to_string(*want);
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult SamePrefixAsReference(std::string_view s) {
    auto got = parse_prefix(s);
    auto want = reference_prefix(s);
    if (got.has_value() != want.has_value() || (got && *got != *want))
        return ::testing::AssertionFailure() << printable(s) << ": parse_prefix and the reference differ";
    return ::testing::AssertionSuccess();
}

TEST(AddressParser, EdgeCasesMatchTheReference) {
    const std::vector<std::string_view> cases = {
        // IPv4: parts, dots, leading zeros, ranges, stray characters.
        "0.0.0.0", "255.255.255.255", "1.2.3.4", "198.18.1.2", "01.2.3.4", "1.02.3.4", "1.2.3.00", "00.0.0.0",
        "0.0.0.01", "256.0.0.0", "1.2.3.256", "999.1.1.1", "1000.1.1.1", "1.2.3", "1.2.3.4.5", "1.2.3.4.", ".1.2.3.4",
        "1..2.3", "1.2..3.4", "....", "1.2.3.", "1", "12", "123", "1234", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/24",
        "1.2.3.-4", "+1.2.3.4", "1.2.3.0x4", "a.b.c.d", "1.2.3.4\0"sv, "1.2.3.4\0junk"sv, "\0"sv, "1.2.3.4a",
        "255.255.255.2555", "25.5.255.255", "0.00.0.0", "198.19.255.254",
        // IPv6: groups, "::", embedded IPv4, lengths, cases.
        "::", "::1", "1::", "::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
        "1::8", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5::1.2.3.4", "::ffff:1.2.3", "::ffff:01.2.3.4",
        "::ffff:1.2.3.4.5", "::ffff:256.2.3.4", "::1.2.3.4:1", "1.2.3.4::", "1.2.3.4:", "::a.2.3.4", "::12345",
        "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "1:::2", ":::", ":", ":1", "1:",
        "1::2::3", "::1:", "1:2", "1:2:3:4:5:6:7", "fe80::1", "FE80::1", "fe80::1%eth0", "2001:db8::g",
        "2001:DB8:0:0:0:0:0:1", "0000:0000:0000:0000:0000:0000:0000:0000", "0000:0000:0000:0000:0000:ffff:1.2.3.4",
        "0000:0000:0000:0000:0000:ffff:255.255.255.255", "00000:0:0:0:0:0:0:0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "1:2:3:4:5:6:7:8 ", "::ffff:1.2.3.4 ", "2001:db8::1/128", "2001:db8::\0"sv, "::.", "::1.", ":.", ".:",
        "0:0:0:0:0:0:0:0:", "0:0:0:0:0:0:0", "::0:0:0:0:0:0:0", "::0:0:0:0:0:0:0:0", "0::0:0:0:0:0:0:0",
        "1::2:3:4:5:6:7", "1::2:3:4:5:6:7:8", "a:b:c:d:e:f:a:b", "::ffff:ffff", "::1.2.3.4.", "::1:2:3:4:5:6:1.2.3.4",
        "", " ", "localhost", "0x1.2.3.4",
        // 45 and 46 characters (the text length limit).
        "0000:0000:0000:0000:0000:ffff:255.255.255.25", "0000:0000:0000:0000:0000:ffff:255.255.255.255",
        "00000:000:0000:0000:0000:ffff:255.255.255.255"};
    for (auto s : cases) EXPECT_TRUE(SameAsReference(s));
}

TEST(AddressParser, EveryDottedQuadOfAwkwardPartsMatchesTheReference) {
    const char* parts[] = {"", "0", "00", "01", "1", "9", "10", "99", "100", "199", "249", "255", "256", "299",
                           "999", "0255", "1000", "a", "-1"};
    std::string s;
    size_t checked = 0;
    for (const char* a : parts)
        for (const char* b : parts)
            for (const char* c : parts)
                for (const char* d : parts) {
                    s = std::string(a) + "." + b + "." + c + "." + d;
                    ASSERT_TRUE(SameAsReference(s));
                    ++checked;
                }
    EXPECT_EQ(checked, 19u * 19 * 19 * 19);
}

TEST(AddressParser, RandomStringsMatchTheReference) {
    std::mt19937_64 rng(7);
    const std::string alphabet = "0123456789abcdefABCDEF.:.:.:00ff";
    const std::string rare = "gG/ %-+x\t\n\r\0z"s;  // with a NUL
    std::string s;
    for (int i = 0; i < 400000; ++i) {
        s.clear();
        size_t len = rng() % 48;
        for (size_t k = 0; k < len; ++k)
            s += (rng() % 50 == 0) ? rare[rng() % rare.size()] : alphabet[rng() % alphabet.size()];
        ASSERT_TRUE(SameAsReference(s));
    }
}

// Valid addresses in many written forms (inet_ntop's, expanded, upper
// case, IPv4-mapped), then up to three edits: a character inserted,
// removed, doubled or replaced, or a "::" inserted.
TEST(AddressParser, MutatedAddressesMatchTheReference) {
    std::mt19937_64 rng(11);
    const std::string alphabet = "0123456789abcdefABCDEF.:/ ";
    for (int i = 0; i < 100000; ++i) {
        uint8_t b[16];
        for (auto& x : b) x = rng() % 4 == 0 ? 0 : uint8_t(rng());  // runs of zeros give "::"
        char buf[INET6_ADDRSTRLEN];
        std::string s;
        switch (rng() % 4) {
            case 0: s = inet_ntop(AF_INET, b, buf, sizeof buf); break;
            case 1: s = inet_ntop(AF_INET6, b, buf, sizeof buf); break;
            case 2: {
                for (int g = 0; g < 8; ++g) {
                    std::snprintf(buf, sizeof buf, g ? ":%04X" : "%04x", unsigned(b[2 * g] << 8 | b[2 * g + 1]));
                    s += buf;
                }
                break;
            }
            default:
                std::snprintf(buf, sizeof buf, "::ffff:%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
                s = buf;
        }
        ASSERT_TRUE(SameAsReference(s));
        for (int m = 1 + int(rng() % 3); m > 0 && !s.empty(); --m) {
            size_t at = rng() % s.size();
            size_t gap = rng() % (s.size() + 1);  // insertions may also append
            switch (rng() % 5) {
                case 0: s.insert(gap, 1, alphabet[rng() % alphabet.size()]); break;
                case 1: s.erase(at, 1); break;
                case 2: s.insert(gap, "::"); break;
                case 3: s.insert(at, 1, s[at]); break;  // a doubled character
                default: s[at] = alphabet[rng() % alphabet.size()];
            }
            ASSERT_TRUE(SameAsReference(s));
        }
    }
}

TEST(AddressParser, PrefixesMatchTheReference) {
    std::mt19937_64 rng(13);
    const char* lens[] = {"", "0", "00", "8", "08", "24", "32", "33", "64", "128", "129", "999", "1000", "+8", "-1",
                          " 8", "8 ", "8/8", "x"};
    const char* addrs[] = {"198.18.0.0", "0.0.0.0", "255.255.255.255", "2001:db8::", "::", "fe80::1%eth0",
                           "198.18.0", "01.2.3.4", "::ffff:1.2.3.4", "", "2001:DB8:0::"};
    for (const char* a : addrs)
        for (const char* l : lens) {
            std::string s = std::string(a) + "/" + l;
            EXPECT_TRUE(SamePrefixAsReference(s));
        }
    for (int i = 0; i < 50000; ++i) {
        std::string s = std::string(addrs[rng() % std::size(addrs)]) + "/" + lens[rng() % std::size(lens)];
        if (rng() % 2) s[rng() % s.size()] = "0123456789./:a"[rng() % 14];
        ASSERT_TRUE(SamePrefixAsReference(s));
    }
    EXPECT_TRUE(SamePrefixAsReference("198.18.0.0"));
    EXPECT_TRUE(SamePrefixAsReference("/24"));
}

TEST(AddressParser, NetworkOfMatchesTheBitLoop) {
    std::mt19937_64 rng(17);
    for (int i = 0; i < 100000; ++i) {
        Prefix p;
        p.addr.family = rng() % 2 ? IpAddr::Family::V4 : IpAddr::Family::V6;
        for (auto& x : p.addr.bytes) x = uint8_t(rng());  // IPv4 with junk in bytes 4..15 too
        p.len = uint8_t(rng() % 140);
        ASSERT_EQ(network_of(p), reference_network_of(p)) << to_string(p) << " len " << unsigned(p.len);
    }
}

}  // namespace
}  // namespace sluice::config
