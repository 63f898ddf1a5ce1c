#include "server_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

namespace pushwire::test {

const char* serverBinary() {
    const char* chosen = std::getenv("HARNESS_SERVER_BIN");
    return chosen && *chosen ? chosen : PUSHWIRE_SERVER_BIN;
}

bool serverSanitized() {
    if (const char* sanitized = std::getenv("HARNESS_SERVER_SANITIZED")) return std::string(sanitized) == "1";
#if defined(PUSHWIRE_SERVER_SANITIZED)
    return true;  // the harness of a sanitizer build, run against that build's server
#else
    return false;
#endif
}

ServerProcess::ServerProcess(std::vector<std::string> args) { start(std::move(args), {}); }

ServerProcess::ServerProcess(std::vector<std::string> args, std::vector<std::string> environment) {
    start(std::move(args), environment);
}

void ServerProcess::start(std::vector<std::string> args, const std::vector<std::string>& environment) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    char logTemplate[] = "/tmp/pushwire-server-XXXXXX";
    const int logFd = mkstemp(logTemplate);
    if (logFd < 0) throw std::runtime_error("mkstemp failed");
    logPath_ = logTemplate;
    // One port, as the server runs by default; tests of a second WebSocket port ask for it.
    std::vector<std::string> argv = {serverBinary(), "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    // The suite runs twice: as is, and with PUSHWIRE_SERVER_EXTRA_ARGS=--io-uring=off so
    // that both of the front's write paths are exercised.
    if (const char* extra = std::getenv("PUSHWIRE_SERVER_EXTRA_ARGS")) {
        std::istringstream words(extra);
        for (std::string word; words >> word;) argv.push_back(word);
    }
    // Everything the child needs is made before fork: the test process has other threads,
    // and the child may not allocate.
    std::vector<std::string> env;
    for (char** entry = environ; entry && *entry; ++entry) {
        // The harness's own variable is no option of the server (which would warn about it).
        if (std::string(*entry).rfind("PUSHWIRE_SERVER_EXTRA_ARGS=", 0) != 0) env.emplace_back(*entry);
    }
    for (const std::string& variable : environment) {
        const std::string name = variable.substr(0, variable.find('=') + 1);
        env.erase(std::remove_if(env.begin(), env.end(), [&](const std::string& e) { return e.rfind(name, 0) == 0; }),
                  env.end());
        env.push_back(variable);
    }
    std::vector<char*> rawArgs;
    for (auto& a : argv) rawArgs.push_back(a.data());
    rawArgs.push_back(nullptr);
    std::vector<char*> rawEnv;
    for (auto& e : env) rawEnv.push_back(e.data());
    rawEnv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
        // A test that dies (a failed sanitizer check aborts it) takes its server along,
        // instead of leaving it to hold ctest's pipe until the timeout.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out[1], 1);
        dup2(logFd, 2);
        // Nothing else of the test's: a socket the test closes must not stay open here.
        close_range(3, ~0u, 0);
        execve(rawArgs[0], rawArgs.data(), rawEnv.data());
        _exit(127);
    }
    close(logFd);
    close(out[1]);
    std::string line;
    // 30 s: a guard against a server that never starts (a loaded CI machine is slow to start
    // a sanitized one).
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        pollfd p{out[0], POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            char buf[512];
            ssize_t n = read(out[0], buf, sizeof buf);
            if (n <= 0) break;
            line.append(buf, static_cast<std::size_t>(n));
        }
    }
    close(out[0]);
    std::smatch m;
    // "listening http://HOST:PORT ws://HOST:PORT/pushwire/ws" (no ws:// without WebSocket);
    // the same URLs in the JSON line of --log-format json.
    if (!std::regex_search(line, m, std::regex("https?://[^:/]+:(\\d+)(?:.*?wss?://[^:/]+:(\\d+))?"))) {
        kill9();
        const std::string why = log();
        std::remove(logPath_.c_str());
        throw std::runtime_error("server did not start: '" + line + "' " + why);
    }
    httpPort_ = std::stoi(m[1]);
    wsPort_ = m[2].matched ? std::stoi(m[2]) : httpPort_;
}

ServerProcess::~ServerProcess() {
    if (pid_ > 0) terminate();
    checkEnd();
    std::remove(logPath_.c_str());
}

void ServerProcess::checkEnd() {
    std::string problem;
    if (!killedOnPurpose_ && ended_) {
        if (WIFSIGNALED(waitStatus_)) {
            problem = "the server was ended by signal " + std::to_string(WTERMSIG(waitStatus_)) +
                      (WTERMSIG(waitStatus_) == SIGKILL ? " (it did not exit within 5 s of SIGTERM)" : "");
        } else if (WIFEXITED(waitStatus_) && WEXITSTATUS(waitStatus_) != 0) {
            problem = "the server exited with status " + std::to_string(WEXITSTATUS(waitStatus_));
        }
    }
    const std::string text = log();
    const std::string report = sanitizerReport(text);
    if (!report.empty()) problem += (problem.empty() ? "" : "; ") + std::string("the server reported:\n") + report;
    if (problem.empty()) return;
    if (!problem.empty() && report.empty()) {
        problem += "\nits stderr ends with:\n" + text.substr(text.size() > 2000 ? text.size() - 2000 : 0);
    }
    // The test case that owned this server is still running: fail it (without throwing).
    if (Catch::getCurrentContext().getResultCapture()) {
        FAIL_CHECK(problem);
    } else {
        std::fprintf(stderr, "pushwire test harness: %s\n", problem.c_str());
    }
}

bool ServerProcess::reap(bool block) {
    if (pid_ <= 0) return true;
    int status = 0;
    const pid_t got = waitpid(pid_, &status, block ? 0 : WNOHANG);
    if (got == pid_ || (got < 0 && errno == ECHILD)) {
        if (got == pid_) {
            waitStatus_ = status;
            ended_ = true;
        }
        pid_ = -1;
        return true;
    }
    return false;
}

std::string ServerProcess::wsUrl(const std::string& query) const {
    return "ws://127.0.0.1:" + std::to_string(wsPort_) + "/pushwire/ws" + query;
}

httplib::Client ServerProcess::client() const {
    httplib::Client c("127.0.0.1", httpPort_);
    c.set_read_timeout(30, 0);
    return c;
}

bool ServerProcess::alive() { return !reap(false); }

void ServerProcess::signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
}

std::optional<int> ServerProcess::waitExit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!reap(false)) {
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(10ms);
    }
    if (!ended_) return -1;
    return WIFEXITED(waitStatus_) ? WEXITSTATUS(waitStatus_) : -1;
}

int ServerProcess::terminate() {
    if (pid_ <= 0) return ended_ && WIFEXITED(waitStatus_) ? WEXITSTATUS(waitStatus_) : -1;
    kill(pid_, SIGTERM);
    if (auto status = waitExit(5s)) return *status;
    kill(pid_, SIGKILL);
    reap(true);
    return -1;
}

void ServerProcess::kill9() {
    if (pid_ <= 0) return;
    killedOnPurpose_ = true;
    kill(pid_, SIGKILL);
    reap(true);
}

std::string ServerProcess::log() const {
    std::ifstream file(logPath_, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

std::optional<double> ServerProcess::metric(const std::string& series) const {
    auto c = client();
    auto res = c.Get("/pushwire/metrics");
    if (!res || res->status != 200) return std::nullopt;
    return metricValue(res->body, series);
}

std::optional<double> ServerProcess::waitMetric(const std::string& series, const std::function<bool(double)>& good,
                                                std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::optional<double> value;
    for (;;) {
        value = metric(series);
        if ((value && good(*value)) || std::chrono::steady_clock::now() >= deadline) return value;
        std::this_thread::sleep_for(20ms);
    }
}

std::string sanitizerReport(const std::string& text) {
    static const char* kMarkers[] = {"ERROR: AddressSanitizer",
                                     "ERROR: LeakSanitizer",
                                     "runtime error:",
                                     "SUMMARY: AddressSanitizer",
                                     "SUMMARY: UndefinedBehaviorSanitizer",
                                     "WARNING: ThreadSanitizer"};
    std::size_t first = std::string::npos;
    for (const char* marker : kMarkers) first = std::min(first, text.find(marker));
    if (first == std::string::npos) return "";
    const std::size_t lineStart = text.rfind('\n', first);
    const std::size_t from = lineStart == std::string::npos ? 0 : lineStart + 1;
    return text.substr(from, 4000);
}

std::optional<double> metricValue(const std::string& text, const std::string& series) {
    std::size_t at = 0;
    while ((at = text.find(series + " ", at)) != std::string::npos) {
        if (at == 0 || text[at - 1] == '\n') {
            const std::size_t start = at + series.size() + 1;
            const std::size_t end = text.find('\n', start);
            try {
                return std::stod(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
            } catch (const std::exception&) {
                return std::nullopt;
            }
        }
        ++at;
    }
    return std::nullopt;
}

std::uint64_t publish(const ServerProcess& server, const std::string& channel, const std::string& dataJson) {
    auto c = server.client();
    nlohmann::json body = {{"channel", channel}, {"data", nlohmann::json::parse(dataJson)}};
    auto res = c.Post("/pushwire/publish", body.dump(), "application/json");
    if (!res || res->status != 200) {
        throw std::runtime_error("publish failed: " + (res ? res->body : std::string("no response")));
    }
    return nlohmann::json::parse(res->body)["seq"].get<std::uint64_t>();
}

std::uint64_t tryPublish(const ServerProcess& server, const std::string& channel, const std::string& dataJson,
                         int* status) {
    auto c = server.client();
    c.set_read_timeout(10, 0);
    nlohmann::json body = {{"channel", channel}, {"data", nlohmann::json::parse(dataJson)}};
    auto res = c.Post("/pushwire/publish", body.dump(), "application/json");
    if (status) *status = res ? res->status : 0;
    if (!res || res->status != 200) return 0;
    return nlohmann::json::parse(res->body)["seq"].get<std::uint64_t>();
}

std::string field(const std::string& json, const std::string& name) {
    auto value = nlohmann::json::parse(json, nullptr, false);
    if (value.is_discarded() || !value.is_object() || !value.contains(name)) return "";
    const auto& f = value[name];
    return f.is_string() ? f.get<std::string>() : f.dump();
}

// ---------------------------------------------------------------- RawSocket

RawSocket::RawSocket(int port, int receiveBuffer, const std::string& from) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (receiveBuffer > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
    if (!from.empty()) {
        sockaddr_in local{};
        local.sin_family = AF_INET;
        inet_pton(AF_INET, from.c_str(), &local.sin_addr);
        if (bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) throw std::runtime_error("bind failed");
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        throw std::runtime_error("connect failed");
    }
}

RawSocket::~RawSocket() {
    if (fd_ >= 0) close(fd_);
}

void RawSocket::send(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += static_cast<std::size_t>(n);
    }
}

void RawSocket::shutdownWrite() { shutdown(fd_, SHUT_WR); }

std::string RawSocket::readUntil(const std::function<bool(const std::string&)>& done,
                                 std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(buffer_)) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
        char buf[8192];
        ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) break;
        buffer_.append(buf, static_cast<std::size_t>(n));
    }
    return buffer_;
}

bool RawSocket::closedByPeer(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            char buf[4096];
            ssize_t n = recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) return true;
            buffer_.append(buf, static_cast<std::size_t>(n));
        }
    }
    return false;
}

bool RawSocket::closedCleanly(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            char buf[65536];
            ssize_t n = recv(fd_, buf, sizeof buf, 0);
            if (n == 0) return true;
            if (n < 0) return false;  // ECONNRESET: the answer may have been destroyed
            buffer_.append(buf, static_cast<std::size_t>(n));
        }
    }
    return false;
}

std::string RawSocket::readSome(std::size_t max, std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return "";
    std::string chunk(max, '\0');
    ssize_t n = recv(fd_, chunk.data(), max, 0);
    if (n <= 0) return "";
    chunk.resize(static_cast<std::size_t>(n));
    buffer_ += chunk;
    return chunk;
}

long RawSocket::trySend(const std::string& bytes) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    return static_cast<long>(n);
}

long residentKb(int pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

// ---------------------------------------------------------------- RawWebSocket

RawWebSocket::RawWebSocket(int port, const std::string& target, int receiveBuffer, const std::string& extraHeaders)
    : socket_(port, receiveBuffer) {
    socket_.send("GET " + target +
                 " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
                 extraHeaders + "\r\n");
    std::string data = socket_.readUntil([](const std::string& b) { return b.find("\r\n\r\n") != std::string::npos; });
    auto end = data.find("\r\n\r\n");
    if (end == std::string::npos) throw std::runtime_error("no WebSocket handshake answer: " + data);
    head_ = data.substr(0, end);
    headSize_ = end + 4;
    parsed_ = headSize_;
    upgraded_ = head_.rfind("HTTP/1.1 101", 0) == 0;
}

std::string RawWebSocket::frame(int opcode, const std::string& payload, bool fin, int lengthBytes,
                                std::optional<std::uint64_t> length) {
    std::string out;
    out.push_back(static_cast<char>((fin ? 0x80 : 0) | (opcode & 0x0f)));
    const std::uint64_t declared = length.value_or(payload.size());
    if (lengthBytes == 0) lengthBytes = declared < 126 ? 0 : declared <= 0xffff ? 2 : 8;
    if (lengthBytes == 0) {
        out.push_back(static_cast<char>(0x80 | declared));
    } else if (lengthBytes == 2) {
        out.push_back(static_cast<char>(0x80 | 126));
        out.push_back(static_cast<char>((declared >> 8) & 0xff));
        out.push_back(static_cast<char>(declared & 0xff));
    } else {
        out.push_back(static_cast<char>(0x80 | 127));
        for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((declared >> shift) & 0xff));
    }
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    out.append(mask, 4);
    for (std::size_t i = 0; i < payload.size(); ++i) out.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    return out;
}

int RawWebSocket::Frame::closeCode() const {
    if (opcode != 8 || payload.size() < 2) return opcode == 8 ? 1005 : 0;
    return (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
}

// Server frames are unmasked.
void RawWebSocket::parse() {
    const std::string& all = socket_.received();
    for (;;) {
        if (all.size() < parsed_ + 2) return;
        const auto b0 = static_cast<unsigned char>(all[parsed_]);
        const auto b1 = static_cast<unsigned char>(all[parsed_ + 1]);
        std::size_t header = 2;
        std::uint64_t length = b1 & 0x7f;
        if (length == 126) {
            if (all.size() < parsed_ + 4) return;
            length = (static_cast<unsigned char>(all[parsed_ + 2]) << 8) | static_cast<unsigned char>(all[parsed_ + 3]);
            header = 4;
        } else if (length == 127) {
            if (all.size() < parsed_ + 10) return;
            length = 0;
            for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<unsigned char>(all[parsed_ + 2 + i]);
            header = 10;
        }
        if (all.size() < parsed_ + header + length) return;
        frames_.push_back(Frame{b0 & 0x0f, all.substr(parsed_ + header, static_cast<std::size_t>(length))});
        parsed_ += header + static_cast<std::size_t>(length);
    }
}

const std::vector<RawWebSocket::Frame>& RawWebSocket::waitFor(
    const std::function<bool(const std::vector<Frame>&)>& done, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    parse();
    while (!done(frames_)) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        if (socket_.readSome(1 << 16, std::min(left, std::chrono::milliseconds(100))).empty() &&
            socket_.closedByPeer(1ms)) {
            parse();
            break;
        }
        parse();
    }
    return frames_;
}

int RawWebSocket::waitClose(std::chrono::milliseconds timeout) {
    auto frames = waitFor(
        [](const std::vector<Frame>& all) {
            for (const Frame& f : all) {
                if (f.opcode == 8) return true;
            }
            return false;
        },
        timeout);
    for (const Frame& f : frames) {
        if (f.opcode == 8) return f.closeCode();
    }
    return 0;
}

// ---------------------------------------------------------------- SseClient

SseClient::SseClient(int port, const std::string& target, const std::string& extraHeaders) : socket_(port) {
    socket_.send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" + extraHeaders +
                 "\r\n");
    std::string data = socket_.readUntil([](const std::string& b) { return b.find("\r\n\r\n") != std::string::npos; });
    auto end = data.find("\r\n\r\n");
    if (end == std::string::npos) throw std::runtime_error("no SSE response head: " + data);
    head_ = data.substr(0, end);
    status_ = std::stoi(head_.substr(9, 3));
    pending_ = data.substr(end + 4);
    consumed_ = data.size();
}

void SseClient::pump(std::chrono::milliseconds timeout, const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto parse = [&] {
        for (;;) {
            auto end = pending_.find("\n\n");
            if (end == std::string::npos) return;
            std::string block = pending_.substr(0, end);
            pending_.erase(0, end + 2);
            SseEvent event;
            bool hasData = false;
            std::size_t start = 0;
            while (start <= block.size()) {
                auto nl = block.find('\n', start);
                std::string line = block.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
                start = nl == std::string::npos ? block.size() + 1 : nl + 1;
                if (line.empty() || line[0] == ':') continue;
                auto colon = line.find(':');
                std::string name = line.substr(0, colon);
                std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
                if (!value.empty() && value[0] == ' ') value.erase(0, 1);
                if (name == "event") event.event = value;
                if (name == "id") event.id = value;
                if (name == "data") {
                    if (hasData) event.data += "\n";
                    event.data += value;
                    hasData = true;
                }
            }
            if (hasData) events_.push_back(event);
        }
    };
    // RawSocket keeps everything it read (ended() reads too): take the part not seen yet.
    auto take = [&] {
        const std::string& all = socket_.received();
        if (all.size() > consumed_) pending_.append(all, consumed_, std::string::npos);
        consumed_ = all.size();
        parse();
    };
    take();
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{socket_.fd(), POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(std::min<std::chrono::milliseconds>(left, 100ms).count())) <= 0) continue;
        if (socket_.readSome(1 << 16, 0ms).empty()) break;  // the server closed the stream
        take();
    }
}

bool SseClient::ended(std::chrono::milliseconds timeout) { return socket_.closedCleanly(timeout); }

std::vector<SseEvent> SseClient::waitFor(std::size_t count, const std::string& event,
                                         std::chrono::milliseconds timeout) {
    auto matches = [&](const SseEvent& e) { return event == "*" || e.event == event; };
    // Counted as they come: a reader of thousands of events does not copy them all per read.
    std::size_t seen = 0, found = 0;
    pump(timeout, [&] {
        for (; seen < events_.size(); ++seen) found += matches(events_[seen]) ? 1 : 0;
        return found >= count;
    });
    std::vector<SseEvent> out;
    for (const SseEvent& e : events_) {
        if (matches(e)) out.push_back(e);
    }
    return out;
}

// ---------------------------------------------------------------- WsClient

using WsppClient = websocketpp::client<websocketpp::config::asio_client>;

struct WsClient::Impl {
    WsppClient client;
    WsppClient::connection_ptr con;
    std::thread thread;
    mutable std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::string> frames;
    std::size_t consumed = 0;
    bool open = false;
    int closeCode = 0;
    int failStatus = 0;
};

WsClient::WsClient(const std::string& url) : impl_(std::make_unique<Impl>()) {
    Impl& d = *impl_;
    d.client.clear_access_channels(websocketpp::log::alevel::all);
    d.client.clear_error_channels(websocketpp::log::elevel::all);
    d.client.init_asio();
    d.client.set_open_handler([&d](websocketpp::connection_hdl) {
        std::lock_guard<std::mutex> lock(d.mutex);
        d.open = true;
        d.changed.notify_all();
    });
    d.client.set_message_handler([&d](websocketpp::connection_hdl, WsppClient::message_ptr msg) {
        std::lock_guard<std::mutex> lock(d.mutex);
        d.frames.push_back(msg->get_payload());
        d.changed.notify_all();
    });
    d.client.set_close_handler([&d](websocketpp::connection_hdl hdl) {
        auto con = d.client.get_con_from_hdl(hdl);
        std::lock_guard<std::mutex> lock(d.mutex);
        d.open = false;
        d.closeCode = con->get_remote_close_code();
        if (d.closeCode == 0) d.closeCode = con->get_local_close_code();
        d.changed.notify_all();
    });
    d.client.set_fail_handler([&d](websocketpp::connection_hdl hdl) {
        auto con = d.client.get_con_from_hdl(hdl);
        std::lock_guard<std::mutex> lock(d.mutex);
        d.failStatus = con->get_response_code();
        d.closeCode = -1;
        d.changed.notify_all();
    });
    std::error_code ec;
    d.con = d.client.get_connection(url, ec);
    if (ec) throw std::runtime_error("bad ws url: " + ec.message());
    d.client.connect(d.con);
    d.thread = std::thread([&d] { d.client.run(); });
    std::unique_lock<std::mutex> lock(d.mutex);
    d.changed.wait_for(lock, 5s, [&d] { return d.open || d.closeCode != 0; });
}

WsClient::~WsClient() {
    std::error_code ec;
    if (connected()) impl_->con->close(websocketpp::close::status::normal, "", ec);
    impl_->client.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

bool WsClient::connected() const {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    return impl_->open;
}

void WsClient::send(const std::string& text) {
    const std::error_code ec = impl_->con->send(text, websocketpp::frame::opcode::text);
    if (ec) FAIL_CHECK("WebSocket send of " << text.size() << " bytes failed: " << ec.message());
}

void WsClient::sendBinary(const std::string& bytes) {
    const std::error_code ec = impl_->con->send(bytes, websocketpp::frame::opcode::binary);
    if (ec) FAIL_CHECK("WebSocket send of " << bytes.size() << " bytes failed: " << ec.message());
}

std::string WsClient::waitFor(const std::function<bool(const std::string&)>& match, std::chrono::milliseconds timeout) {
    Impl& d = *impl_;
    std::unique_lock<std::mutex> lock(d.mutex);
    std::string found;
    d.changed.wait_for(lock, timeout, [&] {
        for (; d.consumed < d.frames.size(); ++d.consumed) {
            if (match(d.frames[d.consumed])) {
                found = d.frames[d.consumed++];
                return true;
            }
        }
        return false;
    });
    return found;
}

std::vector<std::string> WsClient::frames() {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    return impl_->frames;
}

int WsClient::waitClosed(std::chrono::milliseconds timeout) {
    Impl& d = *impl_;
    std::unique_lock<std::mutex> lock(d.mutex);
    d.changed.wait_for(lock, timeout, [&d] { return d.closeCode != 0; });
    return d.closeCode;
}

int WsClient::failStatus() const {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    return impl_->failStatus;
}

}  // namespace pushwire::test
