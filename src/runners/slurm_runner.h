#pragma once
// SlurmRunner: runs a pipeline on a Slurm cluster, one batch job per component. Each job is
// `litepipe run PIPELINE --component ID --run RUN_ID --metadata URL` (the unit every scheduler
// runs, see run_component); the DAG's edges become `--dependency=afterok:` so that independent
// components run at once. The runner waits, logging each job's state as it changes. A job that
// fails has its descendants cancelled, and the run fails naming it, its reason and its log file.
//
// The jobs share the pipeline root and the metadata store with each other and with the runner:
// on more than one host the root must be on shared storage and the metadata on a database server
// (SQLite needs every job on one host).
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/pipeline.h"

namespace litepipe {

struct SlurmOptions {
  std::filesystem::path program;        // the `litepipe` program the jobs run (as the compute nodes see it)
  std::filesystem::path pipeline_file;  // the pipeline file (as the compute nodes see it)
  std::string run_id = {};              // empty: a new one
  std::string metadata_url = {};        // empty: the pipeline's SQLite file (one host only)
  std::string partition = {};           // empty: the cluster's default partition
  bool enable_cache = true;
  // Where the job logs go (one `<component id>.log` each); empty: <root>/slurm-logs/<run id>.
  std::filesystem::path log_dir = {};
  double poll_seconds = 1.0;            // how often squeue is asked
};

struct SlurmJob {
  std::string component_id;
  std::string job_id;
  std::vector<std::string> after;  // job ids this one waits for (afterok)
  std::string state;               // Slurm's last reported state: PENDING, RUNNING, COMPLETED, FAILED, ...
  std::string reason;              // Slurm's reason, or why the runner cancelled it
  std::string exit_code;           // "status:signal" as Slurm reports it, for ended jobs
  std::filesystem::path log_file;
};

struct SlurmRunResult {
  std::string run_id;
  std::vector<SlurmJob> jobs;  // in DAG order
  bool ok() const;
  // One line per job that did not complete: which failed (reason, exit code, log file, the log's
  // last lines) and which were cancelled because of it.
  std::string failure_report() const;
};

// Submits the jobs (sbatch), waits for them (squeue, scontrol), cancels the descendants of a
// failed job (scancel). Errors from the Slurm commands (no cluster configured, a partition that
// does not exist) are thrown with their own message; jobs submitted before such an error are
// cancelled first.
SlurmRunResult run_on_slurm(const Pipeline& pipeline, const SlurmOptions& options);

}  // namespace litepipe
