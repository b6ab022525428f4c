// The saliency command-line tool. Library errors are exceptions; here they become one line on
// stderr and an exit code: 0 ok, 1 runtime failure, 2 bad usage or bad input.
#include <CLI/CLI.hpp>

#include <iostream>

#include "core/error.h"
#include "core/version.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cuda/runtime.h"
#include "tools/commands.h"

namespace {

void print_version() {
  std::cout << "saliency " << SALIENCY_VERSION << "\n"
            << "CPU threads: " << saliency::kernels::cpu::num_threads() << "\n"
            << saliency::kernels::cuda::describe_cuda() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"saliency: explain image classifiers with gradient-based saliency maps"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "Print the version and the build's backends");

  saliency::cli::Command check = saliency::cli::add_check_command(app);
  saliency::cli::Command predict = saliency::cli::add_predict_command(app);
  saliency::cli::Command convert = saliency::cli::add_convert_command(app);
  saliency::cli::Command explain = saliency::cli::add_explain_command(app);
  saliency::cli::Command bench = saliency::cli::add_bench_command(app);
  saliency::cli::Command train = saliency::cli::add_train_command(app);
  saliency::cli::Command demo = saliency::cli::add_demo_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }
  try {
    if (show_version) {
      print_version();
      return 0;
    }
    if (app.got_subcommand("check")) return check();
    if (app.got_subcommand("predict")) return predict();
    if (app.got_subcommand("convert")) return convert();
    if (app.got_subcommand("explain")) return explain();
    if (app.got_subcommand("bench")) return bench();
    if (app.got_subcommand("train")) return train();
    if (app.got_subcommand("demo")) return demo();
    std::cout << app.help();
    return 2;
  } catch (const saliency::InvalidArgument& error) {
    std::cerr << "saliency: " << error.what() << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "saliency: " << error.what() << "\n";
    return 1;
  }
}
