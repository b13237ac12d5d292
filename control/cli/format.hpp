// Human output of sluicectl: aligned tables of show results, one-line
// summaries of change results, and the structured errors of the channel.
// Results are read defensively (a field may be missing, a counter may be a
// string): the JSON is the server's, and a newer server may add fields, so
// a column appears when some row has one of its fields, and unknown fields
// are listed rather than dropped where they matter (port counters).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/api/message.hpp"

namespace sluice::cli {

using Json = nlohmann::json;

// An aligned table: columns separated by two blanks, every column as wide as
// its widest cell, numeric columns (every cell a number, "-" or empty)
// right-aligned, no trailing blanks.
struct Table {
    std::vector<std::string> headers;
    std::vector<std::vector<std::string>> rows;
    std::string render() const;
};

// A value as one cell: numbers as digits, booleans yes/no, null "-", a list
// of scalars joined by ",", an object as compact JSON.
std::string cell(const Json& v);
bool is_scalar(const Json& v);
// 2 -> "2", 0.5 -> "0.5", 0.08123 -> "0.081": at most three decimals.
std::string float_text(double d);
bool is_numeric_cell(const std::string& s);
// A count: an unsigned number, or a signed one that is not negative (JSON
// does not say which; nlohmann reads 7 as unsigned, builds Json(7) signed).
bool as_u64(const Json& v, uint64_t* out);

// One row of a result list, with the key it had when the list was an
// object keyed by name ({"p0": {...}}) rather than an array.
struct Row {
    std::string key;
    Json value;
};
// The rows under `key` of `result` (an array of objects, or an object of
// objects keyed by name); when `key` is absent and `result` itself is such
// a list, its rows.
std::vector<Row> rows_of(const Json& result, const std::string& key);

// A field of a row, trying names in order (the first present wins): the
// protocol's field names with the telemetry's as fallbacks.
const Json* field(const Json& row, std::initializer_list<const char*> names);

// `show WHAT` result as text. `all`: show drops --all (zero counts too).
std::string format_show(const std::string& what, const Json& result, bool all = false);
// A change request's result ("route_add", "reload", ...).
std::string format_change(const std::string& type, const Json& result);
// An object as indented "key: value" lines (status, which, unknown shapes).
std::string format_kv(const Json& v, int indent = 0);
// --json: exactly the result, pretty-printed, one trailing newline.
std::string format_json(const Json& result);

// "sluicectl: bad_field: args.prefix: expected ..." then each item of
// `errors` on its own line (reload errors with file:line).
std::string format_error(const channel::Error& e);

}  // namespace sluice::cli
