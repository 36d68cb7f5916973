#include "pipeline/runner.h"

#include <sys/file.h>

#include <fcntl.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/process.h"
#include "core/files.h"
#include "core/hashing.h"


namespace litepipe {
namespace {

using nlohmann::json;
constexpr const char* kExecutorVersion = "litepipe-executors-1";

std::string make_run_id() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z-{}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ms, ::getpid());
}

std::string cache_key(const Component& c, const ArtifactMap& inputs) {
  json key = {{"version", kExecutorVersion},
              {"type", c.spec().type_name},
              {"id", c.id()},
              {"exec_properties", c.exec_properties()},
              {"fingerprint", c.fingerprint()}};
  for (const auto& [k, list] : inputs) {
    for (const auto& a : list) key["inputs"][k].push_back(a.id);
  }
  for (const auto& [name, p] : c.spec().parameters) {
    if (p.hash_content && c.exec_properties().contains(name) && c.exec_properties()[name].is_string()) {
      std::string path = c.exec_properties()[name].get<std::string>();
      key["content"][name] = fs::exists(path) ? file_content_hash(path) : "missing";
    }
  }
  return hash128_hex(key.dump());
}

bool outputs_exist(const ArtifactMap& outputs) {
  for (const auto& [_, list] : outputs)
    for (const auto& a : list)
      if (!fs::exists(a.uri)) return false;
  return true;
}

bool process_alive(int64_t pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// Executions left RUNNING by a process that died: mark them ABANDONED and remove what they wrote.
void abandon_dead_executions(MetadataStore& store, const fs::path& root) {
  for (const auto& e : store.running_executions(host_name())) {
    if (process_alive(e.pid)) continue;
    // Marked first, and only if still RUNNING: the process may have published and exited since
    // the list was read, and then its outputs are not ours to remove.
    if (!store.fail_execution(e.id, execution_state::kAbandoned, "process died before publishing")) continue;
    spdlog::warn("{}: execution {} was left running by dead process {}; abandoned it", e.component_id, e.id, e.pid);
    std::error_code ec;
    fs::remove_all(root / ".staging" / std::to_string(e.id), ec);
    fs::path component_dir = root / e.component_id;
    if (fs::is_directory(component_dir)) {
      for (const auto& key_dir : fs::directory_iterator(component_dir)) {
        fs::remove_all(key_dir.path() / std::to_string(e.id), ec);
      }
    }
  }
}

std::string describe_outputs(const ArtifactMap& outputs) {
  std::string s;
  for (const auto& [key, list] : outputs)
    for (const auto& a : list) s += fmt::format("{}={} ", key, a.uri);
  return s;
}

void run_in_subprocess(const fs::path& program, const fs::path& invocation_file) {
  int status = run_program({program.string(), "execute", "--invocation", invocation_file.string()});
  if (!fs::exists(invocation_result_file(invocation_file))) fail("executor process exited with status {} and left no result", status);
}

// The pipeline root's run lock (flock on <root>/.litepipe-run.lock, released when the process
// ends, even by a kill): holds the holder's pid and host for the waiting run's message.
class RootLock {
 public:
  RootLock(const fs::path& root, bool wait) {
    fs::path path = root / ".litepipe-run.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0) fail("{}: cannot open the run lock: {}", path.string(), std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) fail("{}: cannot lock: {}", path.string(), std::strerror(errno));
      char holder[256] = {};
      ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
      std::string who = n > 0 ? std::string(holder, static_cast<size_t>(n)) : "another run";
      if (!wait) {
        ::close(fd_);
        fail("{} is being run by {}; not waiting (--no-wait)", root.string(), who);
      }
      spdlog::warn("{} is being run by {}; waiting for it to finish", root.string(), who);
      while (::flock(fd_, LOCK_EX) != 0) {
        if (errno != EINTR) fail("{}: cannot lock: {}", path.string(), std::strerror(errno));
      }
    }
    std::string me = fmt::format("pid {} on host {}", ::getpid(), host_name());
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
      spdlog::warn("{}: cannot record the lock holder: {}", path.string(), std::strerror(errno));
    }
  }
  ~RootLock() { ::close(fd_); }
  RootLock(const RootLock&) = delete;
  RootLock& operator=(const RootLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

const ComponentRun& RunResult::get(const std::string& component_id) const {
  for (const auto& c : components)
    if (c.component_id == component_id) return c;
  fail("run {}: no component '{}'", run_id, component_id);
}

json invocation_json(const std::string& component_type, const ExecutorContext& context, const ArtifactMap& inputs,
                     const ArtifactMap& outputs, const json& exec_properties) {
  return {{"component_type", component_type}, {"component_id", context.component_id},
          {"execution_id", context.execution_id}, {"pipeline_root", context.pipeline_root.string()},
          {"tmp_dir", context.tmp_dir.string()}, {"inputs", to_json(inputs)},
          {"outputs", to_json(outputs)}, {"exec_properties", exec_properties}};
}

fs::path invocation_result_file(const fs::path& invocation_file, int rank) {
  return invocation_file.parent_path() / (rank == 0 ? std::string("result.json") : fmt::format("result-rank-{}.json", rank));
}

json execute_invocation(const ComponentRegistry& registry, const json& invocation) {
  const auto& registration = registry.get(invocation.at("component_type").get<std::string>());
  ArtifactMap inputs = artifact_map_from_json(invocation.at("inputs"));
  ArtifactMap outputs = artifact_map_from_json(invocation.at("outputs"));
  ExecutorContext context{invocation.at("pipeline_root").get<std::string>(),
                          invocation.at("component_id").get<std::string>(),
                          invocation.at("execution_id").get<int64_t>(), invocation.at("tmp_dir").get<std::string>()};
  registration.executor()->Do(inputs, outputs, invocation.at("exec_properties"), context);
  return to_json(outputs);
}

namespace {

// What every component stage of one run shares.
struct RunContext {
  const Pipeline& pipeline;
  MetadataStore& store;
  std::vector<int64_t> contexts;  // the pipeline's and the run's
  const RunOptions& options;
  bool use_cache = true;
};

// One component with its inputs already resolved: a resolver node, a cache hit, or the executor
// (in this process or as `litepipe execute`) with its outputs staged and then published. The one
// code path of the local runner and of a component run as a scheduler's job.
ComponentRun run_stage(RunContext& ctx, const Component& c, const ArtifactMap& inputs) {
  const Pipeline& pipeline = ctx.pipeline;
  MetadataStore& store = ctx.store;
  const auto& contexts = ctx.contexts;
  auto start = std::chrono::steady_clock::now();

  ExecutionRecord exec;
  exec.component_id = c.id();
  exec.component_type = c.spec().type_name;
  exec.exec_properties = c.exec_properties();
  exec.cache_key = cache_key(c, inputs);
  exec.host = host_name();
  exec.pid = ::getpid();

  ComponentRun run;
  run.component_id = c.id();
  if (c.spec().resolve) {
    // Resolved afresh every run (what it finds changes with the store), never cached.
    store.start_execution(exec, contexts, inputs);
    ArtifactMap resolved;
    try {
      resolved = c.spec().resolve(store, c.exec_properties());
    } catch (const std::exception& e) {
      store.fail_execution(exec.id, execution_state::kFailed, e.what());
      throw Error(fmt::format("{} failed: {}", c.id(), e.what()));
    }
    store.publish_execution(exec.id, resolved, contexts, execution_state::kComplete);
    run.execution_id = exec.id;
    run.outputs = resolved;
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    spdlog::info("[{}] resolved: {}", c.id(), resolved.empty() || describe_outputs(resolved).empty() ? "nothing (yet)" : describe_outputs(resolved));
    return run;
  }
  if (ctx.use_cache) {
    if (auto cached = store.cached_outputs(c.id(), exec.cache_key); cached && outputs_exist(*cached)) {
      store.start_execution(exec, contexts, inputs);
      store.publish_execution(exec.id, *cached, contexts, execution_state::kCached);
      run.execution_id = exec.id;
      run.cached = true;
      run.outputs = *cached;
      run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      spdlog::info("[{}] cache hit ({:.3f}s): {}", c.id(), run.seconds, describe_outputs(run.outputs));
      return run;
    }
  }

  store.start_execution(exec, contexts, inputs);
  spdlog::info("[{}] start (execution {})", c.id(), exec.id);
  fs::path staging = create_directories_under(pipeline.root, fs::path(".staging") / std::to_string(exec.id));
  ArtifactMap outputs;
  for (const auto& [key, type] : c.spec().outputs) {
    Artifact a;
    a.type = type;
    a.uri = (staging / key).string();
    fs::create_directories(a.uri);
    outputs[key].push_back(a);
  }
  json invocation = invocation_json(c.spec().type_name, ExecutorContext{pipeline.root, c.id(), exec.id, staging / ".tmp"},
                                    inputs, outputs, c.exec_properties());
  fs::create_directories(staging / ".tmp");
  try {
    if (ctx.options.executor_program.empty()) {
      ExecutorContext context{pipeline.root, c.id(), exec.id, staging / ".tmp"};
      c.make_executor()->Do(inputs, outputs, c.exec_properties(), context);
    } else {
      fs::path invocation_file = staging / "invocation.json";
      write_json_file_atomic(invocation_file, invocation);
      run_in_subprocess(ctx.options.executor_program, invocation_file);
      json reply = read_json_file(invocation_result_file(invocation_file));
      if (reply.contains("error")) throw Error(reply["error"].get<std::string>());
      outputs = artifact_map_from_json(reply.at("outputs"));
    }
    // Publish: move each output from staging to its final place, then one transaction. The
    // folders are made without following links, so nothing lands outside the root.
    for (auto& [key, list] : outputs) {
      for (size_t i = 0; i < list.size(); ++i) {
        fs::path relative = fs::path(c.id()) / key / std::to_string(exec.id);
        if (list.size() > 1) relative /= std::to_string(i);
        fs::path final_uri = pipeline.root / relative;
        create_directories_under(pipeline.root, relative.parent_path());
        fs::rename(list[i].uri, final_uri);
        list[i].uri = final_uri.string();
      }
    }
    store.publish_execution(exec.id, outputs, contexts, execution_state::kComplete);
    fs::remove_all(staging);
  } catch (const std::exception& e) {
    // The executor's error is the one reported: cleaning up needs no new disk space, and a
    // failure to record the failure (a full disk) is logged, not thrown over it. An execution
    // left RUNNING that way is abandoned by the next run (its process is gone).
    std::error_code ec;
    fs::remove_all(staging, ec);
    for (const auto& [key, _] : c.spec().outputs) fs::remove_all(pipeline.root / c.id() / key / std::to_string(exec.id), ec);
    try {
      store.fail_execution(exec.id, execution_state::kFailed, e.what());
    } catch (const std::exception& record) {
      spdlog::error("[{}] could not record the failure in the metadata store: {}", c.id(), record.what());
    }
    spdlog::error("[{}] failed: {}", c.id(), e.what());
    throw Error(fmt::format("{} failed: {}", c.id(), e.what()));
  }
  run.execution_id = exec.id;
  run.outputs = outputs;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("[{}] done in {:.2f}s: {}", c.id(), run.seconds, describe_outputs(run.outputs));
  return run;
}

std::unique_ptr<MetadataStore> open_store(const Pipeline& pipeline, const RunOptions& options) {
  return open_metadata_store(options.metadata_url.empty() ? sqlite_metadata_url(pipeline.metadata_file()) : options.metadata_url);
}

std::vector<int64_t> run_contexts(MetadataStore& store, const Pipeline& pipeline, const std::string& run_id) {
  return {store.put_context("pipeline", pipeline.name), store.put_context("run", run_context_name(pipeline, run_id))};
}

// The outputs of `producer`'s latest successful execution in the run: what it published there,
// whether it ran or was served from the cache.
std::optional<ArtifactMap> latest_outputs_in_run(MetadataStore& store, int64_t run_context, const Component& producer) {
  std::optional<ExecutionRecord> latest;
  for (const auto& e : store.executions(run_context)) {
    if (e.component_id != producer.id()) continue;
    if (e.state != execution_state::kComplete && e.state != execution_state::kCached) continue;
    if (!latest || e.id > latest->id) latest = e;
  }
  if (!latest) return std::nullopt;
  // Every declared output key is present; a resolver that found nothing published an empty list.
  ArtifactMap outputs;
  for (const auto& [key, _] : producer.spec().outputs) outputs[key];
  for (const auto& ev : store.events_by_execution(latest->id)) {
    if (ev.type != "OUTPUT") continue;
    auto& list = outputs[ev.key];
    if (list.size() <= static_cast<size_t>(ev.index)) list.resize(static_cast<size_t>(ev.index) + 1);
    auto artifact = store.artifact(ev.artifact_id);
    if (!artifact) fail("metadata store: execution {} of {} names missing artifact {}", latest->id, producer.id(), ev.artifact_id);
    list[static_cast<size_t>(ev.index)] = *artifact;
  }
  return outputs;
}

}  // namespace

std::string new_run_id() { return make_run_id(); }

std::string run_context_name(const Pipeline& pipeline, const std::string& run_id) { return pipeline.name + ":" + run_id; }

RunResult LocalDagRunner::run(const Pipeline& pipeline, const RunOptions& options) {
  auto order = build_pipeline(pipeline);
  fs::create_directories(pipeline.root);
  RootLock lock(pipeline.root, options.wait_for_lock);
  auto store = open_store(pipeline, options);
  abandon_dead_executions(*store, pipeline.root);

  RunResult result{options.run_id.empty() ? make_run_id() : options.run_id, {}};
  RunContext ctx{pipeline, *store, run_contexts(*store, pipeline, result.run_id), options,
                 options.enable_cache && pipeline.enable_cache};
  spdlog::info("pipeline {}: run {} ({} components, cache {})", pipeline.name, result.run_id, order.size(),
               ctx.use_cache ? "on" : "off");
  std::map<const Component*, ArtifactMap> produced;

  for (const Component* c : order) {
    ArtifactMap inputs;
    for (const auto& [key, ch] : c->inputs()) inputs[key] = produced.at(ch.producer).at(ch.output_key);
    ComponentRun run = run_stage(ctx, *c, inputs);
    produced[c] = run.outputs;
    result.components.push_back(std::move(run));
  }
  std::error_code ec;
  fs::remove(pipeline.root / ".staging", ec);  // only succeeds when empty: another run may be staging
  return result;
}

ComponentRun run_component(const Pipeline& pipeline, const std::string& component_id, const RunOptions& options) {
  auto order = build_pipeline(pipeline);
  const Component* component = nullptr;
  std::string known;
  for (const Component* c : order) {
    if (c->id() == component_id) component = c;
    known += (known.empty() ? "" : ", ") + c->id();
  }
  if (!component) fail("pipeline {}: no component '{}' (its components: {})", pipeline.name, component_id, known);
  if (options.run_id.empty()) fail("{}: running one component needs the run it belongs to (--run RUN_ID)", component_id);

  // No root lock: the components of one run are separate jobs, several at a time.
  fs::create_directories(pipeline.root);
  auto store = open_store(pipeline, options);
  abandon_dead_executions(*store, pipeline.root);
  RunContext ctx{pipeline, *store, run_contexts(*store, pipeline, options.run_id), options,
                 options.enable_cache && pipeline.enable_cache};

  ArtifactMap inputs;
  std::map<const Component*, ArtifactMap> upstream;
  for (const auto& [key, ch] : component->inputs()) {
    if (ch.producer == nullptr) continue;  // an optional input left unconnected
    if (!upstream.count(ch.producer)) {
      auto outputs = latest_outputs_in_run(*store, ctx.contexts[1], *ch.producer);
      if (!outputs) {
        fail("{}: input '{}' needs upstream component {}, which has not completed in run {} of pipeline {} "
             "(run `--component {}` with that run first)", component_id, key, ch.producer->id(), options.run_id,
             pipeline.name, ch.producer->id());
      }
      upstream[ch.producer] = std::move(*outputs);
    }
    inputs[key] = upstream.at(ch.producer).at(ch.output_key);
  }
  spdlog::info("pipeline {}: run {}, component {}", pipeline.name, options.run_id, component_id);
  ComponentRun run = run_stage(ctx, *component, inputs);
  std::error_code ec;
  fs::remove(pipeline.root / ".staging", ec);
  return run;
}

}  // namespace litepipe
