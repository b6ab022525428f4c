// The saliency command-line tool; see tools/cli_app.h.
#include "tools/cli_app.h"

int main(int argc, char** argv) {
  return saliency::cli::run(argc, argv);
}
