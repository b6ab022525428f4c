#pragma once
// The saliency command line as a function, so the program's main() and the argument-parsing
// fuzzer (tests/fuzz) share one definition of every command and option.
#include <string>
#include <vector>

namespace saliency::cli {

// Parses and runs; returns the exit code: 0 ok, 1 runtime failure, 2 bad usage or bad input.
// Library errors become one line on stderr.
int run(int argc, char** argv);

// Parses `arguments` (arguments[0] is the program name) exactly as run() would, but runs no
// command. Returns 0 when they parse, 2 when they do not.
int parse_only(const std::vector<std::string>& arguments);

}  // namespace saliency::cli
