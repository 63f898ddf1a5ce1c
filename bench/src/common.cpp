#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "bench.hpp"

namespace pushwire::bench {

const char* modeName(Mode mode) {
    switch (mode) {
        case Mode::WebSocket: return "websocket";
        case Mode::Sse: return "sse";
        case Mode::LongPoll: return "longpoll";
        case Mode::Poll: return "poll";
    }
    return "?";
}

const char* targetName(Target target) { return target == Target::Pushwire ? "pushwire" : "nchan"; }

std::int64_t nowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

namespace {

bool readNumber(std::string_view text, std::size_t& pos, std::int64_t& out) {
    const char* begin = text.data() + pos;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(begin, end, out);
    if (ec != std::errc() || ptr == end) return false;  // a number at the very end may be cut
    pos = static_cast<std::size_t>(ptr - text.data());
    return true;
}

}  // namespace

void scanMessages(std::string_view text, const std::function<void(std::int64_t, std::int64_t)>& found) {
    std::size_t pos = 0;
    while ((pos = text.find("{\"i\":", pos)) != std::string_view::npos) {
        std::size_t cursor = pos + 5;
        std::int64_t index = 0;
        std::int64_t sent = 0;
        if (!readNumber(text, cursor, index)) return;
        if (text.compare(cursor, 5, ",\"t\":") != 0) {
            pos = cursor;
            continue;
        }
        cursor += 5;
        if (!readNumber(text, cursor, sent)) return;
        found(index, sent);
        pos = cursor;
    }
}

void Sequence::seen(std::int64_t index, std::int64_t sentNs, Tally& tally) {
    if (index <= last) {
        ++tally.duplicates;
        return;
    }
    if (last >= 0 && index > last + 1) tally.missing += static_cast<std::uint64_t>(index - last - 1);
    last = index;
    ++tally.received;
    if (index < tally.measureFrom) return;
    std::int64_t latency = (nowNs() - sentNs) / 1000;
    tally.latencyUs.push_back(static_cast<std::uint32_t>(std::clamp<std::int64_t>(latency, 0, UINT32_MAX)));
}

std::string payload(std::int64_t index, int bytes) {
    std::string out = "{\"i\":" + std::to_string(index) + ",\"t\":" + std::to_string(nowNs()) + ",\"p\":\"";
    int pad = bytes - static_cast<int>(out.size()) - 2;
    out.append(static_cast<std::size_t>(std::max(0, pad)), 'x');
    out += "\"}";
    return out;
}

namespace {

// The scheduler's exact on-CPU time of every thread of the process (the first field of
// each /proc/PID/task/TID/schedstat, in ns), or nothing where the kernel has no schedstat.
// utime + stime count whole 10 ms clock ticks charged to whoever runs when a tick lands:
// a run that uses 0.2 s of CPU moved by 5% and more on that alone. A thread that ends
// between two samples drops out of the second: the servers measured here keep theirs
// (pushwire and each nginx process run one thread; Redis its fixed background threads).
std::optional<double> threadsCpuSeconds(pid_t pid) {
    std::error_code ec;
    std::filesystem::directory_iterator tasks("/proc/" + std::to_string(pid) + "/task", ec);
    if (ec) return std::nullopt;
    double seconds = 0;
    bool any = false;
    for (const auto& task : tasks) {
        std::ifstream schedstat(task.path() / "schedstat");
        unsigned long long ns = 0;
        if (schedstat >> ns) {
            seconds += static_cast<double>(ns) / 1e9;
            any = true;
        }
    }
    if (!any) return std::nullopt;
    return seconds;
}

}  // namespace

ProcSample sample(const std::vector<pid_t>& pids) {
    ProcSample s;
    static const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    static const long page = sysconf(_SC_PAGESIZE);
    for (pid_t pid : pids) {
        const std::optional<double> exact = threadsCpuSeconds(pid);
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        auto close = content.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream fields(content.substr(close + 2));
        std::string field;
        std::vector<std::string> values;
        while (fields >> field) values.push_back(field);
        // After "pid (comm) ": state is field 3, utime 14, stime 15, rss 24.
        if (values.size() > 21) {
            s.cpuSeconds += exact ? *exact : (std::stod(values[11]) + std::stod(values[12])) / tick;
            s.rssBytes += std::stoll(values[21]) * page;
        }
    }
    return s;
}

double selfCpuSeconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

bool runUntil(asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!done() && Clock::now() < deadline) {
        io.run_for(std::chrono::milliseconds(5));
        if (io.stopped()) io.restart();
    }
    return done();
}

HttpAnswer httpPost(const Config& c, const std::string& path, const std::string& body) {
    return httpRequest(c, "POST", path, body);
}

HttpAnswer httpGet(const Config& c, const std::string& path) { return httpRequest(c, "GET", path, ""); }

std::string exchange(const std::string& host, int port, const std::string& request) {
    std::string answer;
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        bool sent = true;
        for (std::size_t at = 0; sent && at < request.size();) {
            const ssize_t n = ::send(fd, request.data() + at, request.size() - at, MSG_NOSIGNAL);
            sent = n > 0;
            at += sent ? static_cast<std::size_t>(n) : 0;
        }
        char buffer[4096];
        for (ssize_t n; sent && (n = recv(fd, buffer, sizeof buffer, 0)) > 0;)
            answer.append(buffer, static_cast<std::size_t>(n));
    }
    close(fd);
    return answer;
}

RedisSample redisSample(const std::string& host, int port) {
    RedisSample out;
    const std::string answer = exchange(host, port, "INFO\r\nQUIT\r\n");
    auto field = [&](const std::string& name, double& value) {
        const auto at = answer.find("\n" + name + ":");
        if (at == std::string::npos) return false;
        value = std::strtod(answer.c_str() + at + name.size() + 2, nullptr);
        return true;
    };
    double sys = 0, user = 0;
    out.ok =
        field("used_cpu_sys", sys) && field("used_cpu_user", user) && field("total_net_output_bytes", out.outputBytes);
    out.cpuSeconds = sys + user;
    return out;
}

HttpAnswer httpRequest(const Config& c, const std::string& method, const std::string& path, const std::string& body) {
    HttpAnswer out;
    const std::string answer =
        exchange(c.host, c.port,
                 method + " " + path + " HTTP/1.1\r\nHost: " + c.host +
                     "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n" +
                     (c.apiKey.empty() ? "" : "Authorization: ApiKey " + c.apiKey + "\r\n") + "\r\n" + body);
    if (answer.rfind("HTTP/1.1 ", 0) == 0) out.status = std::atoi(answer.c_str() + 9);
    const auto bodyAt = answer.find("\r\n\r\n");
    if (bodyAt != std::string::npos) out.body = answer.substr(bodyAt + 4);
    return out;
}

Percentiles percentiles(std::vector<std::uint32_t> values) {
    Percentiles p;
    if (values.empty()) return p;
    std::sort(values.begin(), values.end());
    auto at = [&](double q) {
        std::size_t index = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1));
        return static_cast<double>(values[index]) / 1000.0;  // ms
    };
    p.p50 = at(0.50);
    p.p99 = at(0.99);
    p.max = static_cast<double>(values.back()) / 1000.0;
    return p;
}

}  // namespace pushwire::bench
