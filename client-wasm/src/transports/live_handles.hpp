// Browser callbacks (EventSource events, WebSocket events) reach C++ with an integer
// handle, never a pointer: a transport registers itself under a fresh handle and drops it
// when it closes, so an event for a closed or destroyed transport finds nothing.
#pragma once

#include <map>

namespace pushwire::client {

template <typename T>
class LiveHandles {
public:
    int add(T* object) {
        int handle = next_++;
        objects_.emplace(handle, object);
        return handle;
    }
    void remove(int handle) { objects_.erase(handle); }
    T* find(int handle) const {
        auto it = objects_.find(handle);
        return it == objects_.end() ? nullptr : it->second;
    }

private:
    std::map<int, T*> objects_;
    int next_ = 1;
};

}  // namespace pushwire::client
