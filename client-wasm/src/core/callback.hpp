// A move-only callable: what a timer or a request in flight keeps until it runs.
//
// Not std::function, which must be copyable: for every lambda type it holds, libc++ emits
// copy ("clone") and allocator code besides the call, and in the browser module that was
// about 5 KB for the client's few dozen timer and request callbacks. A Callback emits the
// call and the destructor. Single-threaded, as the client is.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

namespace pushwire::client {

template <typename Signature>
class Callback;

template <typename R, typename... Args>
class Callback<R(Args...)> {
public:
    Callback() = default;
    Callback(std::nullptr_t) {}  // NOLINT: as std::function, "no callback"
    template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Callback>>>
    Callback(F&& f)  // NOLINT: implicit, as std::function's
        : target_(new Holder<std::decay_t<F>>(std::forward<F>(f))) {}
    Callback(Callback&& other) noexcept : target_(std::exchange(other.target_, nullptr)) {}
    Callback& operator=(Callback&& other) noexcept {
        if (this != &other) {
            delete target_;
            target_ = std::exchange(other.target_, nullptr);
        }
        return *this;
    }
    Callback(const Callback&) = delete;
    Callback& operator=(const Callback&) = delete;
    ~Callback() { delete target_; }

    explicit operator bool() const { return target_ != nullptr; }
    R operator()(Args... args) const { return target_->call(std::forward<Args>(args)...); }

private:
    struct Base {
        virtual ~Base() = default;
        virtual R call(Args... args) = 0;
    };
    template <typename F>
    struct Holder final : Base {
        template <typename G>
        explicit Holder(G&& g) : f(std::forward<G>(g)) {}
        R call(Args... args) override { return f(std::forward<Args>(args)...); }
        F f;
    };
    Base* target_ = nullptr;
};

}  // namespace pushwire::client
