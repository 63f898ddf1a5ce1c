#include "answer.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "http_errors.hpp"

namespace pushwire::cli {

Answer fetchAnswer(httplib::Client& http, const std::string& method, const std::string& target,
                   const httplib::Headers& headers, const std::string& body, std::size_t maxBytes,
                   std::chrono::milliseconds deadline) {
    Answer answer;
    bool tooLarge = false;
    httplib::Request request;
    request.method = method;
    request.path = target;
    request.headers = headers;
    if (method == "POST") {
        request.body = body;
        request.headers.emplace("Content-Type", "application/json");
    }
    request.content_receiver = [&](const char* data, std::size_t length, std::uint64_t, std::uint64_t) {
        if (answer.body.size() + length > maxBytes) {
            tooLarge = true;
            return false;
        }
        answer.body.append(data, length);
        return true;
    };
    // The deadline of the whole request: a watchdog stops the client (its socket is shut,
    // the blocked read returns).
    std::mutex mutex;
    std::condition_variable wake;
    bool done = false;
    std::atomic<bool> expired{false};
    std::thread watchdog([&] {
        std::unique_lock<std::mutex> lock(mutex);
        if (!wake.wait_for(lock, deadline, [&] { return done; })) {
            expired = true;
            http.stop();
        }
    });
    httplib::Result result = http.send(request);
    {
        std::lock_guard<std::mutex> lock(mutex);
        done = true;
    }
    wake.notify_one();
    watchdog.join();
    const auto seconds = (deadline.count() + 999) / 1000;
    if (tooLarge) {
        answer.failure = "the answer is larger than " + std::to_string(maxBytes) + " bytes";
    } else if (expired) {
        answer.failure = "no complete answer within " + std::to_string(seconds) + " s";
    } else if (!result) {
        answer.failure = result.error() == httplib::Error::Read ? "the answer was cut short or is not HTTP"
                                                                : client::describeHttpError(result.error());
    } else {
        answer.status = result->status;
        answer.headers = result->headers;
        return answer;
    }
    answer.body.clear();
    return answer;
}

std::string printable(const std::string& text, std::size_t max) {
    // Valid UTF-8 kept; control characters and bytes that are not UTF-8 as \xNN.
    std::string out;
    const std::size_t end = std::min(text.size(), max);
    auto hex = [&out](unsigned char byte) {
        out += "\\x";
        out += "0123456789abcdef"[byte >> 4];
        out += "0123456789abcdef"[byte & 15];
    };
    for (std::size_t i = 0; i < end;) {
        const auto byte = static_cast<unsigned char>(text[i]);
        std::size_t length = byte < 0x80                    ? 1
                             : byte >= 0xC2 && byte <= 0xDF ? 2
                             : byte >= 0xE0 && byte <= 0xEF ? 3
                             : byte >= 0xF0 && byte <= 0xF4 ? 4
                                                            : 0;
        for (std::size_t k = 1; k < length; ++k) {
            if (i + k >= end || (static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) length = 0;
        }
        if (length == 1 && (byte < 0x20 || byte == 0x7F)) length = 0;
        if (!length) {
            hex(byte);
            ++i;
        } else {
            out.append(text, i, length);
            i += length;
        }
    }
    return text.size() > max ? out + "..." : out;
}

std::string describeRefusal(int status, const std::string& body) {
    using nlohmann::json;
    const json doc = json::parse(body, nullptr, false);
    auto text = [](const json& value) {
        return value.is_string() ? value.get<std::string>()
                                 : value.dump(-1, ' ', false, json::error_handler_t::replace);
    };
    std::string code, message = printable(body);
    if (doc.is_object() && doc.contains("error")) {
        const json& error = doc["error"];
        if (error.is_object()) {
            if (error.contains("code")) code = printable(text(error["code"]), 80);
            message = error.contains("message") ? printable(text(error["message"])) : std::string();
        } else {
            message = printable(text(error));
        }
    }
    return "HTTP " + std::to_string(status) + (code.empty() ? "" : " " + code) +
           (message.empty() ? "" : ": " + message);
}

}  // namespace pushwire::cli
