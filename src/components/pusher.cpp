#include "components/pusher.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <optional>
#include <string_view>

#include <spdlog/spdlog.h>

#include "components/artifact_io.h"
#include "components/trainer.h"
#include "core/error.h"
#include "core/files.h"

namespace litepipe {
namespace {

using nlohmann::json;

std::string base_directory_of(const json& destination) {
  const json::json_pointer at("/filesystem/base_directory");
  if (!destination.is_object() || !destination.contains(at) || !destination[at].is_string() || destination[at].get<std::string>().empty()) {
    fail("push_destination: expected {{filesystem: {{base_directory: <folder>}}}}, got {}", destination.dump());
  }
  for (const auto& [key, _] : destination.items())
    if (key != "filesystem") fail("push_destination: unknown field '{}'; expected: filesystem", key);
  for (const auto& [key, _] : destination["filesystem"].items())
    if (key != "base_directory") fail("push_destination.filesystem: unknown field '{}'; expected: base_directory", key);
  return destination[at].get<std::string>();
}

// Renames `from` to `to` unless `to` exists (a concurrent pusher took that version).
bool rename_no_replace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno == EEXIST) return false;
  if (errno == EINVAL || errno == ENOSYS) {  // a file system without RENAME_NOREPLACE
    if (fs::exists(to)) return false;
    fs::rename(from, to);
    return true;
  }
  fail("cannot move {} to {}: {}", from.string(), to.string(), std::strerror(errno));
}

constexpr const char* kStagingPrefix = ".push-";  // staging folders: .push-<unix time>-<pid>
constexpr int64_t kStaleStagingSeconds = 24 * 60 * 60;

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Removes the staging folders of pushes that died mid-copy: their process is gone, or they are
// over a day old (their pid may have been reused since). A live pusher's folder is left alone.
void remove_stale_staging(const fs::path& base) {
  int64_t now = unix_seconds();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(kStagingPrefix, 0) != 0) continue;
    std::string_view rest = std::string_view(name).substr(std::string_view(kStagingPrefix).size());
    int64_t version = 0, pid = 0;
    auto dash = rest.find('-');
    if (dash == std::string_view::npos) continue;
    auto v = std::from_chars(rest.data(), rest.data() + dash, version);
    auto p = std::from_chars(rest.data() + dash + 1, rest.data() + rest.size(), pid);
    if (v.ec != std::errc() || v.ptr != rest.data() + dash || p.ec != std::errc() || p.ptr != rest.data() + rest.size() || pid <= 0) continue;
    bool alive = ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
    if (alive && now - version <= kStaleStagingSeconds) continue;
    std::error_code removed;
    fs::remove_all(entry.path(), removed);
    if (removed) spdlog::warn("Pusher: cannot remove the stale staging folder {}: {}", entry.path().string(), removed.message());
    else spdlog::info("Pusher: removed {}, left by a push that did not finish ({})", entry.path().string(), alive ? "over a day old" : "its process is gone");
  }
}

// Push records: `<base>/.litepipe-pushes/<version>.json` (and `pending-<pid>.json` while a push
// renames) name the model artifact each version holds.
constexpr const char* kRecordsDir = ".litepipe-pushes";

json push_record(const Artifact& model, int64_t version) {
  return {{"model_id", model.id}, {"model_uri", model.uri}, {"version", version}};
}

// The version already holding `model` (a record, complete or pending, whose folder exists).
std::optional<int64_t> recorded_push(const fs::path& base, const Artifact& model) {
  std::error_code ec;
  if (!fs::is_directory(base / kRecordsDir, ec)) return std::nullopt;
  for (const auto& entry : fs::directory_iterator(base / kRecordsDir, ec)) {
    if (entry.path().extension() != ".json") continue;
    json r;
    try {
      r = read_json_file(entry.path());
    } catch (const Error& e) {
      spdlog::warn("Pusher: ignoring an unreadable push record: {}", e.what());
      continue;
    }
    if (!r.is_object() || !r.contains("version") || !r["version"].is_number_integer()) continue;
    if (r.value("model_id", int64_t{0}) != model.id || r.value("model_uri", "") != model.uri) continue;
    int64_t version = r["version"].get<int64_t>();
    if (version > 0 && fs::is_directory(base / std::to_string(version))) return version;
  }
  return std::nullopt;
}

void set_pushed(Artifact& pushed, const fs::path& base, int64_t version) {
  pushed.properties["pushed"] = 1;
  pushed.properties["pushed_destination"] = (base / std::to_string(version)).string();
  pushed.properties["pushed_version"] = std::to_string(version);
}

class PusherExecutor final : public Executor {
 public:
  void Do(const ArtifactMap& inputs, ArtifactMap& outputs, const json& props, const ExecutorContext&) override {
    const Artifact& model = single_input(inputs, "model");
    Artifact& pushed = outputs.at("pushed_model").at(0);
    pushed.properties["pushed"] = 0;
    if (auto it = inputs.find("model_blessing"); it != inputs.end() && !it->second.empty()) {
      const Artifact& blessing = it->second.front();
      if (blessing.properties.value("blessed", 0) != 1) {
        spdlog::warn("Pusher: model {} is not blessed ({}): not pushed", model.uri,
                     blessing.properties.contains("blessed") ? "the Evaluator's thresholds failed" : "no thresholds were evaluated");
        return;
      }
    }
    fs::path serving = fs::path(model.uri) / kServingModelDir;
    if (!fs::is_directory(serving)) fail("Pusher: model {} has no {} folder", model.uri, kServingModelDir);
    fs::path base = base_directory_of(props.at("push_destination"));
    fs::create_directories(base);
    remove_stale_staging(base);

    // A push of this very model that finished before a kill (its version exists, its record says
    // so) is adopted, not repeated.
    if (auto done = recorded_push(base, model)) {
      spdlog::info("Pusher: {} was already pushed as version {} (recorded in {}); not pushed again", model.uri, *done, kRecordsDir);
      set_pushed(pushed, base, *done);
      return;
    }

    // TFX's version: the unix time in seconds; a later number if that one exists.
    int64_t version = unix_seconds();
    fs::path staging = base / fmt::format("{}{}-{}", kStagingPrefix, version, ::getpid());
    fs::remove_all(staging);
    fs::path pending = base / kRecordsDir / fmt::format("pending-{}.json", ::getpid());
    try {
      copy_tree(serving, staging);
      // The version is recorded before each rename, so a kill right after the rename is repaired.
      while (true) {
        write_json_file_atomic(pending, push_record(model, version));
        if (rename_no_replace(staging, base / std::to_string(version))) break;
        ++version;
      }
      write_json_file_atomic(base / kRecordsDir / fmt::format("{}.json", version), push_record(model, version));
      fs::remove(pending);
    } catch (...) {
      std::error_code ec;
      fs::remove_all(staging, ec);
      fs::remove(pending, ec);
      throw;
    }
    set_pushed(pushed, base, version);
    spdlog::info("Pusher: pushed {} to {}", serving.string(), (base / std::to_string(version)).string());
  }
};

}  // namespace

const ComponentRegistration& pusher_registration() {
  static const ComponentRegistration registration = [] {
    ParamSpec destination = required_param(ParamType::Object);
    destination.nested_paths = {"/filesystem/base_directory"};
    destination.check = [](const json& v) { base_directory_of(v); };
    return ComponentRegistration{
        ComponentSpec{"Pusher",
                      {{"model", {artifact_types::kModel}}, {"model_blessing", {artifact_types::kModelBlessing, true}}},
                      {{"pushed_model", artifact_types::kPushedModel}},
                      {{"push_destination", destination}}},
        [] { return std::make_unique<PusherExecutor>(); },
        {}};
  }();
  return registration;
}

std::shared_ptr<Component> Pusher(const PusherArgs& a) {
  std::map<std::string, Channel> inputs = {{"model", a.model}};
  if (a.model_blessing.producer) inputs["model_blessing"] = a.model_blessing;
  std::string base = a.base_directory.empty() ? "" : fs::absolute(a.base_directory).string();
  json destination = {{"filesystem", {{"base_directory", base}}}};
  return make_component(pusher_registration(), inputs, {{"push_destination", destination}});
}

}  // namespace litepipe
