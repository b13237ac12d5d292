// Tab completion of the interactive prompt: command and subcommand names
// from the parser's own tree (command_tree()), option names, the keywords
// of `route add` and `backend ...`, and VIP and port names, which the
// caller fetches from the server once (show vips / show ports) when a
// position first needs them.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace sluice::cli {

enum class NameKind { vip, port };
using NameSource = std::function<std::vector<std::string>(NameKind)>;

// Candidates for `partial`, the word under the cursor, after `words`;
// sorted, unique, each starting with `partial`.
std::vector<std::string> complete(const std::vector<std::string>& words, const std::string& partial,
                                  const NameSource& names);

}  // namespace sluice::cli
