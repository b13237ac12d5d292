// How a value someone wrote is shown in an error message: the config
// library's parser and validators and the control channel's codec
// (control/api/codec.cpp) write it the same way. The text may come from an
// untrusted file or peer and ends up in terminals and logs, so nothing in
// it reaches them unescaped.
#pragma once

#include <string>
#include <string_view>

namespace sluice::config {

// How control characters are written: all as \xHH, or newline and tab as
// \n and \t (the YAML parser's messages) and the others as \xHH.
enum class Escape { hex, newline_tab_by_name };

// Appends c: '"' and '\' with a backslash, control characters (and DEL) as
// `e` says, anything else as it is.
void append_escaped(std::string& out, char c, Escape e = Escape::hex);

// "\"text\"" escaped as append_escaped() does, cut at 60 characters ("...").
std::string quote(std::string_view s, Escape e = Escape::hex);

}  // namespace sluice::config
