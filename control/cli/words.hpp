// Splitting an interactive line into words, as a shell would for simple
// commands: blanks separate words, '...' is literal, "..." allows \" and \\,
// and a backslash outside quotes escapes the next character. No variables,
// globs or pipes: the words go to the same CLI11 parser as argv.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice::cli {

// False and *err for an unterminated quote or a trailing backslash.
bool split_words(std::string_view line, std::vector<std::string>* out, std::string* err);

// For completion: the words before the cursor and the partial word the
// cursor is in ("" when the line ends in a blank). An unterminated quote is
// taken as the start of the partial word.
struct PartialLine {
    std::vector<std::string> words;
    std::string partial;
};
PartialLine split_partial(std::string_view line_before_cursor);

// A word quoted for display when it holds blanks or quotes (for
// --print-command and messages): abc -> abc, "a b" -> 'a b'.
std::string quote_word(std::string_view w);

}  // namespace sluice::cli
