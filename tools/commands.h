#pragma once
// Subcommands of the saliency CLI. Each registers its options on the app and returns the
// function that runs it; the function returns the process exit code.
#include <functional>

namespace CLI {
class App;
}

namespace saliency::cli {

using Command = std::function<int()>;

Command add_check_command(CLI::App& app);
Command add_predict_command(CLI::App& app);
Command add_convert_command(CLI::App& app);
Command add_explain_command(CLI::App& app);
Command add_bench_command(CLI::App& app);
Command add_train_command(CLI::App& app);
Command add_demo_command(CLI::App& app);
Command add_eval_command(CLI::App& app);
Command add_trace_command(CLI::App& app);

}  // namespace saliency::cli
