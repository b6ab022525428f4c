#pragma once
// Errors are exceptions with context. The CLI maps them to exit codes: InvalidArgument (bad
// usage or bad input, including shape and dtype mismatches) exits 2, any other Error exits 1.
#include <sstream>
#include <stdexcept>
#include <string>

namespace saliency {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The caller gave something unusable: a wrong shape, a bad file, an unknown option value.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// Joins any streamable values into one message.
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

}  // namespace saliency

// Throws InvalidArgument with the streamed message when the condition fails.
#define SALIENCY_CHECK(condition, ...)                                                    \
  do {                                                                                    \
    if (!(condition)) throw ::saliency::InvalidArgument(::saliency::concat(__VA_ARGS__)); \
  } while (false)

// For broken internal invariants: a bug of ours, not of the caller.
#define SALIENCY_ASSERT(condition, ...)                                                         \
  do {                                                                                          \
    if (!(condition))                                                                           \
      throw ::saliency::Error(                                                                  \
          ::saliency::concat("internal error (", __FILE__, ":", __LINE__, "): ", __VA_ARGS__)); \
  } while (false)
