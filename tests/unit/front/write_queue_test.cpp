#include "front/write_queue.hpp"

#include <catch2/catch.hpp>

namespace write_queue_test {

using pushwire::server::WriteQueue;

TEST_CASE("the write queue gathers its chunks in order and drops what was written, also mid-chunk") {
    WriteQueue queue;
    queue.push(std::string("hello "));
    auto shared = std::make_shared<const std::string>("world");
    queue.push(shared->data(), shared->size(), shared);
    queue.push(std::string(""));  // nothing to send is not a chunk
    CHECK(queue.bytes() == 11);
    iovec parts[4];
    REQUIRE(queue.gather(parts, 4) == 2);
    CHECK(std::string(static_cast<char*>(parts[0].iov_base), parts[0].iov_len) == "hello ");
    queue.consume(8);
    CHECK(queue.bytes() == 3);
    CHECK(queue.consumedTotal() == 8);
    REQUIRE(queue.gather(parts, 4) == 1);
    CHECK(std::string(static_cast<char*>(parts[0].iov_base), parts[0].iov_len) == "rld");
    queue.consume(100);  // more than queued: everything
    CHECK(queue.empty());
    CHECK(queue.consumedTotal() == 11);
}

TEST_CASE("the write queue hands out at most as many iovecs as asked") {
    WriteQueue queue;
    for (int i = 0; i < 10; ++i) queue.push(std::to_string(i));
    iovec parts[3];
    CHECK(queue.gather(parts, 3) == 3);
}

}  // namespace write_queue_test
