// The litepipe command line: run a pipeline file, inspect its metadata, run one executor.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/compile_commands.h"
#include "cli/eval_commands.h"
#include "cli/model_commands.h"
#include "core/error.h"
#include "core/log.h"

int main(int argc, char** argv) {
  CLI::App app{"litepipe: TFX-style ML pipelines in C++, for models that ship to phones"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Debug logging");

  litepipe::RunCommand run;
  auto* run_cmd = app.add_subcommand("run", "Run a pipeline file: on this machine, or as Slurm jobs (--runner slurm)");
  run_cmd->add_option("pipeline", run.pipeline_file, "Pipeline YAML file")->required()->check(CLI::ExistingFile);
  run_cmd->add_option("--pipeline-root", run.pipeline_root, "Override the file's pipeline_root");
  run_cmd->add_flag("--no-cache", run.no_cache, "Run every component even if its inputs are unchanged");
  run_cmd->add_flag("--executor-process", run.executor_process, "Run each executor in its own process");
  run_cmd->add_flag("--no-wait", run.no_wait, "Fail at once if another run holds the pipeline root (default: wait for it)");
  run_cmd->add_option("--component", run.component,
                      "Run only this component (id), as one job of --run: inputs are its upstream components' outputs in that run");
  run_cmd->add_option("--run", run.run_id, "Run id to record under (created if absent); required with --component");
  constexpr const char* kMetadataHelp =
      "Metadata store URL: sqlite:///ABSOLUTE/PATH or postgresql://USER@HOST:PORT/DATABASE (default: the pipeline's SQLite file)";
  run_cmd->add_option("--metadata", run.metadata, kMetadataHelp);
  run_cmd->add_option("--runner", run.runner, "local (this machine) | slurm (one sbatch job per component, waited for)")
      ->check(CLI::IsMember({"local", "slurm"}));
  run_cmd->add_option("--partition", run.partition, "With --runner slurm: the partition to submit to (default: the cluster's)");

  litepipe::InspectCommand inspect;
  auto* inspect_cmd = app.add_subcommand("inspect", "Show runs, executions, artifacts and lineage from the metadata store");
  inspect_cmd->add_option("what", inspect.what, "runs | executions | artifacts | lineage")
      ->required()->check(CLI::IsMember({"runs", "executions", "artifacts", "lineage"}));
  inspect_cmd->add_option("id", inspect.id, "lineage: artifact id (default: the newest artifact of --type)");
  inspect_cmd->add_option("--pipeline", inspect.pipeline_file, "Pipeline YAML file (for its root)");
  inspect_cmd->add_option("--pipeline-root", inspect.pipeline_root, "Pipeline root folder");
  inspect_cmd->add_option("--run", inspect.run, "executions: only this run (name or 'latest')");
  inspect_cmd->add_option("--type", inspect.type, "artifacts / lineage: artifact type, e.g. Model");
  inspect_cmd->add_option("--metadata", inspect.metadata, kMetadataHelp);

  litepipe::PredictCommand predict;
  auto* predict_cmd = app.add_subcommand("predict", "Run a .tflite or ONNX serving model on inputs from JSON");
  predict_cmd->add_option("--model", predict.model, "Model file or serving dir")->required();
  predict_cmd->add_option("--input", predict.input, "IN.json: {name: {shape, data}}")->required()->check(CLI::ExistingFile);
  predict_cmd->add_option("--output", predict.output, "OUT.json")->required();
  predict_cmd->add_option("--threads", predict.threads, "Runtime threads (default: TFLite's 1; every core for ONNX)")->check(CLI::PositiveNumber);

  auto* tflite_cmd = app.add_subcommand("tflite", "TensorFlow Lite tools");
  tflite_cmd->require_subcommand(1);
  std::string inspect_model;
  auto* tinspect = tflite_cmd->add_subcommand("inspect", "Tensors, operators, quantization and sizes of a .tflite model");
  tinspect->add_option("model", inspect_model, "Model file or serving dir")->required();
  litepipe::BenchmarkCommand bench;
  auto* tbench = tflite_cmd->add_subcommand("benchmark", "Latency percentiles and memory, like TFLite's benchmark_model");
  tbench->add_option("model", bench.model, "Model file or serving dir")->required();
  tbench->add_option("--runs", bench.runs, "Timed invocations")->check(CLI::PositiveNumber);
  tbench->add_option("--warmup", bench.warmup, "Untimed invocations first")->check(CLI::NonNegativeNumber);
  tbench->add_option("--batch", bench.batch, "Batch size")->check(CLI::PositiveNumber);
  tbench->add_option("--threads", bench.threads, "Interpreter threads (TFLite's num_threads; default 1)")->check(CLI::PositiveNumber);
  tbench->add_flag("--profile-ops", bench.profile_ops, "Also print the average time of each operator");

  litepipe::ConvertCommand convert;
  auto* tconvert = tflite_cmd->add_subcommand("convert", "Rewrite a serving model (model.onnx) into DST/tflite with the TFLite rewriter");
  tconvert->add_option("src", convert.src, "Serving model dir holding model.onnx")->required()->check(CLI::ExistingDirectory);
  tconvert->add_option("dst", convert.dst, "Destination dir")->required();
  tconvert->add_flag("--float16", convert.float16, "Store weights as float16");
  tconvert->add_flag("--dynamic-range", convert.dynamic_range, "int8 weights, float activations (hybrid kernels)");
  tconvert->add_flag("--full-integer", convert.full_integer, "int8 weights and activations, calibrated on --representative-examples");
  tconvert->add_flag("--int8-io", convert.int8_io, "With --full-integer: int8 model inputs and outputs instead of float32");
  tconvert->add_flag("--per-tensor-dense", convert.per_tensor_dense, "With --full-integer: per-tensor (not per-channel) FULLY_CONNECTED weights");
  tconvert->add_option("--representative-examples", convert.representative_examples, "TFRecord files or folders of tf.Example holding the model's raw input features");
  tconvert->add_option("--representative-count", convert.representative_count, "Examples used for calibration")->check(CLI::PositiveNumber);

  litepipe::MetricsCommand metrics;
  auto* metrics_cmd = app.add_subcommand("metrics", "Headline metrics of the Evaluators side by side");
  metrics_cmd->add_option("evaluations", metrics.evaluations, "Evaluation folders (default: the newest of each Evaluator)");
  metrics_cmd->add_option("--pipeline", metrics.pipeline_file, "Pipeline YAML file (for its root)");
  metrics_cmd->add_option("--pipeline-root", metrics.pipeline_root, "Pipeline root folder");
  metrics_cmd->add_option("--metadata", metrics.metadata, kMetadataHelp);

  litepipe::CompareCommand compare;
  auto* compare_cmd = app.add_subcommand("compare", "Compare two evaluations: metric deltas, agreement, sizes, latency; HTML report");
  compare_cmd->add_option("evaluations", compare.evaluations, "EVAL_A EVAL_B (default: the newest ModelComparator result of --pipeline)")->expected(0, 2);
  compare_cmd->add_option("--output", compare.output, "Folder for comparison.json and report.html");
  compare_cmd->add_option("--examples", compare.examples, "TFRecord files or folders: latency is measured on their first example");
  compare_cmd->add_option("--runs", compare.runs, "Timed batch-1 runs per model (0: no latency)")->check(CLI::NonNegativeNumber);
  compare_cmd->add_option("--warmup", compare.warmup, "Untimed runs first")->check(CLI::NonNegativeNumber);
  compare_cmd->add_option("--pipeline", compare.pipeline_file, "Pipeline YAML file (for its root)");
  compare_cmd->add_option("--pipeline-root", compare.pipeline_root, "Pipeline root folder");
  compare_cmd->add_option("--metadata", compare.metadata, kMetadataHelp);

  litepipe::CompileCommand compile;
  auto* compile_cmd = app.add_subcommand("compile", "Write the pipeline as an Argo Workflow or a Kubeflow Pipelines v2 spec");
  compile_cmd->add_option("pipeline", compile.pipeline_file, "Pipeline YAML file")->required()->check(CLI::ExistingFile);
  compile_cmd->add_option("--target", compile.target, "argo | kfp")->required()->check(CLI::IsMember({"argo", "kfp"}));
  compile_cmd->add_option("--image", compile.image, "Container image holding litepipe (see the Dockerfile)")->required();
  compile_cmd->add_option("--output", compile.output, "Output file (.json: JSON, otherwise YAML; default: standard output)");
  compile_cmd->add_option("--pipeline-in-image", compile.pipeline_in_image, "The pipeline file's path inside the image (default: as given)");
  compile_cmd->add_option("--pipeline-root", compile.pipeline_root, "Pipeline root for every job (shared storage mounted in the pods)");
  compile_cmd->add_option("--metadata", compile.metadata, "Metadata store URL for every job");

  std::string invocation;
  auto* exec_cmd = app.add_subcommand("execute", "Run one executor from an invocation file (used by runners)");
  exec_cmd->add_option("--invocation", invocation, "Invocation JSON written by a runner")->required();

  CLI11_PARSE(app, argc, argv);
  litepipe::init_logging(verbose);
  try {
    if (*run_cmd) return litepipe::run_pipeline(run, argv[0]);
    if (*inspect_cmd) return litepipe::inspect_metadata(inspect, std::cout);
    if (*exec_cmd) return litepipe::execute_from_file(invocation);
    if (*compile_cmd) return litepipe::compile_pipeline(compile, std::cout);
    if (*metrics_cmd) return litepipe::print_metrics(metrics, std::cout);
    if (*compare_cmd) return litepipe::compare_command(compare, std::cout);
    if (*predict_cmd) return litepipe::predict(predict);
    if (*tinspect) return litepipe::tflite_inspect(inspect_model, std::cout);
    if (*tbench) return litepipe::tflite_benchmark(bench, std::cout);
    if (*tconvert) return litepipe::tflite_convert(convert);
  } catch (const litepipe::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    return 2;
  }
  return 0;
}
