// JSON without a JSON library, for the browser module: a validator, a string decoder
// and a string quoter, each a loop over the text. The server validates with nlohmann's
// SAX parser (json_util.cpp); the browser module validates with scanJson, which keeps
// nlohmann (a third of the module's code) out of the wasm. scanJson accepts exactly what
// nlohmann accepts — RFC 8259, UTF-8 checked, a leading BOM skipped, a number that
// overflows a double refused — which tests/unit/json_scan_test.cpp checks against
// nlohmann on a corpus and on random and mutated inputs. Never throws, never recurses.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pushwire::protocol::detail {

enum class ScanResult { Valid, Invalid, TooDeep };

// One JSON value, nesting at most `maxDepth` arrays and objects; `deepest`, when
// given, gets the deepest nesting seen (up to where the scan stopped).
ScanResult scanJson(std::string_view text, std::size_t maxDepth, std::size_t* deepest = nullptr);

// The string a JSON string literal (with its quotes) stands for; nullopt when it is not
// one valid literal.
std::optional<std::string> decodeJsonString(std::string_view literal);

// `text` as a JSON string literal, as nlohmann's dump(-1, ' ', false, replace) writes it:
// `"` `\` and control characters escaped, valid UTF-8 kept, each invalid sequence
// replaced by U+FFFD.
std::string quoteJsonString(std::string_view text);

}  // namespace pushwire::protocol::detail
