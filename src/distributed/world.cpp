#include "distributed/world.h"

#include <mpi.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace litepipe::distributed {
namespace {

// A non-negative integer variable, or -1 when unset or not a number.
int int_from_environment(const char* name) {
  const char* text = std::getenv(name);
  if (!text || !*text) return -1;
  int value = -1;
  auto [end, ec] = std::from_chars(text, text + std::strlen(text), value);
  return ec == std::errc() && *end == '\0' && value >= 0 ? value : -1;
}

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  fail("{} failed: {}", call, std::string(text, static_cast<size_t>(length)));
}

// MPI counts are int.
int count(size_t n) {
  if (n > static_cast<size_t>(std::numeric_limits<int>::max())) fail("MPI: {} values in one call; at most {}", n, std::numeric_limits<int>::max());
  return static_cast<int>(n);
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace

LaunchInfo launch_info_from_environment() {
  struct Source {
    const char* size;
    const char* rank;
  };
  // srun sets SLURM_STEP_NUM_TASKS for the tasks of a step only; SLURM_NTASKS is also set in a
  // batch script, which is one process, not a rank.
  for (Source s : {Source{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"}, Source{"PMI_SIZE", "PMI_RANK"},
                   Source{"SLURM_STEP_NUM_TASKS", "SLURM_PROCID"}}) {
    int size = int_from_environment(s.size), rank = int_from_environment(s.rank);
    if (size >= 1 && rank >= 0 && rank < size) return {size, rank, s.size};
  }
  return {};
}

World::World() {
  LaunchInfo launch = launch_info_from_environment();
  if (launch.size <= 1) return;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // Only the main thread calls MPI (oneDNN and OpenMP threads never do).
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    std::atexit(finalize_at_exit);
  }
  // Errors come back as codes, turned into exceptions by check().
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
}

World& world() {
  static World instance;
  return instance;
}

void World::allreduce_sum(std::span<float> values) const {
  if (size_ == 1) return;
  check(MPI_Allreduce(MPI_IN_PLACE, values.data(), count(values.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}

void World::allreduce_sum(std::span<double> values) const {
  if (size_ == 1) return;
  check(MPI_Allreduce(MPI_IN_PLACE, values.data(), count(values.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}

void World::broadcast(std::span<float> values, int root) const {
  if (size_ == 1) return;
  check(MPI_Bcast(values.data(), count(values.size()), MPI_FLOAT, root, MPI_COMM_WORLD), "MPI_Bcast");
}

void World::broadcast(uint64_t& value, int root) const {
  if (size_ == 1) return;
  check(MPI_Bcast(&value, 1, MPI_UINT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
}

std::vector<int64_t> World::allgather(int64_t value) const {
  std::vector<int64_t> all(static_cast<size_t>(size_), value);
  if (size_ == 1) return all;
  check(MPI_Allgather(&value, 1, MPI_INT64_T, all.data(), 1, MPI_INT64_T, MPI_COMM_WORLD), "MPI_Allgather");
  return all;
}

void World::barrier() const {
  if (size_ == 1) return;
  check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void World::abort(int code) const {
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace litepipe::distributed
