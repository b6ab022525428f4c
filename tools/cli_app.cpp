#include "tools/cli_app.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <utility>

#include "core/error.h"
#include "core/version.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cuda/runtime.h"
#include "tools/commands.h"

namespace saliency::cli {
namespace {

void print_version() {
  std::cout << "saliency " << SALIENCY_VERSION << "\n"
            << "CPU threads: " << kernels::cpu::num_threads() << "\n"
            << kernels::cuda::describe_cuda() << "\n";
}

// The app with every subcommand registered, and what runs each.
struct Application {
  CLI::App app{"saliency: explain image classifiers with gradient-based saliency maps"};
  bool show_version = false;
  std::string conv;
  CLI::Option* conv_option = nullptr;
  std::vector<std::pair<std::string, Command>> commands;

  Application() {
    app.require_subcommand(0, 1);
    app.fallthrough();  // subcommands (registered below) pass --conv up to the app
    app.add_flag("--version", show_version, "Print the version and the build's backends");
    conv_option =
        app.add_option("--conv", conv,
                       "CPU convolutions: direct (default: matches PyTorch within float32's "
                       "floor), winograd (F(4x4,3x3) on the 3x3 stride-1 layers where the batch "
                       "holds 32 tiles or more: faster, 6-12x the direct rounding error per "
                       "layer; never under LRP) or im2col (the reference). Overrides "
                       "$SALIENCY_CONV")
            ->check(CLI::IsMember({"direct", "winograd", "im2col"}));
    commands = {{"check", add_check_command(app)},     {"predict", add_predict_command(app)},
                {"convert", add_convert_command(app)}, {"explain", add_explain_command(app)},
                {"bench", add_bench_command(app)},     {"train", add_train_command(app)},
                {"demo", add_demo_command(app)},       {"eval", add_eval_command(app)},
                {"trace", add_trace_command(app)}};
  }

  int dispatch() {
    if (show_version) {
      print_version();
      return 0;
    }
    if (conv_option->count() > 0)
      kernels::cpu::set_conv_algorithm(
          conv == "winograd" ? kernels::cpu::ConvAlgorithmChoice::winograd
          : conv == "im2col" ? kernels::cpu::ConvAlgorithmChoice::im2col
                             : kernels::cpu::ConvAlgorithmChoice::direct);
    for (auto& [name, command] : commands)
      if (app.got_subcommand(name)) return command();
    std::cout << app.help();
    return 2;
  }
};

}  // namespace

int run(int argc, char** argv) {
  Application application;
  try {
    application.app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = application.app.exit(error);
    return code == 0 ? 0 : 2;
  }
  try {
    return application.dispatch();
  } catch (const InvalidArgument& error) {
    std::cerr << "saliency: " << error.what() << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "saliency: " << error.what() << "\n";
    return 1;
  }
}

int parse_only(const std::vector<std::string>& arguments) {
  Application application;
  // CLI11 takes the arguments after the program name, last first.
  std::vector<std::string> reversed(arguments.rbegin(), arguments.rend());
  if (!reversed.empty()) reversed.pop_back();
  try {
    application.app.parse(reversed);
  } catch (const CLI::ParseError&) {
    return 2;
  }
  return 0;
}

}  // namespace saliency::cli
