// pushwire-floors: the least a server can do for one unit of work on three more paths,
// beside pushwire-send-paths' write-only floor (docs/benchmarks.md). No server: one
// process does only what the path needs, with a child process as the peer; the CPU time
// of both is measured (CLOCK_PROCESS_CPUTIME_ID) over the measured part of the run.
//
//   longpoll  N kept-alive connections, each with a GET waiting; R rounds a second, each
//             round answers every waiting request with one prebuilt HTTP answer (the
//             writes of a round in one io_uring submission), and the peer asks again at
//             once: a delivery is one request read and one answer written.
//   publish   N kept-alive connections, each keeping --in-flight POSTs pipelined (or
//             publishing --rate per second over all of them): the floor finds each
//             request's end (head, Content-Length, body) and writes a small JSON answer
//             for each; the answers of one wake-up in one io_uring submission. Per
//             publish.
//   tls       as pushwire-send-paths io_uring, but every message is first sealed as one
//             TLS record (OpenSSL, TLS 1.3, a session per connection over memory BIOs,
//             handshaken in memory): per delivery. The peer reads the bytes and does not
//             decrypt them. --cert/--key, or a fresh P-256 certificate.
//
//   pushwire-floors longpoll|publish|tls [--sockets N] [--rounds R] [--messages M]
//                   [--bytes B] [--rate R] [--warmup W] [--in-flight K]
//                   [--cert FILE --key FILE] [--json]
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double cpuSeconds() {
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

void noDelay(int fd) {
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

struct Options {
    std::string mode;
    int sockets = 1000;
    int rounds = 300;       // longpoll, tls: rounds; publish: measured publishes per connection
    int bytes = 100;        // a message's data
    double rate = 100;      // rounds a second (longpoll, tls); publishes a second (publish; 0: as accepted)
    int warmup = 20;        // rounds (or publishes per connection) before the measured ones
    int inFlight = 16;      // publish: pipelined requests per connection
    std::string cert, key;  // tls
    bool json = false;
};

// ------------------------------------------------------------------------ the wire

// What pushwire answers a long-poll with one message of `bytes` data bytes, in size.
std::string longpollAnswer(int bytes) {
    const std::string body = "{\"messages\":[{\"channel\":\"bench\",\"seq\":1234,\"time\":1700000000000,\"data\":\"" +
                             std::string(static_cast<std::size_t>(bytes), 'x') + "\"}],\"cursor\":\"1234\"}";
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

const std::string kLongpollRequest =
    "GET /pushwire/longpoll?channel=bench&since=1233&timeout_ms=60000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

std::string publishRequest(int bytes) {
    const std::string body =
        "{\"channel\":\"bench\",\"data\":\"" + std::string(static_cast<std::size_t>(bytes), 'x') + "\"}";
    return "POST /pushwire/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

const std::string kPublishAnswer =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"seq\":1234}";

// Counts the ends of requests ("\r\n\r\n") in a stream read in pieces.
struct HeadEnds {
    int matched = 0;  // bytes of "\r\n\r\n" seen at the end so far
    int count(const char* data, std::size_t size) {
        int ends = 0;
        for (std::size_t i = 0; i < size; ++i) {
            const char want = matched % 2 == 0 ? '\r' : '\n';
            if (data[i] == want) {
                if (++matched == 4) {
                    ++ends;
                    matched = 0;
                }
            } else {
                matched = data[i] == '\r' ? 1 : 0;
            }
        }
        return ends;
    }
};

// Requests with a body, found in a stream: head end, Content-Length, body.
struct RequestReader {
    std::string pending;
    int take(const char* data, std::size_t size) {
        pending.append(data, size);
        int complete = 0;
        std::size_t at = 0;
        for (;;) {
            const std::string_view rest(pending.data() + at, pending.size() - at);
            const std::size_t headEnd = rest.find("\r\n\r\n");
            if (headEnd == std::string_view::npos) break;
            const std::size_t lengthAt = rest.substr(0, headEnd).find("Content-Length: ");
            const std::size_t length =
                lengthAt == std::string_view::npos ? 0 : std::strtoul(rest.data() + lengthAt + 16, nullptr, 10);
            if (rest.size() < headEnd + 4 + length) break;
            at += headEnd + 4 + length;
            ++complete;
        }
        pending.erase(0, at);
        return complete;
    }
};

// ------------------------------------------------------------------------ writes

// The writes of one wake-up (or round), in one io_uring submission.
class Writer {
public:
    Writer() {
        if (io_uring_queue_init(4096, &ring_, 0) != 0) {
            std::fprintf(stderr, "io_uring is not available here\n");
            std::exit(3);
        }
    }
    void add(int fd, const char* data, std::size_t size) {
        if (queued_ == 4096) flush();
        io_uring_prep_send(io_uring_get_sqe(&ring_), fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
        ++queued_;
    }
    void flush() {
        if (queued_ == 0) return;
        io_uring_submit_and_wait(&ring_, queued_);
        for (unsigned i = 0; i < queued_; ++i) {
            io_uring_cqe* completion = nullptr;
            if (io_uring_wait_cqe(&ring_, &completion) != 0) break;
            if (completion->res < 0) failed_ = true;
            io_uring_cqe_seen(&ring_, completion);
        }
        queued_ = 0;
    }
    bool failed() const { return failed_; }

private:
    io_uring ring_{};
    unsigned queued_ = 0;
    bool failed_ = false;
};

// ------------------------------------------------------------------------ TLS

SSL_CTX* serverContext(const Options& o) {
    SSL_CTX* context = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(context, TLS1_3_VERSION);
    if (!o.cert.empty()) {
        if (SSL_CTX_use_certificate_chain_file(context, o.cert.c_str()) != 1 ||
            SSL_CTX_use_PrivateKey_file(context, o.key.c_str(), SSL_FILETYPE_PEM) != 1) {
            std::fprintf(stderr, "cannot load %s / %s\n", o.cert.c_str(), o.key.c_str());
            std::exit(1);
        }
        return context;
    }
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    SSL_CTX_use_certificate(context, cert);
    SSL_CTX_use_PrivateKey(context, key);
    X509_free(cert);
    EVP_PKEY_free(key);
    return context;
}

std::string takeAll(BIO* bio) {
    std::string bytes;
    char buffer[16 * 1024];
    int n;
    while ((n = BIO_read(bio, buffer, sizeof buffer)) > 0) bytes.append(buffer, static_cast<std::size_t>(n));
    return bytes;
}

// A server session handshaken in memory with a client that is then dropped; what the
// server writes next comes out of `out`.
struct Session {
    SSL* ssl = nullptr;
    BIO* out = nullptr;
};

bool handshake(SSL_CTX* server, SSL_CTX* clientContext, Session& session) {
    session.ssl = SSL_new(server);
    BIO* serverIn = BIO_new(BIO_s_mem());
    session.out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(serverIn, -1);
    SSL_set_bio(session.ssl, serverIn, session.out);
    SSL_set_accept_state(session.ssl);
    SSL* client = SSL_new(clientContext);
    BIO* clientIn = BIO_new(BIO_s_mem());
    BIO* clientOut = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(clientIn, -1);
    SSL_set_bio(client, clientIn, clientOut);
    SSL_set_connect_state(client);
    bool done = false;
    for (int step = 0; step < 20 && !done; ++step) {
        SSL_do_handshake(client);
        const std::string toServer = takeAll(clientOut);
        BIO_write(serverIn, toServer.data(), static_cast<int>(toServer.size()));
        SSL_do_handshake(session.ssl);
        const std::string toClient = takeAll(session.out);
        BIO_write(clientIn, toClient.data(), static_cast<int>(toClient.size()));
        done = SSL_is_init_finished(session.ssl) && SSL_is_init_finished(client);
    }
    takeAll(session.out);
    SSL_free(client);
    ERR_clear_error();
    return done;
}

// ------------------------------------------------------------------------ the peer

int connectTo(const sockaddr_in& address) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) _exit(1);
    noDelay(fd);
    return fd;
}

void sendAll(int fd, const std::string& bytes) {
    for (std::size_t at = 0; at < bytes.size();) {
        const ssize_t n = send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
        if (n <= 0) _exit(1);
        at += static_cast<std::size_t>(n);
    }
}

// The peer: connects every socket, then plays the client's part until it has every
// answer; writes its CPU time per unit (from the first measured one) to `report`.
[[noreturn]] void peer(const Options& o, const sockaddr_in& address, long warmupBytes, long expectedBytes, int report) {
    const int epoll = epoll_create1(0);
    std::vector<int> fds;
    for (int i = 0; i < o.sockets; ++i) {
        const int fd = connectTo(address);
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u32 = static_cast<std::uint32_t>(i);
        epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
        fds.push_back(fd);
    }
    const std::string request = o.mode == "publish" ? publishRequest(o.bytes) : kLongpollRequest;
    const long answerBytes =
        static_cast<long>(o.mode == "publish" ? kPublishAnswer.size() : longpollAnswer(o.bytes).size());
    const long perSocket = o.mode == "publish" ? o.warmup + o.rounds : 0;
    std::vector<long> sent(fds.size(), 0), bytesIn(fds.size(), 0);
    const long totalPublishes = perSocket * static_cast<long>(fds.size());
    long published = 0;
    auto next = Clock::now();
    const auto interval = std::chrono::nanoseconds(o.rate > 0 ? static_cast<long>(1e9 / o.rate) : 0);
    // Long-poll: every connection asks at once. Publish: each fills its window (paced:
    // the schedule decides).
    if (o.mode == "longpoll") {
        for (int fd : fds) sendAll(fd, request);
    } else if (o.mode == "publish" && o.rate <= 0) {
        for (std::size_t i = 0; i < fds.size(); ++i) {
            std::string window;
            for (; sent[i] < std::min<long>(o.inFlight, perSocket); ++sent[i]) window += request;
            sendAll(fds[i], window);
        }
    }
    std::vector<char> buffer(65536);
    epoll_event events[256];
    long received = 0;
    double before = -1;
    std::size_t turn = 0;  // paced publishes: the connection whose turn it is
    while (received < expectedBytes) {
        if (before < 0 && received >= warmupBytes) before = cpuSeconds();
        int timeout = 5000;
        if (o.mode == "publish" && o.rate > 0 && published < totalPublishes) {
            const auto now = Clock::now();
            while (now >= next && published < totalPublishes) {
                // The next connection with room in its window.
                for (std::size_t tries = 0; tries < fds.size(); ++tries, turn = (turn + 1) % fds.size()) {
                    if (sent[turn] < perSocket && sent[turn] - bytesIn[turn] / answerBytes < o.inFlight) break;
                }
                sendAll(fds[turn], request);
                ++sent[turn];
                ++published;
                turn = (turn + 1) % fds.size();
                next += interval;
            }
            // Rounded up: a wait of 0 would spin until the next publish is due.
            const auto wait = std::chrono::duration_cast<std::chrono::microseconds>(next - now).count();
            timeout = std::clamp(static_cast<int>((wait + 999) / 1000), 0, 4999);
        }
        const int ready = epoll_wait(epoll, events, 256, timeout);
        if (ready == 0 && timeout == 5000) _exit(1);  // nothing for 5 s: the floor failed
        for (int e = 0; e < ready; ++e) {
            const std::size_t i = events[e].data.u32;
            const ssize_t n = recv(fds[i], buffer.data(), buffer.size(), 0);
            if (n <= 0) _exit(1);
            received += n;
            const long answersBefore = bytesIn[i] / std::max(1L, answerBytes);
            bytesIn[i] += n;
            const long answers = bytesIn[i] / std::max(1L, answerBytes) - answersBefore;
            if (o.mode == "longpoll") {
                // Ask again for each answer, but not after the last one.
                for (long k = 0; k < answers; ++k) {
                    if (bytesIn[i] < static_cast<long>(o.warmup + o.rounds) * answerBytes) sendAll(fds[i], request);
                }
            } else if (o.mode == "publish" && o.rate <= 0) {
                std::string more;
                for (long k = 0; k < answers && sent[i] < perSocket; ++k, ++sent[i]) more += request;
                if (!more.empty()) sendAll(fds[i], more);
            }
        }
    }
    const double perUnit = (cpuSeconds() - before) * 1e6 / (static_cast<double>(o.rounds) * o.sockets);
    if (write(report, &perUnit, sizeof perUnit) != sizeof perUnit) _exit(1);
    _exit(0);
}

// ------------------------------------------------------------------------ the floors

struct Floor {
    std::vector<int> fds;
    int epoll = -1;
    Writer writer;
    double before = 0;
    double cpu = 0;
};

// Long-poll: requests read as they come, answered each round.
bool longpoll(const Options& o, Floor& f) {
    const std::string answer = longpollAnswer(o.bytes);
    std::vector<int> waiting(f.fds.size(), 0), owed(f.fds.size(), 0);
    std::vector<HeadEnds> heads(f.fds.size());
    std::vector<char> buffer(65536);
    epoll_event events[256];
    const auto interval = std::chrono::nanoseconds(static_cast<long>(1e9 / o.rate));
    auto next = Clock::now();
    int round = 0;
    long owedTotal = 0;
    while (round < o.warmup + o.rounds || owedTotal > 0) {
        const auto now = Clock::now();
        if (round < o.warmup + o.rounds && now >= next) {
            if (round == o.warmup) f.before = cpuSeconds();
            for (std::size_t i = 0; i < f.fds.size(); ++i) {
                if (waiting[i] > 0) {
                    --waiting[i];
                    f.writer.add(f.fds[i], answer.data(), answer.size());
                } else {
                    ++owed[i];
                    ++owedTotal;
                }
            }
            f.writer.flush();
            ++round;
            next += interval;
            continue;
        }
        const auto wait = std::chrono::duration_cast<std::chrono::microseconds>(next - now).count();
        const int timeout = round < o.warmup + o.rounds ? static_cast<int>((wait + 999) / 1000) : 5000;
        const int ready = epoll_wait(f.epoll, events, 256, std::max(0, timeout));
        if (ready == 0 && timeout >= 5000) return false;
        for (int e = 0; e < ready; ++e) {
            const std::size_t i = events[e].data.u32;
            const ssize_t n = recv(f.fds[i], buffer.data(), buffer.size(), 0);
            if (n <= 0) return false;
            waiting[i] += heads[i].count(buffer.data(), static_cast<std::size_t>(n));
            while (waiting[i] > 0 && owed[i] > 0) {
                --waiting[i];
                --owed[i];
                --owedTotal;
                f.writer.add(f.fds[i], answer.data(), answer.size());
            }
        }
        f.writer.flush();
    }
    f.cpu = cpuSeconds() - f.before;
    return !f.writer.failed();
}

// Publish: every request read, found and answered.
bool publish(const Options& o, Floor& f) {
    std::vector<RequestReader> readers(f.fds.size());
    std::vector<char> buffer(65536);
    epoll_event events[256];
    const long total = static_cast<long>(o.warmup + o.rounds) * static_cast<long>(f.fds.size());
    const long warmup = static_cast<long>(o.warmup) * static_cast<long>(f.fds.size());
    long answered = 0;
    bool measuring = false;
    // The answers of a wake-up stay in `out` until its writes are submitted.
    std::vector<std::string> out(f.fds.size());
    while (answered < total) {
        if (!measuring && answered >= warmup) {
            measuring = true;
            f.before = cpuSeconds();
        }
        const int ready = epoll_wait(f.epoll, events, 256, 5000);
        if (ready <= 0) return false;
        for (int e = 0; e < ready; ++e) {
            const std::size_t i = events[e].data.u32;
            const ssize_t n = recv(f.fds[i], buffer.data(), buffer.size(), 0);
            if (n <= 0) return false;
            const int complete = readers[i].take(buffer.data(), static_cast<std::size_t>(n));
            if (complete == 0) continue;
            answered += complete;
            out[i].clear();
            for (int k = 0; k < complete; ++k) out[i] += kPublishAnswer;
            f.writer.add(f.fds[i], out[i].data(), out[i].size());
        }
        f.writer.flush();
    }
    f.cpu = cpuSeconds() - f.before;
    return !f.writer.failed();
}

// TLS: each round seals one record per connection and writes them in one submission.
bool tls(const Options& o, Floor& f, std::vector<Session>& sessions) {
    const std::string message(static_cast<std::size_t>(o.bytes), 'x');
    std::vector<std::string> sealed(f.fds.size());
    const auto interval = std::chrono::nanoseconds(static_cast<long>(1e9 / o.rate));
    auto next = Clock::now();
    char chunk[16 * 1024];
    for (int round = 0; round < o.warmup + o.rounds; ++round) {
        if (round == o.warmup) f.before = cpuSeconds();
        for (std::size_t i = 0; i < f.fds.size(); ++i) {
            if (SSL_write(sessions[i].ssl, message.data(), static_cast<int>(message.size())) <= 0) return false;
            sealed[i].clear();
            for (int n; (n = BIO_read(sessions[i].out, chunk, sizeof chunk)) > 0;)
                sealed[i].append(chunk, static_cast<std::size_t>(n));
            f.writer.add(f.fds[i], sealed[i].data(), sealed[i].size());
        }
        f.writer.flush();
        next += interval;
        std::this_thread::sleep_until(next);
    }
    f.cpu = cpuSeconds() - f.before;
    return !f.writer.failed();
}

bool parse(int argc, char** argv, Options& o) {
    if (argc < 2) return false;
    o.mode = argv[1];
    if (o.mode != "longpoll" && o.mode != "publish" && o.mode != "tls") return false;
    if (o.mode == "publish") {
        o.sockets = 16;
        o.rounds = 2000;
        o.rate = 0;
    }
    for (int i = 2; i < argc; ++i) {
        const std::string name = argv[i];
        if (name == "--json") {
            o.json = true;
            continue;
        }
        if (i + 1 >= argc) return false;
        const char* value = argv[++i];
        if (name == "--sockets") o.sockets = std::atoi(value);
        else if (name == "--rounds" || name == "--messages") o.rounds = std::atoi(value);
        else if (name == "--bytes") o.bytes = std::atoi(value);
        else if (name == "--rate") o.rate = std::atof(value);
        else if (name == "--warmup") o.warmup = std::atoi(value);
        else if (name == "--in-flight") o.inFlight = std::atoi(value);
        else if (name == "--cert") o.cert = value;
        else if (name == "--key") o.key = value;
        else return false;
    }
    if (o.sockets <= 0 || o.rounds <= 0 || o.bytes <= 0 || o.warmup < 0 || o.inFlight <= 0) return false;
    if (o.mode != "publish" && o.rate <= 0) return false;
    return o.cert.empty() == o.key.empty();
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) {
        std::fprintf(stderr,
                     "usage: pushwire-floors longpoll|publish|tls [--sockets N] [--rounds R] [--bytes B] [--rate R]\n"
                     "       [--warmup W] [--in-flight K] [--cert FILE --key FILE] [--json]\n"
                     "  publish: --rounds is publishes per connection, --rate publishes a second over all of them\n"
                     "  (0: as fast as accepted, --in-flight pipelined on each); longpoll and tls: rounds a second\n");
        return 2;
    }
    std::vector<Session> sessions;
    long recordBytes = 0;
    if (o.mode == "tls") {
        SSL_CTX* server = serverContext(o);
        SSL_CTX* client = SSL_CTX_new(TLS_client_method());
        sessions.resize(static_cast<std::size_t>(o.sockets) + 1);
        for (auto& session : sessions) {
            if (!handshake(server, client, session)) {
                std::fprintf(stderr, "TLS handshake in memory failed\n");
                return 1;
            }
        }
        // The size of one sealed record, from a session no connection uses.
        const std::string message(static_cast<std::size_t>(o.bytes), 'x');
        SSL_write(sessions.back().ssl, message.data(), static_cast<int>(message.size()));
        recordBytes = static_cast<long>(takeAll(sessions.back().out).size());
        sessions.pop_back();
    }

    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(listener, 4096) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        std::perror("listen");
        return 1;
    }
    // What the peer reads: every answer (or record) of every connection.
    const long perUnit = o.mode == "longpoll"  ? static_cast<long>(longpollAnswer(o.bytes).size())
                         : o.mode == "publish" ? static_cast<long>(kPublishAnswer.size())
                                               : recordBytes;
    const long warmupBytes = static_cast<long>(o.sockets) * o.warmup * perUnit;
    const long expectedBytes = warmupBytes + static_cast<long>(o.sockets) * o.rounds * perUnit;
    int report[2];
    if (pipe(report) != 0) {
        std::perror("pipe");
        return 1;
    }
    const pid_t child = fork();
    if (child == 0) peer(o, address, warmupBytes, expectedBytes, report[1]);

    const timeval patience{10, 0};
    setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    Floor f;
    f.epoll = epoll_create1(0);
    for (int i = 0; i < o.sockets; ++i) {
        const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
        if (fd < 0) {
            std::perror("accept");
            kill(child, SIGKILL);
            waitpid(child, nullptr, 0);
            return 1;
        }
        noDelay(fd);
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u32 = static_cast<std::uint32_t>(i);
        epoll_ctl(f.epoll, EPOLL_CTL_ADD, fd, &event);
        f.fds.push_back(fd);
    }
    if (o.mode == "tls") std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const bool ok = o.mode == "longpoll" ? longpoll(o, f) : o.mode == "publish" ? publish(o, f) : tls(o, f, sessions);
    double peerCpu = 0;
    const bool received = ok && read(report[0], &peerCpu, sizeof peerCpu) == sizeof peerCpu;
    if (!ok) kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    if (!received || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "pushwire-floors %s: the %s failed\n", o.mode.c_str(), ok ? "peer" : "floor");
        return 1;
    }
    const double units = static_cast<double>(o.sockets) * o.rounds;
    const double perUnitUs = f.cpu * 1e6 / units;
    const char* unit = o.mode == "publish" ? "publish" : "delivery";
    if (o.json) {
        std::printf(
            "{\"scenario\":\"floor\",\"target\":\"floor\",\"send\":\"%s\",\"subscribers\":%d,\"messages\":%d,"
            "\"bytes\":%d,\"rate\":%g,\"in_flight\":%d,\"server_cpu_us_per_%s\":%.4f,\"bench_cpu_us_per_%s\":%.4f}\n",
            o.mode.c_str(), o.sockets, o.rounds, o.bytes, o.rate, o.mode == "publish" ? o.inFlight : 0, unit, perUnitUs,
            unit, peerCpu);
    } else {
        std::printf("%s floor: %.2f us CPU per %s (peer %.2f), %d connections x %d\n", o.mode.c_str(), perUnitUs, unit,
                    peerCpu, o.sockets, o.rounds);
    }
    return 0;
}
