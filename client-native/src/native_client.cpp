// pushwire::Client's native constructors: the core on a NativePlatform over the
// application's io_context, with the native transport table. The rest of Client is
// client-wasm/src/api/client.cpp, shared with the browser build.
#include <asio/io_context.hpp>

#include "core/client_core.hpp"
#include "native_platform.hpp"
#include "native_transports.hpp"
#include "pushwire/client.hpp"

namespace pushwire {

Client::Client(asio::io_context& io, const std::string& url, ClientOptions options)
    : Client(io, std::vector<std::string>{url}, std::move(options)) {}

Client::Client(asio::io_context& io, const std::vector<std::string>& urls, ClientOptions options)
    : platform_(std::make_unique<client::NativePlatform>(io, options.caFile)),
      core_(std::make_unique<client::ClientCore>(*platform_, client::nativeTransports(), urls, std::move(options))) {
    core_->start();
}

Client::~Client() { core_->close(); }

}  // namespace pushwire
