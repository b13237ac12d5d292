// Word splitting of interactive lines and the completion candidates.
#include <gtest/gtest.h>

#include <algorithm>

#include "control/cli/complete.hpp"
#include "control/cli/words.hpp"

namespace sluice::cli {
namespace {

using Words = std::vector<std::string>;

Words split(const std::string& line) {
    Words w;
    std::string err;
    EXPECT_TRUE(split_words(line, &w, &err)) << line << ": " << err;
    return w;
}

TEST(Words, Splitting) {
    EXPECT_EQ(split(""), Words{});
    EXPECT_EQ(split("   \t "), Words{});
    EXPECT_EQ(split("show vips"), (Words{"show", "vips"}));
    EXPECT_EQ(split("  show   routes\t198.18.0.0/16  "), (Words{"show", "routes", "198.18.0.0/16"}));
    EXPECT_EQ(split("capture p0 -f 'udp port 53' -w x"), (Words{"capture", "p0", "-f", "udp port 53", "-w", "x"}));
    EXPECT_EQ(split(R"(capture p0 -f "tcp and port 80")"), (Words{"capture", "p0", "-f", "tcp and port 80"}));
    EXPECT_EQ(split(R"(a "b \"c\" \\d" e)"), (Words{"a", R"(b "c" \d)", "e"}));
    EXPECT_EQ(split(R"(a 'b \n' c)"), (Words{"a", R"(b \n)", "c"}));  // no escapes inside ''
    EXPECT_EQ(split(R"(my\ file)"), (Words{"my file"}));
    EXPECT_EQ(split(R"(x''y "")"), (Words{"xy", ""}));  // quotes join; an empty quoted word stays
    EXPECT_EQ(split("-w 'it'\\''s'"), (Words{"-w", "it's"}));
}

TEST(Words, RejectsUnterminatedQuotes) {
    Words w;
    std::string err;
    EXPECT_FALSE(split_words("capture p0 -f 'udp", &w, &err));
    EXPECT_EQ(err, "unterminated ' quote");
    EXPECT_FALSE(split_words("a \"b", &w, &err));
    EXPECT_EQ(err, "unterminated \" quote");
    EXPECT_FALSE(split_words("a b\\", &w, &err));
    EXPECT_NE(err.find("backslash"), std::string::npos);
}

TEST(Words, PartialLine) {
    PartialLine p = split_partial("show ba");
    EXPECT_EQ(p.words, (Words{"show"}));
    EXPECT_EQ(p.partial, "ba");
    p = split_partial("show ");
    EXPECT_EQ(p.words, (Words{"show"}));
    EXPECT_EQ(p.partial, "");
    p = split_partial("capture p0 -f 'udp po");
    EXPECT_EQ(p.words, (Words{"capture", "p0", "-f"}));
    EXPECT_EQ(p.partial, "udp po");
}

TEST(Words, Quoting) {
    EXPECT_EQ(quote_word("abc"), "abc");
    EXPECT_EQ(quote_word("/tmp/x.pcapng"), "/tmp/x.pcapng");
    EXPECT_EQ(quote_word("udp port 53"), "'udp port 53'");
    EXPECT_EQ(quote_word("it's"), "'it'\\''s'");
    EXPECT_EQ(quote_word(""), "''");
    // What quote_word writes, split_words reads back.
    for (const char* w : {"a b", "it's", "x\"y", "$HOME", ""}) EXPECT_EQ(split(quote_word(w)), (Words{w}));
}

// Completion -------------------------------------------------------------------

std::vector<std::string> names(NameKind k) {
    if (k == NameKind::vip) return {"web", "web6", "dns"};
    return {"p0", "p1"};
}

Words complete_line(const std::string& line) {
    PartialLine p = split_partial(line);
    return complete(p.words, p.partial, names);
}

TEST(Complete, Commands) {
    EXPECT_EQ(complete_line(""), (Words{"backend", "capture", "exit", "help", "quit", "reload", "route", "show"}));
    EXPECT_EQ(complete_line("s"), (Words{"show"}));
    EXPECT_EQ(complete_line("re"), (Words{"reload"}));
    EXPECT_EQ(complete_line("show "), (Words{"backends", "drops", "health", "neighbors", "ports", "rdma", "route",
                                             "routes", "status", "vips", "which", "workers"}));
    EXPECT_EQ(complete_line("show ro"), (Words{"route", "routes"}));
    EXPECT_EQ(complete_line("show ports "), (Words{"stats"}));
    EXPECT_EQ(complete_line("route "), (Words{"add", "del"}));
    EXPECT_EQ(complete_line("backend d"), (Words{"del", "drain"}));
    EXPECT_EQ(complete_line("help sh"), (Words{"show"}));
    EXPECT_EQ(complete_line("--json show v"), (Words{"vips"}));
    EXPECT_EQ(complete_line("--socket /tmp/x show v"), (Words{"vips"}));
    EXPECT_EQ(complete_line("show status "), Words{});
}

TEST(Complete, Options) {
    const Words o = complete_line("show routes --l");
    EXPECT_EQ(o, (Words{"--limit", "--lookup"}));
    const Words j = complete_line("show vips --j");
    EXPECT_EQ(j, (Words{"--json"}));
    const Words s = complete_line("show drops stats --");
    for (const char* want : {"--interval", "--count", "--json"})
        EXPECT_NE(std::find(s.begin(), s.end(), want), s.end()) << want;
    EXPECT_EQ(complete_line("capture p0 --r"), (Words{"--rx"}));
}

TEST(Complete, NamesFromTheServer) {
    EXPECT_EQ(complete_line("show backends "), (Words{"dns", "web", "web6"}));
    EXPECT_EQ(complete_line("show backends we"), (Words{"web", "web6"}));
    EXPECT_EQ(complete_line("show backends web "), (Words{"stats"}));
    EXPECT_EQ(complete_line("backend drain w"), (Words{"web", "web6"}));
    EXPECT_EQ(complete_line("capture "), (Words{"p0", "p1"}));
    EXPECT_EQ(complete_line("route add 198.19.0.0/16 via 198.18.1.2 dev "), (Words{"p0", "p1"}));
}

TEST(Complete, Keywords) {
    EXPECT_EQ(complete_line("route add 198.19.0.0/16 "), (Words{"dev", "via"}));
    EXPECT_EQ(complete_line("route add 198.19.0.0/16 via "), Words{});
    EXPECT_EQ(complete_line("route add 198.19.0.0/16 via 198.18.1.2 "), (Words{"dev", "via"}));
    EXPECT_EQ(complete_line("route add "), Words{});  // a prefix: nothing to list
    EXPECT_EQ(complete_line("backend add web 198.18.2.10 "), (Words{"port", "weight"}));
    EXPECT_EQ(complete_line("backend del web 198.18.2.10 "), (Words{"port"}));
    EXPECT_EQ(complete_line("backend set web 198.18.2.10 port "), Words{});
    EXPECT_EQ(complete_line("show which "), (Words{"tcp", "udp"}));
}

TEST(Complete, NoNameSourceGivesNoNames) {
    EXPECT_EQ(complete({"show", "backends"}, "", NameSource{}), Words{});
}

}  // namespace
}  // namespace sluice::cli
