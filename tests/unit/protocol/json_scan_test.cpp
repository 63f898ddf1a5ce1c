// The browser module's JSON scanner against nlohmann, which the server validates with:
// the same verdict (valid, invalid, too deep) on a corpus of edge cases and on hundreds
// of thousands of random and mutated inputs; the same decoded strings; the same quoting.
#include "json_scan.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "json_util.hpp"

namespace json_scan_test {

using pushwire::protocol::ErrorCode;
using pushwire::protocol::detail::decodeJsonString;
using pushwire::protocol::detail::quoteJsonString;
using pushwire::protocol::detail::scanJson;
using pushwire::protocol::detail::ScanResult;

namespace {

// nlohmann's verdict, through the server's own validateJson.
ScanResult reference(std::string_view text, std::size_t maxDepth) {
    auto error = pushwire::protocol::detail::validateJson(text, maxDepth, "x");
    if (!error) return ScanResult::Valid;
    return error->code == ErrorCode::TooDeep ? ScanResult::TooDeep : ScanResult::Invalid;
}

const char* name(ScanResult r) {
    return r == ScanResult::Valid ? "valid" : r == ScanResult::TooDeep ? "too deep" : "invalid";
}

void same(const std::string& text, std::size_t maxDepth = 1000) {
    INFO("input (" << text.size() << " bytes): "
                   << nlohmann::json(text).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace));
    CHECK(std::string(name(scanJson(text, maxDepth))) == name(reference(text, maxDepth)));
}

const std::vector<std::string>& corpus() {
    static const std::vector<std::string> texts = {
        "",
        " ",
        "null",
        "true",
        "false",
        "nul",
        "nulll",
        "True",
        "0",
        "-0",
        "01",
        "-",
        "-01",
        "1.",
        "1.5",
        ".5",
        "1e5",
        "1E+5",
        "1e-5",
        "1e",
        "1e+",
        "1.5e3",
        "-1.5E-3",
        "123456789012345678901234567890",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "1e308",
        "1e309",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "179769313486231580793728971405303415079934132710037826936"
        "17377898044496829276475094664901797758720709633028641669288791094655554785194040263065748867150582068190890"
        "20007083836762738548458177115317644757302700698555713669596228429148198608349364752927190741684443655107043"
        "42711559699508093042880177904174497791",
        "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286"
        "416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571"
        "366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792",
        "1e-400",
        "0.0000000000000000000000000000001e400",
        "0e999999",
        "-1e309",
        "\"\"",
        "\"a\"",
        "\"a",
        "a\"",
        "\"\\\"\"",
        "\"\\\\\"",
        "\"\\/\"",
        "\"\\b\\f\\n\\r\\t\"",
        "\"\\x\"",
        "\"\\u00e9\"",
        "\"\\u00E9\"",
        "\"\\u00g9\"",
        "\"\\u00e\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud83d\"",
        "\"\\ude00\"",
        "\"\\ud83d\\u0041\"",
        "\"\\ud83dx\"",
        std::string("\"a\0b\"", 5),
        "\"\x1f\"",
        "\"\x7f\"",
        "\"\xc3\xa9\"",
        "\"\xc3\"",
        "\"\xc0\x80\"",
        "\"\xe0\x80\x80\"",
        "\"\xed\xa0\x80\"",
        "\"\xef\xbf\xbf\"",
        "\"\xf0\x9f\x98\x80\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xf5\x80\x80\x80\"",
        "\"\xff\"",
        "[]",
        "[ ]",
        "[1]",
        "[1,]",
        "[,1]",
        "[1 2]",
        "[1,2]",
        "[[]]",
        "[[],[]]",
        "[",
        "]",
        "{}",
        "{ }",
        "{\"a\":1}",
        "{\"a\":1,}",
        "{\"a\"}",
        "{\"a\":}",
        "{a:1}",
        "{\"a\" : [ 1 , { } ] }",
        "{\"a\":1 \"b\":2}",
        "{1:2}",
        "{\"a\":1}}",
        "[1]]",
        "\xef\xbb\xbf[1]",
        "\xef\xbb[1]",
        "\xef[1]",
        " \xef\xbb\xbf[1]",
        "[1]\xef\xbb\xbf",
        "\t\n\r [1] \t\n\r",
        "\v[1]",
        "[1]\f",
        "[\"\\u0000\"]",
        "{\"\":\"\"}",
        "[true,false,null]",
        "[truefalse]",
        "[-]",
        "[--1]",
        "[+1]",
        "[0x10]",
        "[Infinity]",
        "[NaN]",
        "/*c*/[1]",
        "[1]//",
        "[1] x",
        // nlohmann alone would end the input at a NUL; validateJson refuses it.
        std::string("true\0", 5),
        std::string("{\"a\":1}\0junk", 12),
        std::string("1\0[", 3),
    };
    return texts;
}

}  // namespace

TEST_CASE("the scanner gives nlohmann's verdict on every edge case of the corpus") {
    for (const std::string& text : corpus()) same(text);
    for (std::size_t depth : {1u, 2u, 3u}) {
        same("[[[1]]]", depth);
        same("{\"a\":{\"b\":[]}}", depth);
        same("[[[", depth);
        same("[[x", depth);
        same("[], [", depth);
    }
}

TEST_CASE("the scanner gives nlohmann's verdict on random and mutated inputs") {
    std::mt19937 random(20261130);
    const std::vector<std::string> pieces = {
        "{",        "}",
        "[",        "]",
        ",",        ":",
        "\"",       "\\",
        "\\u",      "d83d",
        "de00",     "00e9",
        "1",        "0",
        "-",        ".",
        "e",        "E",
        "+",        "9",
        "true",     "false",
        "null",     " ",
        "\n",       "\"a\"",
        "\xc3\xa9", "\xc3",
        "\xa9",     "\xe2\x82\xac",
        "\xed\xa0", "\xf0\x9f\x98\x80",
        "\xff",     std::string(1, '\0'),
        "\x1f",     "\xef\xbb\xbf",
        "1e400",    "\"k\":",
    };
    auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random); };
    std::size_t valid = 0, tooDeep = 0;
    for (int round = 0; round < 200000; ++round) {
        std::string text;
        const std::size_t count = 1 + pick(12);
        for (std::size_t k = 0; k < count; ++k) text += pieces[pick(pieces.size())];
        const std::size_t depth = 1 + pick(4);
        const ScanResult expected = reference(text, depth);
        valid += expected == ScanResult::Valid;
        tooDeep += expected == ScanResult::TooDeep;
        if (scanJson(text, depth) != expected) same(text, depth);
    }
    // Mutations of valid documents: a byte flipped, inserted or removed.
    const std::vector<std::string> documents = {
        R"({"channel":"chat","seq":12,"data":{"text":"h\u00e9llo \ud83d\ude00","n":[1,2.5e3,-0,true,null]},"time":1})",
        R"({"type":"subscribed","channels":["a","b"],"cursor":"e1~a@4,b@9","id":7})",
        "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\", {\"\": [[], {}]}]",
    };
    for (int round = 0; round < 100000; ++round) {
        std::string text = documents[pick(documents.size())];
        for (std::size_t edits = 1 + pick(3); edits > 0; --edits) {
            const std::size_t at = pick(text.size());
            const char byte = static_cast<char>(pick(256));
            switch (pick(3)) {
                case 0: text[at] = byte; break;
                case 1: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), byte); break;
                default: text.erase(at, 1); break;
            }
        }
        const ScanResult expected = reference(text, 1000);
        valid += expected == ScanResult::Valid;
        if (scanJson(text, 1000) != expected) same(text, 1000);
    }
    // Both kinds of verdict occurred often enough for the comparison to mean something.
    CHECK(valid > 1000);
    CHECK(tooDeep > 50);
}

TEST_CASE("the scanner takes any nesting without recursion, and counts it") {
    std::string deep = std::string(200000, '[') + std::string(200000, ']');
    std::size_t deepest = 0;
    CHECK(scanJson(deep, static_cast<std::size_t>(-1), &deepest) == ScanResult::Valid);
    CHECK(deepest == 200000);
    CHECK(scanJson(deep, 64) == ScanResult::TooDeep);
    CHECK(scanJson(deep.substr(0, 300000), static_cast<std::size_t>(-1)) == ScanResult::Invalid);
}

TEST_CASE("decoded strings and quoted strings are nlohmann's") {
    std::mt19937 random(7);
    auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random); };
    const std::vector<std::string> pieces = {"a",
                                             "\\n",
                                             "\\\"",
                                             "\\\\",
                                             "\\/",
                                             "\\u00e9",
                                             "\\u20AC",
                                             "\\ud83d\\ude00",
                                             "\\u0000",
                                             "\xc3\xa9",
                                             "\xf0\x9f\x98\x80",
                                             " ",
                                             "\\t",
                                             "\\b",
                                             "\\f"};
    for (int round = 0; round < 20000; ++round) {
        std::string literal = "\"";
        for (std::size_t k = pick(8); k > 0; --k) literal += pieces[pick(pieces.size())];
        literal += "\"";
        auto decoded = decodeJsonString(literal);
        REQUIRE(decoded);
        CHECK(*decoded == nlohmann::json::parse(literal).get<std::string>());
    }
    CHECK_FALSE(decodeJsonString("\"\\ud83d\""));
    CHECK_FALSE(decodeJsonString("\"a\" "));
    CHECK_FALSE(decodeJsonString("\"a"));
    // Quoting: every byte string, valid UTF-8 or not, as nlohmann's dump with replacement.
    for (int round = 0; round < 100000; ++round) {
        std::string text;
        for (std::size_t k = pick(10); k > 0; --k) {
            const std::size_t kind = pick(4);
            if (kind == 0) text += static_cast<char>(pick(256));
            else if (kind == 1) text += static_cast<char>(0x80 + pick(64));
            else if (kind == 2) text += pieces[pick(pieces.size())];
            else text += static_cast<char>(pick(0x20));
        }
        const std::string expected =
            nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        if (quoteJsonString(text) != expected) {
            INFO("input: " << nlohmann::json(text).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace));
            CHECK(quoteJsonString(text) == expected);
        }
    }
}

}  // namespace json_scan_test
