// pushwire-tls-records: what one TLS record costs the server in user space, the number
// behind docs/benchmarks.md's TLS section. N server sessions (the server's own TlsSession,
// memory BIOs) each complete a handshake with an OpenSSL client in memory; then every
// round seals one frame of B bytes into each session in turn, as a fan-out does, so each
// seal finds its session's state out of cache; then the same count of seals into one
// session (the warm best case). No sockets: OpenSSL and the session's own buffers alone.
//
//   pushwire-tls-records --cert FILE --key FILE [--sessions N] [--rounds R] [--bytes B]
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "front/tls.hpp"

namespace {

using pushwire::server::TlsContext;
using pushwire::server::TlsSession;

struct Client {
    SSL* ssl = nullptr;
    BIO* in = nullptr;   // from the server
    BIO* out = nullptr;  // to the server
    Client() = default;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    ~Client() { SSL_free(ssl); }
};

std::string takeAll(BIO* bio) {
    std::string bytes;
    char buffer[16 * 1024];
    int n;
    while ((n = BIO_read(bio, buffer, sizeof buffer)) > 0) bytes.append(buffer, static_cast<std::size_t>(n));
    return bytes;
}

// Both sides to established, the server's session tickets read by the client.
bool handshake(SSL_CTX* clientContext, TlsSession& session, Client& client) {
    client.ssl = SSL_new(clientContext);
    client.in = BIO_new(BIO_s_mem());
    client.out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(client.in, -1);
    SSL_set_bio(client.ssl, client.in, client.out);
    SSL_set_connect_state(client.ssl);
    std::string plaintext;
    for (int step = 0; step < 20; ++step) {
        SSL_do_handshake(client.ssl);
        const std::string toServer = takeAll(client.out);
        if (!session.receive(toServer.data(), toServer.size(), plaintext)) return false;
        std::string toClient;
        session.drain(toClient);
        BIO_write(client.in, toClient.data(), static_cast<int>(toClient.size()));
        if (session.established() && SSL_is_init_finished(client.ssl)) {
            char none[1];
            SSL_read(client.ssl, none, sizeof none);  // the tickets; no data: WANT_READ
            ERR_clear_error();
            return true;
        }
    }
    return false;
}

double nsPerSeal(std::vector<std::unique_ptr<TlsSession>>& sessions, std::size_t seals, const std::string& frame) {
    std::string out;
    out.reserve(frame.size() + 64);
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < seals; ++i) {
        out.clear();
        if (!sessions[i % sessions.size()]->seal(frame.data(), frame.size(), out)) {
            std::fprintf(stderr, "seal failed\n");
            std::exit(1);
        }
    }
    const std::chrono::duration<double, std::nano> elapsed = std::chrono::steady_clock::now() - start;
    return elapsed.count() / static_cast<double>(seals);
}

}  // namespace

int main(int argc, char** argv) {
    std::string cert, key;
    std::size_t count = 1000, rounds = 200, bytes = 102;  // a WebSocket frame of 100
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string name = argv[i];
        const char* value = argv[i + 1];
        if (name == "--cert") {
            cert = value;
        } else if (name == "--key") {
            key = value;
        } else if (name == "--sessions") {
            count = std::strtoul(value, nullptr, 10);
        } else if (name == "--rounds") {
            rounds = std::strtoul(value, nullptr, 10);
        } else if (name == "--bytes") {
            bytes = std::strtoul(value, nullptr, 10);
        } else {
            std::fprintf(stderr, "unknown option %s\n", name.c_str());
            return 2;
        }
    }
    if (cert.empty() || key.empty() || count == 0 || rounds == 0) {
        std::fprintf(stderr,
                     "usage: pushwire-tls-records --cert FILE --key FILE [--sessions N] [--rounds R] [--bytes B]\n");
        return 2;
    }
    const TlsContext context(cert, key);
    SSL_CTX* clientContext = SSL_CTX_new(TLS_client_method());
    std::vector<std::unique_ptr<TlsSession>> sessions;
    std::vector<Client> clients(count);
    for (std::size_t i = 0; i < count; ++i) {
        sessions.push_back(std::make_unique<TlsSession>(context));
        if (!handshake(clientContext, *sessions.back(), clients[i])) {
            std::fprintf(stderr, "handshake %zu failed\n", i);
            return 1;
        }
    }
    const std::string frame(bytes, 'x');
    const std::size_t seals = count * rounds;
    nsPerSeal(sessions, count, frame);  // one record each first, not measured
    const double cold = nsPerSeal(sessions, seals, frame);
    std::vector<std::unique_ptr<TlsSession>> one;
    one.push_back(std::move(sessions.front()));
    const double warm = nsPerSeal(one, seals, frame);
    std::printf("%s, %zu-byte records: %.0f ns per record sealed into %zu sessions in turn, %.0f ns into one\n",
                SSL_CIPHER_get_name(SSL_get_current_cipher(clients.front().ssl)), frame.size(), cold, count, warm);
    SSL_CTX_free(clientContext);
    return 0;
}
