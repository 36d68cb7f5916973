#pragma once
// The metadata store, modelled on ML Metadata: artifacts, executions, events (which execution read
// or wrote which artifact), and contexts (the pipeline, each run). An interface, so a shared
// database (PostgreSQL) can replace the local SQLite file when executors run on other machines.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/artifact.h"

namespace litepipe {

namespace execution_state {
inline constexpr const char* kRunning = "RUNNING";
inline constexpr const char* kComplete = "COMPLETE";
inline constexpr const char* kCached = "CACHED";
inline constexpr const char* kFailed = "FAILED";
inline constexpr const char* kAbandoned = "ABANDONED";  // its process died before publishing
}  // namespace execution_state

struct ExecutionRecord {
  int64_t id = 0;
  std::string component_id;
  std::string component_type;
  std::string state;
  std::string cache_key;
  nlohmann::json exec_properties = nlohmann::json::object();
  std::string error;
  double start_time = 0, end_time = 0;  // seconds since the epoch
  std::string host;
  int64_t pid = 0;
};

struct EventRecord {
  int64_t execution_id = 0;
  int64_t artifact_id = 0;
  std::string type;  // "INPUT" or "OUTPUT"
  std::string key;
  int index = 0;
};

struct ContextRecord {
  int64_t id = 0;
  std::string type;  // "pipeline" or "run"
  std::string name;
  double create_time = 0;
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  virtual int64_t put_context(const std::string& type, const std::string& name) = 0;
  // Records a RUNNING execution with its input events; returns its id.
  virtual int64_t start_execution(ExecutionRecord& execution, const std::vector<int64_t>& contexts,
                                  const ArtifactMap& inputs) = 0;
  // One transaction: new output artifacts (id 0) are inserted and get ids, existing ones (a cache
  // hit) are linked; output events are written; the execution becomes `state`.
  virtual void publish_execution(int64_t execution_id, ArtifactMap& outputs, const std::vector<int64_t>& contexts,
                                 const std::string& state) = 0;
  // An execution still RUNNING becomes `state` with `error`; returns false (and changes nothing)
  // when it has left RUNNING since it was read (another process published or failed it).
  virtual bool fail_execution(int64_t execution_id, const std::string& state, const std::string& error) = 0;
  // Outputs of the latest COMPLETE execution of `component_id` with `cache_key`.
  virtual std::optional<ArtifactMap> cached_outputs(const std::string& component_id, const std::string& cache_key) = 0;
  // RUNNING executions started on `host` (their process may have died).
  virtual std::vector<ExecutionRecord> running_executions(const std::string& host) = 0;

  virtual std::vector<ContextRecord> contexts(const std::string& type) = 0;
  virtual std::vector<ExecutionRecord> executions(std::optional<int64_t> context_id = std::nullopt) = 0;
  virtual std::optional<ExecutionRecord> execution(int64_t id) = 0;
  virtual std::vector<Artifact> artifacts(const std::string& type = "") = 0;
  virtual std::optional<Artifact> artifact(int64_t id) = 0;
  virtual std::vector<EventRecord> events_by_artifact(int64_t artifact_id) = 0;
  virtual std::vector<EventRecord> events_by_execution(int64_t execution_id) = 0;
};

std::unique_ptr<MetadataStore> open_sqlite_metadata_store(const std::filesystem::path& path);
// A PostgreSQL database shared by component jobs on many hosts. `connection` is a libpq URL;
// `display` names it in errors (without its password). Fails naming `display` when the server
// cannot be reached.
std::unique_ptr<MetadataStore> open_postgres_metadata_store(const std::string& connection, const std::string& display);

// Metadata URLs (`--metadata`), parsed in metadata_url.cpp only, so a new backend is one more
// scheme there: `sqlite:///ABSOLUTE/PATH` (the embedded store; one host at a time) or
// `postgresql://USER@HOST:PORT/DATABASE` (a database server; any number of hosts).
struct MetadataUrl {
  std::string scheme;    // "sqlite" or "postgresql"
  std::string location;  // sqlite: the database file; postgresql: the URL as libpq takes it
  std::string display;   // the URL to show in messages: without a password
};
MetadataUrl parse_metadata_url(const std::string& url);
std::unique_ptr<MetadataStore> open_metadata_store(const std::string& url);
std::string sqlite_metadata_url(const std::filesystem::path& file);

// Lineage of an artifact back to the pipeline's sources: each step is (execution, its inputs).
struct LineageStep {
  Artifact artifact;
  std::optional<ExecutionRecord> producer;
  int depth = 0;
};
std::vector<LineageStep> trace_lineage(MetadataStore& store, int64_t artifact_id);

}  // namespace litepipe
