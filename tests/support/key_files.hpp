// A temporary folder holding a token secret and an API key as the server reads them
// (--token-secret-file DIR/secret, --api-key-file DIR/api-key), removed with the object.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace pushwire::testing {

struct KeyFiles {
    KeyFiles(const std::string& secret, const std::string& apiKey) {
        char pattern[] = "/tmp/pushwire-keys-XXXXXX";
        if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
        dir = pattern;
        std::ofstream(dir + "/secret") << secret << "\n";
        std::ofstream(dir + "/api-key") << apiKey << "\n";
    }
    ~KeyFiles() { std::filesystem::remove_all(dir); }
    KeyFiles(const KeyFiles&) = delete;
    KeyFiles& operator=(const KeyFiles&) = delete;
    std::string dir;
};

}  // namespace pushwire::testing
