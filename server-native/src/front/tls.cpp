#include "front/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>

namespace pushwire::server {

namespace {

std::string opensslError(const std::string& what) {
    char text[256] = {};
    const unsigned long code = ERR_get_error();
    if (code) ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    return what + (code ? std::string(": ") + text : std::string());
}

// Browsers are offered HTTP/1.1 only: WebSocket and SSE here are HTTP/1.1.
int selectAlpn(SSL*, const unsigned char** out, unsigned char* outLength, const unsigned char* in,
               unsigned int inLength, void*) {
    static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outLength, kHttp11, sizeof kHttp11, in, inLength) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

// The output side: a BIO whose writes append to a std::string the session points it at,
// so a record goes from OpenSSL's buffer straight into what the connection queues (a
// memory BIO would copy it once more, and grow and shrink its own buffer per record).
int appendWrite(BIO* bio, const char* data, int length) {
    auto* out = static_cast<std::string*>(BIO_get_data(bio));
    if (!out || length < 0) return -1;
    out->append(data, static_cast<std::size_t>(length));
    return length;
}

long appendControl(BIO*, int command, long, void*) {
    return command == BIO_CTRL_FLUSH || command == BIO_CTRL_PUSH || command == BIO_CTRL_POP ? 1 : 0;
}

int appendCreate(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

BIO_METHOD* appendMethod() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pushwire append");
        if (!m || BIO_meth_set_write(m, appendWrite) != 1 || BIO_meth_set_ctrl(m, appendControl) != 1 ||
            BIO_meth_set_create(m, appendCreate) != 1) {
            throw std::runtime_error("TLS: cannot create the output BIO method");
        }
        return m;
    }();
    return method;
}

}  // namespace

TlsContext::TlsContext(const std::string& certChainFile, const std::string& keyFile) {
    context_ = SSL_CTX_new(TLS_server_method());
    if (!context_) throw std::runtime_error(opensslError("TLS: cannot create a context"));
    SSL_CTX_set_min_proto_version(context_, TLS1_2_VERSION);
    // Idle connections hold no read or write buffers (most subscribers are idle).
    SSL_CTX_set_mode(context_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_CTX_set_options(context_, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_alpn_select_cb(context_, selectAlpn, nullptr);
    if (SSL_CTX_use_certificate_chain_file(context_, certChainFile.c_str()) != 1) {
        const std::string why = opensslError("--tls-cert " + certChainFile);
        SSL_CTX_free(context_);
        throw std::runtime_error(why);
    }
    if (SSL_CTX_use_PrivateKey_file(context_, keyFile.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(context_) != 1) {
        const std::string why = opensslError("--tls-key " + keyFile);
        SSL_CTX_free(context_);
        throw std::runtime_error(why);
    }
}

TlsContext::~TlsContext() { SSL_CTX_free(context_); }

TlsSession::TlsSession(const TlsContext& context) {
    ssl_ = SSL_new(context.get());
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(appendMethod());
    if (!ssl_ || !in_ || !out_) throw std::runtime_error("TLS: out of memory");
    BIO_set_data(out_, &pending_);
    BIO_set_mem_eof_return(in_, -1);  // an empty input is "wait for more", not EOF
    SSL_set_bio(ssl_, in_, out_);     // owned by ssl_ from here
    SSL_set_accept_state(ssl_);
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

void TlsSession::drain(std::string& out) {
    if (pending_.empty()) return;
    if (out.empty()) {
        out.swap(pending_);
    } else {
        out += pending_;
        pending_.clear();
    }
}

bool TlsSession::receive(const char* bytes, std::size_t size, std::string& plaintext) {
    if (size > 0 && BIO_write(in_, bytes, static_cast<int>(size)) != static_cast<int>(size)) return false;
    if (!established_) {
        const int result = SSL_do_handshake(ssl_);
        if (result != 1) return goOn(SSL_get_error(ssl_, result));
        established_ = true;
    }
    char buffer[16 * 1024];
    for (;;) {
        const int n = SSL_read(ssl_, buffer, sizeof buffer);
        if (n > 0) {
            plaintext.append(buffer, static_cast<std::size_t>(n));
            continue;
        }
        return goOn(SSL_get_error(ssl_, n));
    }
}

bool TlsSession::goOn(int error) {
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return true;
    }
    if (error != SSL_ERROR_ZERO_RETURN) {  // ZERO_RETURN: the peer's close_notify, no failure
        const unsigned long code = ERR_peek_error();
        const char* reason = code ? ERR_reason_error_string(code) : nullptr;
        plainHttp_ = ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST;
        failure_ = reason ? reason : "SSL error " + std::to_string(error);
    }
    ERR_clear_error();
    return false;
}

bool TlsSession::seal(const char* bytes, std::size_t size, std::string& out) {
    drain(out);  // anything the session had to send goes first
    BIO_set_data(out_, &out);
    struct Restore {
        TlsSession* self;
        ~Restore() { BIO_set_data(self->out_, &self->pending_); }
    } restore{this};
    while (size > 0) {
        const int n = SSL_write(ssl_, bytes, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
        if (n <= 0) {
            ERR_clear_error();
            return false;
        }
        bytes += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

void TlsSession::shutdown(std::string& out) {
    if (established_) SSL_shutdown(ssl_);
    ERR_clear_error();
    drain(out);
}

}  // namespace pushwire::server
