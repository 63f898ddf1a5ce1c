// A tiny value-or-error type: the client is built without exceptions, so the protocol
// reports failures as values (like cpp-httplib's Result).
#pragma once

#include <utility>
#include <variant>

#include "pushwire/protocol/errors.hpp"

namespace pushwire::protocol {

template <typename T>
class Result {
public:
    Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
    Result(Error error) : v_(std::move(error)) {}  // NOLINT
    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(v_); }
    const T& value() const { return std::get<0>(v_); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() { return value(); }
    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

}  // namespace pushwire::protocol
