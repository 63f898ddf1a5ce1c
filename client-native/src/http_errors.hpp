// What went wrong with a cpp-httplib request that got no answer, for a person: TLS
// failures named as such (an unverified certificate says how to trust its CA). Shared by
// the native platform and the command line's one-shot requests.
#pragma once

#include <httplib.h>

#include <string>

namespace pushwire::client {

inline std::string describeHttpError(httplib::Error error) {
    switch (error) {
        case httplib::Error::SSLServerVerification:
            return "TLS: the server's certificate could not be verified (signed by a CA not trusted here, or for "
                   "another host name; give its CA with --ca-file / ClientOptions::caFile)";
        case httplib::Error::SSLLoadingCerts: return "TLS: the CA certificates could not be loaded";
        case httplib::Error::SSLConnection: return "TLS: the handshake failed";
        case httplib::Error::Connection: return "could not connect";
        default: return httplib::to_string(error);
    }
}

// A verification failure: trying again (or elsewhere) cannot mend it.
inline bool isTlsVerificationError(httplib::Error error) {
    return error == httplib::Error::SSLServerVerification || error == httplib::Error::SSLLoadingCerts;
}

// A client for "http(s)://host:port": https verified (certificate and host name) against
// `caFile` (PEM), or the system's store when it is empty. Never unverified.
inline httplib::Client makeHttpClient(const std::string& origin, const std::string& caFile) {
    httplib::Client http(origin);
    http.enable_server_certificate_verification(true);
    if (!caFile.empty()) http.set_ca_cert_path(caFile.c_str());
    return http;
}

}  // namespace pushwire::client
