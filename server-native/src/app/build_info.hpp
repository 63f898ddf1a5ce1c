// What was built: the version and the git commit (pushwire_build_info, --version).
#pragma once

namespace pushwire::server {

// The short commit the binary was built from ("unknown" outside a git checkout).
const char* buildCommit();

}  // namespace pushwire::server
