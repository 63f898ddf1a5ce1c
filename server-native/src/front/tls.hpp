// TLS for the front: HTTPS and WSS on the same ports (--tls-cert, --tls-key). OpenSSL
// in user space through memory BIOs, so the front's own write path stays: a connection
// encrypts what it writes as it queues it, and the ciphertext leaves in the same batched
// io_uring submission as plaintext would. (kTLS could hand the record layer to the
// kernel, but these machines offer no `tls` ULP: see docs/security.md.)
//
// Threading: the loop thread.
#pragma once

#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace pushwire::server {

class TlsContext {
public:
    // Throws std::runtime_error with OpenSSL's reason when the files cannot be used.
    TlsContext(const std::string& certChainFile, const std::string& keyFile);
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;
    SSL_CTX* get() const { return context_; }

private:
    SSL_CTX* context_ = nullptr;
};

// One connection's TLS state: bytes from the socket in, plaintext out; plaintext in,
// bytes for the socket out.
class TlsSession {
public:
    explicit TlsSession(const TlsContext& context);
    ~TlsSession();
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    // Feeds bytes read from the socket; appends what they decrypt to `plaintext`. False
    // on a fatal error (a bad handshake, a forged record) or the peer's close_notify.
    bool receive(const char* bytes, std::size_t size, std::string& plaintext);
    // After receive() returned false: OpenSSL's reason ("wrong version number", "no shared
    // cipher"...), or empty when the peer closed with close_notify.
    const std::string& failure() const { return failure_; }
    // The failure was a plain HTTP request sent to this TLS port.
    bool plainHttp() const { return plainHttp_; }
    // Encrypts `size` bytes into TLS records, appended to `out`.
    bool seal(const char* bytes, std::size_t size, std::string& out);
    // close_notify, appended to `out`.
    void shutdown(std::string& out);
    // What the session has to send by itself (handshake messages, alerts, tickets).
    void drain(std::string& out);
    bool established() const { return established_; }

private:
    // True to go on (OpenSSL wants more bytes); false on a fatal error, noted in failure_.
    bool goOn(int error);

    SSL* ssl_ = nullptr;
    BIO* in_ = nullptr;   // socket -> OpenSSL
    BIO* out_ = nullptr;  // OpenSSL -> socket: appends to pending_, or to seal()'s `out`
    std::string pending_;
    std::string failure_;
    bool established_ = false;
    bool plainHttp_ = false;
};

}  // namespace pushwire::server
