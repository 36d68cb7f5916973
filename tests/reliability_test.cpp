// Bad luck and hostile input around the pipeline: names that would escape the root, links inside
// it, two runs on one root, a kill between a push and its record, a full disk, damaged IDX files.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "components/artifact_io.h"
#include "components/builtin.h"
#include "data/example_sources.h"
#include "pipeline/runner.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using nlohmann::json;
using testing::expect_error;

class ReliabilityTest : public testing::TempDirTest {
 protected:
  // A small CSV source the data components can ingest.
  fs::path csv_source(const std::string& name = "src") {
    fs::path dir = dir_ / name;
    fs::create_directories(dir);
    std::ofstream out(dir / "data.csv");
    out << "x,label\n";
    for (int i = 0; i < 60; ++i) out << i * 0.5 << "," << i % 3 << "\n";
    return dir;
  }
  int cli(const std::string& args, const std::string& log) {
    return std::system(fmt::format("{} {} > {} 2>&1", LITEPIPE_BINARY, args, (dir_ / log).string()).c_str());
  }
};

TEST_F(ReliabilityTest, NamesThatWouldEscapeTheRootAreRejected) {
  expect_error([&] { check_path_name(std::string("a\0b", 3), "id"); }, {"id", "a\\x00b"});
  for (const char* bad : {"../../x", "x/../../y", "..", ".hidden", "a/b"}) {
    expect_error([&] { StatisticsGen({.examples = ExampleGen({.input_base = "x"})->outputs("examples")})->with_id(bad); }, {"id"});
  }
  expect_error([&] { ExampleGen({.input_base = "x", .output_config = {{"split_config", {{"splits", {{{"name", "../../x"}, {"hash_buckets", 1}}}}}}}}); },
               {"splits[0].name", "'../../x'"});
  expect_error([&] { ExampleGen({.input_base = "x", .input_config = {{"splits", {{{"name", ".."}, {"pattern", "*"}}}}}}); }, {"input_config.splits[0].name"});
  // A split name read back from an artifact (the store is hostile too) is checked before it names a folder.
  Artifact a{1, artifact_types::kExamples, (dir_ / "a").string()};
  expect_error([&] { split_dir(a, "../../etc"); }, {"split name", "'../../etc'"});
  // YAML ids too.
  fs::path yaml = dir_ / "p.yaml";
  std::ofstream(yaml) << "pipeline_name: p\npipeline_root: root\ncomponents:\n  - component: ExampleGen\n    id: ../../evil\n    parameters: {input_base: src}\n";
  EXPECT_NE(cli("run " + yaml.string(), "yaml.log"), 0);
  EXPECT_NE(read_file(dir_ / "yaml.log").find("'../../evil'"), std::string::npos) << read_file(dir_ / "yaml.log");
  EXPECT_FALSE(fs::exists(dir_ / "evil"));
}

TEST_F(ReliabilityTest, SymlinksInsideTheRootAreNotWrittenThrough) {
  fs::path src = csv_source();
  fs::path root = dir_ / "root", outside = dir_ / "outside";
  fs::create_directories(root);
  fs::create_directories(outside);
  fs::create_directory_symlink(outside, root / "ExampleGen");
  auto gen = ExampleGen({.input_base = src.string()});
  expect_error([&] { LocalDagRunner().run(Pipeline{"p", root, {gen}}); }, {"ExampleGen", "symlink"});
  EXPECT_TRUE(fs::is_empty(outside));
}

TEST_F(ReliabilityTest, SecondRunOnOneRootWaitsOrFailsFast) {
  fs::path src = csv_source();
  fs::path yaml = dir_ / "p.yaml";
  std::ofstream(yaml) << fmt::format(
      "pipeline_name: p\npipeline_root: {}\ncomponents:\n  - component: ExampleGen\n    parameters: {{input_base: {}}}\n"
      "  - component: StatisticsGen\n    inputs: {{examples: ExampleGen.examples}}\n",
      (dir_ / "root").string(), src.string());
  // Hold the root's lock as a running litepipe would.
  fs::create_directories(dir_ / "root");
  pid_t holder = ::fork();
  if (holder == 0) {
    int fd = ::open((dir_ / "root" / ".litepipe-run.lock").c_str(), O_RDWR | O_CREAT, 0644);
    ::flock(fd, LOCK_EX);
    std::string me = fmt::format("pid {} on host test", ::getpid());
    (void)!::write(fd, me.data(), me.size());
    ::sleep(2);
    ::_exit(0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_NE(cli("run --no-wait " + yaml.string(), "fast.log"), 0);
  EXPECT_NE(read_file(dir_ / "fast.log").find(fmt::format("is being run by pid {}", holder)), std::string::npos) << read_file(dir_ / "fast.log");
  // Without --no-wait the run waits for the holder, then does the work once.
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(cli("run " + yaml.string(), "wait.log"), 0) << read_file(dir_ / "wait.log");
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1000));
  EXPECT_NE(read_file(dir_ / "wait.log").find("waiting for it to finish"), std::string::npos);
  int status = 0;
  ::waitpid(holder, &status, 0);
  // Two runs at once: both succeed, one after the other, and the second is served from cache.
  pid_t a = ::fork();
  if (a == 0) ::_exit(cli("run " + yaml.string(), "a.log") == 0 ? 0 : 1);
  int b = cli("run " + yaml.string(), "b.log");
  ::waitpid(a, &status, 0);
  EXPECT_EQ(b, 0) << read_file(dir_ / "b.log");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(dir_ / "a.log");
  EXPECT_EQ(read_file(dir_ / "a.log").find("database is locked"), std::string::npos);
}

TEST_F(ReliabilityTest, PushKilledBeforeItsRecordIsNotRepeated) {
  fs::path model = dir_ / "model";
  fs::create_directories(model / "Format-Serving");
  std::ofstream(model / "Format-Serving" / "model.onnx") << "bytes";
  fs::path base = dir_ / "serving";
  // What a kill right after the rename leaves: the version folder and the pending record.
  fs::create_directories(base / "1700000000");
  std::ofstream(base / "1700000000" / "model.onnx") << "bytes";
  fs::create_directories(base / ".litepipe-pushes");
  std::ofstream(base / ".litepipe-pushes" / "pending-99999.json")
      << json{{"model_id", 7}, {"model_uri", model.string()}, {"version", 1700000000}}.dump();
  ArtifactMap inputs = {{"model", {Artifact{7, artifact_types::kModel, model.string()}}}};
  ArtifactMap outputs = {{"pushed_model", {Artifact{0, artifact_types::kPushedModel, (dir_ / "pushed").string()}}}};
  auto pusher = Pusher({.base_directory = base.string()});
  pusher_registration().executor()->Do(inputs, outputs, pusher->exec_properties(), {});
  EXPECT_EQ(outputs["pushed_model"][0].properties["pushed_version"], "1700000000");
  size_t versions = 0;
  for (const auto& e : fs::directory_iterator(base)) versions += e.path().filename().string()[0] != '.';
  EXPECT_EQ(versions, 1u);
  // Another model is pushed as a new version.
  inputs["model"][0].id = 8;
  pusher_registration().executor()->Do(inputs, outputs, pusher->exec_properties(), {});
  EXPECT_NE(outputs["pushed_model"][0].properties["pushed_version"], "1700000000");
}

TEST_F(ReliabilityTest, FullDiskReportsTheExecutorsErrorAndLeavesNothingRunning) {
  fs::path mnt = dir_ / "small";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=256k") != 0) GTEST_SKIP() << "mounting a tmpfs needs root: " << std::strerror(errno);
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  // Examples larger than the disk: ExampleGen's shards cannot be written.
  fs::path src = dir_ / "big";
  fs::create_directories(src);
  {
    std::ofstream out(src / "data.csv");
    out << "text,label\n";
    // Random letters: gzip cannot shrink them below the disk's size.
    uint64_t state = 42;
    for (int i = 0; i < 4000; ++i) {
      std::string text(200, 'a');
      for (char& c : text) c = static_cast<char>('a' + (state = state * 6364136223846793005ULL + 1442695040888963407ULL) % 26);
      out << text << "," << i % 3 << "\n";
    }
  }
  fs::path root = mnt / "root";
  auto gen = ExampleGen({.input_base = src.string()});
  try {
    LocalDagRunner().run(Pipeline{"p", root, {gen}});
    ADD_FAILURE() << "expected the run to fail on a full disk";
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
    EXPECT_NE(message.find("ExampleGen failed"), std::string::npos) << message;
  }
  EXPECT_FALSE(fs::exists(root / ".staging") && !fs::is_empty(root / ".staging"));
  // Room again: the next run does the work (nothing was left RUNNING in its way).
  ::umount2(mnt.c_str(), MNT_DETACH);
  ASSERT_EQ(::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64m"), 0);
  RunResult r = LocalDagRunner().run(Pipeline{"p", root, {ExampleGen({.input_base = src.string()})}});
  EXPECT_FALSE(r.get("ExampleGen").cached);
}

TEST_F(ReliabilityTest, IdxHeadersThatOverflowOrHoldNoPixelsAreRejected) {
  auto idx = [&](uint32_t count, uint32_t rows, uint32_t cols, size_t payload) {
    fs::path p = dir_ / "images-idx3-ubyte";
    testing::write_bytes(p, testing::big_endian(0x803) + testing::big_endian(count) + testing::big_endian(rows) + testing::big_endian(cols) +
                                std::string(payload, '\0'));
    return p;
  };
  expect_error([&] { read_idx_images(idx(65536, 65536, 65536, 16)); }, {"images-idx3-ubyte", "size mismatch"});
  expect_error([&] { read_idx_images(idx(3, 0, 0, 0)); }, {"dimension 1 is 0"});
  expect_error([&] { read_idx_images(idx(4294967295u, 4294967295u, 4294967295u, 0)); }, {"overflow"});
}

}  // namespace
}  // namespace litepipe
