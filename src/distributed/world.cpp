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

namespace {

// Offsets of consecutive blocks of `sizes` bytes; the total must fit MPI's int displacements.
std::vector<int> displacements(const std::vector<int>& sizes, const char* call) {
  std::vector<int> at(sizes.size(), 0);
  size_t total = 0;
  for (size_t r = 0; r < sizes.size(); ++r) {
    at[r] = static_cast<int>(total);
    total += static_cast<size_t>(sizes[r]);
    if (total > static_cast<size_t>(std::numeric_limits<int>::max())) fail("{}: {} bytes in all; at most {}", call, total, std::numeric_limits<int>::max());
  }
  return at;
}

std::vector<std::string> split_blocks(const std::string& buffer, const std::vector<int>& sizes, const std::vector<int>& at) {
  std::vector<std::string> blocks;
  for (size_t r = 0; r < sizes.size(); ++r) blocks.push_back(buffer.substr(static_cast<size_t>(at[r]), static_cast<size_t>(sizes[r])));
  return blocks;
}

}  // namespace

std::vector<std::string> World::allgather_bytes(const std::string& bytes) const {
  if (size_ == 1) return {bytes};
  int mine = count(bytes.size());
  std::vector<int> sizes(static_cast<size_t>(size_));
  check(MPI_Allgather(&mine, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
  std::vector<int> at = displacements(sizes, "MPI_Allgatherv");
  std::string buffer(static_cast<size_t>(at.back()) + static_cast<size_t>(sizes.back()), '\0');
  check(MPI_Allgatherv(bytes.data(), mine, MPI_BYTE, buffer.data(), sizes.data(), at.data(), MPI_BYTE, MPI_COMM_WORLD), "MPI_Allgatherv");
  return split_blocks(buffer, sizes, at);
}

std::vector<std::string> World::gather_bytes(const std::string& bytes, int root) const {
  if (size_ == 1) return {bytes};
  int mine = count(bytes.size());
  std::vector<int> sizes(static_cast<size_t>(size_));
  check(MPI_Gather(&mine, 1, MPI_INT, sizes.data(), 1, MPI_INT, root, MPI_COMM_WORLD), "MPI_Gather");
  std::vector<int> at = rank_ == root ? displacements(sizes, "MPI_Gatherv") : std::vector<int>(sizes.size(), 0);
  std::string buffer(rank_ == root ? static_cast<size_t>(at.back()) + static_cast<size_t>(sizes.back()) : 0, '\0');
  check(MPI_Gatherv(bytes.data(), mine, MPI_BYTE, buffer.data(), sizes.data(), at.data(), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Gatherv");
  if (rank_ != root) return {};
  return split_blocks(buffer, sizes, at);
}

std::vector<std::string> World::alltoall_bytes(const std::vector<std::string>& to_rank) const {
  if (to_rank.size() != static_cast<size_t>(size_)) fail("alltoall_bytes: {} blocks for {} ranks", to_rank.size(), size_);
  if (size_ == 1) return to_rank;
  std::vector<int> send_sizes, recv_sizes(static_cast<size_t>(size_));
  std::string send;
  for (const auto& block : to_rank) {
    send_sizes.push_back(count(block.size()));
    send += block;
  }
  std::vector<int> send_at = displacements(send_sizes, "MPI_Alltoallv");
  check(MPI_Alltoall(send_sizes.data(), 1, MPI_INT, recv_sizes.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Alltoall");
  std::vector<int> recv_at = displacements(recv_sizes, "MPI_Alltoallv");
  std::string buffer(static_cast<size_t>(recv_at.back()) + static_cast<size_t>(recv_sizes.back()), '\0');
  check(MPI_Alltoallv(send.data(), send_sizes.data(), send_at.data(), MPI_BYTE, buffer.data(), recv_sizes.data(), recv_at.data(), MPI_BYTE,
                      MPI_COMM_WORLD),
        "MPI_Alltoallv");
  return split_blocks(buffer, recv_sizes, recv_at);
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
