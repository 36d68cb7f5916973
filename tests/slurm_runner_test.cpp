// `litepipe run --runner slurm` on a real Slurm cluster that the suite starts itself: one node on
// loopback (munged with a generated key and its own socket, slurmctld and slurmd in the
// foreground with a generated slurm.conf, all in a temporary folder, stopped and removed
// afterwards), with the metadata on the suite's own PostgreSQL server. The test pipeline run as
// Slurm jobs must give what a local run gives; a failing job must fail its descendants.
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>

#include "components/builtin.h"
#include "core/files.h"
#include "jobs_pipeline.h"
#include "pipeline/metadata_store.h"
#include "pipeline/runner.h"
#include "pipeline/yaml_pipeline.h"
#include "postgres_server.h"
#include "slurm_cluster.h"
#include "test_helpers.h"

namespace litepipe {
namespace slurm_test {  // named: unity builds put several test files in one translation unit
namespace {

namespace fs = std::filesystem;
using testing::file_text;
using testing::output_of;
using testing::shell_quoted;
using testing::SlurmCluster;

class SlurmRunnerTest : public testing::TempDirTest {
 protected:
  static void SetUpTestSuite() {
    programs_ = testing::slurm_programs(missing_);
    auto bindir = testing::postgres_bindir();
    if (!bindir) missing_ += std::string(missing_.empty() ? "" : "; ") + testing::kPostgresInstallHint;
    if (!missing_.empty()) return;
    try {
      postgres_ = std::make_unique<testing::PostgresServer>(*bindir);
      cluster_ = std::make_unique<SlurmCluster>(programs_);
    } catch (const std::exception& e) {
      startup_error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    cluster_.reset();
    postgres_.reset();
  }

  void SetUp() override {
    TempDirTest::SetUp();
    if (!missing_.empty()) {
      GTEST_SKIP() << "not installed: " << missing_ << " (" << testing::kSlurmInstallHint << ")";
    }
    ASSERT_TRUE(cluster_) << "could not start the test's Slurm cluster or PostgreSQL server: " << startup_error_;
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    postgres_->create_database(name);
    url_ = postgres_->url(name);
    file_ = testing::write_jobs_pipeline(dir_);
  }

  // `litepipe run PIPELINE --runner slurm ...` on the test cluster; its output is kept in `log`.
  int run_on_slurm(const fs::path& pipeline_file, const std::string& run, const std::string& log) {
    std::string command = fmt::format("{} run {} --runner slurm --partition {} --run {} --pipeline-root {} --metadata {} > {} 2>&1",
                                      shell_quoted(LITEPIPE_BINARY), shell_quoted(pipeline_file.string()), SlurmCluster::kPartition, run,
                                      shell_quoted((dir_ / "slurm").string()), shell_quoted(url_), shell_quoted((dir_ / log).string()));
    int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // The executions of run `run`, by component id.
  std::map<std::string, ExecutionRecord> executions(MetadataStore& store, const std::string& run) {
    std::map<std::string, ExecutionRecord> by_component;
    for (const auto& ctx : store.contexts("run"))
      if (ctx.name == "jobs:" + run)
        for (const auto& e : store.executions(ctx.id)) by_component[e.component_id] = e;
    return by_component;
  }

  // The runner's "<component>: Slurm job <id> (after <ids>)" lines: component -> {id, after}.
  static std::map<std::string, std::pair<std::string, std::string>> submissions(const std::string& log) {
    std::map<std::string, std::pair<std::string, std::string>> jobs;
    std::regex line(R"(([A-Za-z.]+): Slurm job (\d+)(?: \(after ([\d, ]+)\))?)");
    for (std::sregex_iterator it(log.begin(), log.end(), line), end; it != end; ++it) jobs[(*it)[1]] = {(*it)[2], (*it)[3]};
    return jobs;
  }

  inline static std::map<std::string, fs::path> programs_;
  inline static std::string missing_, startup_error_;
  inline static std::unique_ptr<testing::PostgresServer> postgres_;
  inline static std::unique_ptr<SlurmCluster> cluster_;
  std::string url_;
  fs::path file_;
};

TEST_F(SlurmRunnerTest, PipelineAsSlurmJobsEqualsALocalRun) {
  // StatisticsGen on two processes: its job asks Slurm for two tasks and runs mpirun inside.
  std::string text = file_text(file_);
  const std::string statistics = "  - component: StatisticsGen\n    inputs: {examples: ExampleGen.examples}\n";
  ASSERT_NE(text.find(statistics), std::string::npos);
  text.replace(text.find(statistics), statistics.size(), statistics + "    parameters: {num_workers: 2}\n");
  write_file_atomic(file_, text);
  Pipeline pipeline = load_pipeline_file(file_, builtin_components());
  // Executors in their own processes, like the jobs (a model's ONNX file names its layers from
  // counters of the process that built it).
  RunResult local = LocalDagRunner().run(pipeline, {.executor_program = LITEPIPE_BINARY});

  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(run_on_slurm(file_, "slurm-1", "slurm.log"), 0) << file_text(dir_ / "slurm.log") << cluster_->logs();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string log = file_text(dir_ / "slurm.log");
  std::cout << fmt::format("[ slurm    ] the test pipeline as {} Slurm jobs: {:.1f}s\n", local.components.size(), seconds);

  // One job per component, each waiting only for its own inputs' producers: ExampleValidator and
  // Transform (both after SchemaGen) do not wait for each other.
  auto jobs = submissions(log);
  ASSERT_EQ(jobs.size(), local.components.size()) << log;
  auto id = [&](const std::string& component) { return jobs.at(component).first; };
  EXPECT_EQ(jobs.at("ExampleGen").second, "") << log;
  EXPECT_EQ(jobs.at("StatisticsGen").second, id("ExampleGen"));
  EXPECT_EQ(jobs.at("SchemaGen").second, id("StatisticsGen"));
  auto after = [&](const std::string& component) {
    std::vector<std::string> ids;
    std::stringstream list(jobs.at(component).second);
    for (std::string one; std::getline(list, one, ',');) ids.push_back(std::string(std::regex_replace(one, std::regex(" "), "")));
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  auto sorted = [](std::vector<std::string> ids) {
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  EXPECT_EQ(after("ExampleValidator"), sorted({id("StatisticsGen"), id("SchemaGen")}));
  EXPECT_EQ(after("Transform"), sorted({id("ExampleGen"), id("SchemaGen")}));
  EXPECT_EQ(after("Evaluator"), sorted({id("ExampleGen"), id("Trainer")}));
  EXPECT_NE(output_of("scontrol show job " + id("StatisticsGen")).find("NumTasks=2"), std::string::npos);
  EXPECT_NE(output_of("scontrol show job " + id("SchemaGen")).find("NumTasks=1"), std::string::npos);
  // Every job was submitted before any finished, and each one's end was reported.
  EXPECT_LT(log.rfind(": Slurm job "), log.find(" COMPLETED")) << log;
  for (const auto& c : local.components) EXPECT_NE(log.find(fmt::format("{}: job {} COMPLETED", c.component_id, id(c.component_id))), std::string::npos) << log;
  EXPECT_NE(log.find("7 of 7 jobs completed"), std::string::npos) << log;

  // The metadata (on the PostgreSQL server) holds one completed execution per component, and its
  // outputs are byte for byte the local run's.
  auto store = open_metadata_store(url_);
  auto recorded = executions(*store, "slurm-1");
  ASSERT_EQ(recorded.size(), local.components.size());
  size_t compared = 0;
  for (const auto& mine : local.components) {
    const ExecutionRecord& e = recorded.at(mine.component_id);
    EXPECT_EQ(e.state, execution_state::kComplete) << mine.component_id << ": " << e.error;
    compared += testing::expect_same_outputs(*store, e.id, mine, dir_ / "slurm");
  }
  EXPECT_GT(compared, 10u);
  // Each job's log is where the runner said: beside the artifacts, on the storage the jobs share.
  EXPECT_NE(file_text(dir_ / "slurm" / "slurm-logs" / "slurm-1" / "Trainer.log").find("Trainer of run slurm-1 finished"), std::string::npos);
}

TEST_F(SlurmRunnerTest, FailedJobCancelsItsDescendantsAndIsReportedWithItsLog) {
  // Transform fails when it runs (its op reads a feature the schema lacks); ExampleValidator,
  // which does not depend on it, still completes.
  std::string text = file_text(file_);
  text.replace(text.find("input: image_floats,"), 20, "input: no_such_feature,");
  fs::path broken = dir_ / "broken.yaml";
  write_file_atomic(broken, text);

  ASSERT_EQ(run_on_slurm(broken, "slurm-2", "broken.log"), 1) << file_text(dir_ / "broken.log");
  std::string log = file_text(dir_ / "broken.log");
  auto jobs = submissions(log);
  ASSERT_EQ(jobs.size(), 7u) << log;
  std::string transform = jobs.at("Transform").first;
  fs::path transform_log = dir_ / "slurm" / "slurm-logs" / "slurm-2" / "Transform.log";
  // The failed job: its Slurm state, exit code and log, and the component's own error from it.
  for (std::string part : {fmt::format("Transform: job {} FAILED (NonZeroExitCode), exit code 1:0, log {}", transform, transform_log.string()),
                           std::string("reads feature 'no_such_feature'"),
                           fmt::format("Trainer: not run, job {} cancelled: upstream Transform (job {}) FAILED", jobs.at("Trainer").first, transform),
                           fmt::format("Evaluator: not run, job {} cancelled: upstream Transform (job {}) FAILED", jobs.at("Evaluator").first, transform),
                           fmt::format("ExampleValidator: job {} COMPLETED", jobs.at("ExampleValidator").first),
                           std::string("pipeline jobs: run slurm-2 on Slurm did not complete")}) {
    EXPECT_NE(log.find(part), std::string::npos) << "'" << part << "' not in:\n" << log;
  }
  EXPECT_EQ(log.find("ExampleValidator: not run"), std::string::npos) << log;

  // Slurm agrees: the descendants were cancelled, never started.
  std::string states = output_of(fmt::format("squeue --noheader --states=all --jobs={},{},{} --format=%i:%T", transform,
                                             jobs.at("Trainer").first, jobs.at("Evaluator").first));
  EXPECT_NE(states.find(transform + ":FAILED"), std::string::npos) << states;
  EXPECT_NE(states.find(jobs.at("Trainer").first + ":CANCELLED"), std::string::npos) << states;
  EXPECT_NE(states.find(jobs.at("Evaluator").first + ":CANCELLED"), std::string::npos) << states;

  // The metadata: Transform recorded as failed with its error; nothing after it ran.
  auto store = open_metadata_store(url_);
  auto recorded = executions(*store, "slurm-2");
  ASSERT_TRUE(recorded.count("Transform"));
  EXPECT_EQ(recorded.at("Transform").state, execution_state::kFailed);
  EXPECT_NE(recorded.at("Transform").error.find("no_such_feature"), std::string::npos) << recorded.at("Transform").error;
  EXPECT_EQ(recorded.count("Trainer"), 0u);
  EXPECT_EQ(recorded.count("Evaluator"), 0u);
  EXPECT_EQ(recorded.at("ExampleValidator").state, execution_state::kComplete);
}

TEST_F(SlurmRunnerTest, BadPartitionFailsBeforeAnyJobRuns) {
  std::string command = fmt::format("{} run {} --runner slurm --partition no-such-partition --run slurm-3 --pipeline-root {} --metadata {} > {} 2>&1",
                                    shell_quoted(LITEPIPE_BINARY), shell_quoted(file_.string()), shell_quoted((dir_ / "slurm").string()),
                                    shell_quoted(url_), shell_quoted((dir_ / "partition.log").string()));
  EXPECT_NE(std::system(command.c_str()), 0);
  std::string log = file_text(dir_ / "partition.log");
  EXPECT_NE(log.find("sbatch for component ExampleGen failed"), std::string::npos) << log;
  EXPECT_NE(log.find("invalid partition"), std::string::npos) << log;
  EXPECT_EQ(output_of("squeue --noheader --name=jobs:ExampleGen --states=PENDING,RUNNING"), "");
}

TEST(SlurmRunnerCli, OptionsThatDoNotFitAreNamed) {
  fs::path dir = fs::temp_directory_path() / fmt::format("litepipe-slurm-cli-{}", ::getpid());
  fs::create_directories(dir);
  fs::path file = testing::write_jobs_pipeline(dir);
  auto run = [&](const std::string& args) {
    std::system(fmt::format("{} run {} {} > {} 2>&1", shell_quoted(LITEPIPE_BINARY), shell_quoted(file.string()), args,
                            shell_quoted((dir / "cli.log").string()))
                    .c_str());
    return file_text(dir / "cli.log");
  };
  EXPECT_NE(run("--runner slurm --component ExampleGen --run r").find("--runner slurm runs every component as its own job; drop --component ExampleGen"),
            std::string::npos);
  EXPECT_NE(run("--partition p").find("--partition p: only with --runner slurm"), std::string::npos);
  EXPECT_NE(run("--runner pbs").find("--runner: pbs not in {local,slurm}"), std::string::npos) << file_text(dir / "cli.log");
  EXPECT_NE(run("--runner slurm --metadata mysql://x/y").find("unsupported scheme 'mysql'"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace slurm_test
}  // namespace litepipe
