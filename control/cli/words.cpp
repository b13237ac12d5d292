// Word splitting for the interactive prompt (words.hpp).
#include "control/cli/words.hpp"

namespace sluice::cli {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

enum class Quote { none, single, dbl };

// Shared by split_words and split_partial: returns the state at the end of
// `line` so that the caller decides what an unfinished word means.
struct Scan {
    std::vector<std::string> words;
    std::string cur;
    bool in_word = false;
    Quote quote = Quote::none;
    bool escape = false;
};

Scan scan(std::string_view line) {
    Scan s;
    for (char c : line) {
        if (s.escape) {
            s.cur.push_back(c);
            s.escape = false;
            continue;
        }
        switch (s.quote) {
            case Quote::single:
                if (c == '\'') s.quote = Quote::none;
                else s.cur.push_back(c);
                continue;
            case Quote::dbl:
                if (c == '"') s.quote = Quote::none;
                else if (c == '\\') s.escape = true;
                else s.cur.push_back(c);
                continue;
            case Quote::none:
                break;
        }
        if (is_blank(c)) {
            if (s.in_word) s.words.push_back(std::move(s.cur));
            s.cur.clear();
            s.in_word = false;
            continue;
        }
        s.in_word = true;
        if (c == '\'') s.quote = Quote::single;
        else if (c == '"') s.quote = Quote::dbl;
        else if (c == '\\') s.escape = true;
        else s.cur.push_back(c);
    }
    return s;
}

}  // namespace

bool split_words(std::string_view line, std::vector<std::string>* out, std::string* err) {
    Scan s = scan(line);
    if (s.quote != Quote::none) {
        *err = std::string("unterminated ") + (s.quote == Quote::single ? "'" : "\"") + " quote";
        return false;
    }
    if (s.escape) {
        *err = "a backslash at the end of the line escapes nothing";
        return false;
    }
    if (s.in_word) s.words.push_back(std::move(s.cur));
    *out = std::move(s.words);
    return true;
}

PartialLine split_partial(std::string_view line_before_cursor) {
    Scan s = scan(line_before_cursor);
    PartialLine p;
    p.words = std::move(s.words);
    if (s.in_word) p.partial = std::move(s.cur);
    return p;
}

std::string quote_word(std::string_view w) {
    bool plain = !w.empty();
    for (char c : w)
        if (is_blank(c) || c == '\'' || c == '"' || c == '\\' || c == '$' || c == '`' || c == '|' || c == '&' ||
            c == ';' || c == '(' || c == ')' || c == '<' || c == '>' || c == '*' || c == '?')
            plain = false;
    if (plain) return std::string(w);
    // Single quotes keep everything literal; a single quote itself is closed,
    // escaped and reopened ('it'\''s'), as POSIX shells read it.
    std::string out = "'";
    for (char c : w) {
        if (c == '\'') out += "'\\''";
        else out.push_back(c);
    }
    out += "'";
    return out;
}

}  // namespace sluice::cli
