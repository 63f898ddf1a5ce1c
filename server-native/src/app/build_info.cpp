#include "app/build_info.hpp"

#include "pushwire_commit.h"  // generated at every build (cmake/commit.cmake)

namespace pushwire::server {

const char* buildCommit() { return PUSHWIRE_COMMIT; }

}  // namespace pushwire::server
