#pragma once
// Data-parallel processes over MPI: which of the launched processes this one is, and the few
// collectives training needs (MPI's own: nothing here is a hand-written collective).
//
// A process is one of several ranks when a launcher started it: Open MPI's mpirun
// (OMPI_COMM_WORLD_SIZE / OMPI_COMM_WORLD_RANK), MPICH's Hydra or Slurm's PMI (PMI_SIZE /
// PMI_RANK), or a Slurm step started by srun (SLURM_STEP_NUM_TASKS / SLURM_PROCID). MPI is
// started (MPI_Init_thread) only in such a process, the first time world() is called, and
// finalized at exit; elsewhere world() is one rank and makes no MPI call.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace litepipe::distributed {

// What the launcher's environment says, read without starting MPI.
struct LaunchInfo {
  int size = 1;
  int rank = 0;
  std::string source = {};  // the variable that told, e.g. "OMPI_COMM_WORLD_SIZE"; empty outside a launcher
};
LaunchInfo launch_info_from_environment();

class World {
 public:
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_chief() const { return rank_ == 0; }

  // Element-wise sum over every rank, in place (MPI_Allreduce, MPI_SUM).
  void allreduce_sum(std::span<float> values) const;
  void allreduce_sum(std::span<double> values) const;
  // Rank `root`'s values to every rank (MPI_Bcast).
  void broadcast(std::span<float> values, int root = 0) const;
  void broadcast(uint64_t& value, int root = 0) const;
  // One value from each rank, in rank order (MPI_Allgather).
  std::vector<int64_t> allgather(int64_t value) const;
  // Byte strings of any length, one per rank (what sharded components exchange: their
  // serialized partial results), returned in rank order. Sizes first (MPI_Allgather /
  // MPI_Alltoall), then the bytes (the -v variants). Outside a launcher they are the identity.
  // Each rank's bytes on every rank (MPI_Allgatherv).
  std::vector<std::string> allgather_bytes(const std::string& bytes) const;
  // Each rank's bytes on rank `root` (MPI_Gatherv); the other ranks get an empty list.
  std::vector<std::string> gather_bytes(const std::string& bytes, int root = 0) const;
  // to_rank[r] goes to rank r; returns what each rank sent this one (MPI_Alltoallv).
  std::vector<std::string> alltoall_bytes(const std::vector<std::string>& to_rank) const;
  // Waits for every rank (MPI_Barrier).
  void barrier() const;
  // Ends every rank of the job (MPI_Abort), so that none waits forever in a collective for a
  // rank that failed. Outside a launcher: exits with `code`.
  [[noreturn]] void abort(int code) const;

 private:
  friend World& world();
  World();
  int rank_ = 0;
  int size_ = 1;
};

// This process's world: MPI_COMM_WORLD under a launcher, a single rank otherwise.
World& world();

}  // namespace litepipe::distributed
