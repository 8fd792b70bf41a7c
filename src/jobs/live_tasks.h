// LiveTasks<T>: the in-memory state a job kind keeps for a task across its steps (the rekey's
// open file and Rekeyer, a migration's FileMigration), keyed by job id and task path. What is
// dropped is destroyed outside the table's mutex, so a destructor may do I/O.
//
// Threading: every method is safe from many threads; the mutex is never held while T is
// destroyed or used. Ownership: entries are shared_ptrs; the caller's copy keeps one alive.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "jobs/job.h"

namespace cafs::jobs {

template <typename T>
class LiveTasks {
 public:
  ~LiveTasks() { Clear(); }

  std::shared_ptr<T> Find(const JobRecord& job, const TaskRecord& task) {
    std::lock_guard lock(mu_);
    auto it = live_.find(Key(job, task));
    return it == live_.end() ? nullptr : it->second;
  }
  void Put(const JobRecord& job, const TaskRecord& task, std::shared_ptr<T> live) {
    std::lock_guard lock(mu_);
    live_[Key(job, task)] = std::move(live);
  }
  // Forgets the task's entry; it is destroyed here (outside the mutex) unless used elsewhere.
  void Drop(const JobRecord& job, const TaskRecord& task) {
    std::shared_ptr<T> dropped;
    {
      std::lock_guard lock(mu_);
      auto it = live_.find(Key(job, task));
      if (it == live_.end()) return;
      dropped = std::move(it->second);
      live_.erase(it);
    }
  }
  void Clear() {
    std::map<std::string, std::shared_ptr<T>> all;
    {
      std::lock_guard lock(mu_);
      all.swap(live_);
    }
  }

 private:
  static std::string Key(const JobRecord& job, const TaskRecord& task) {
    return job.id + " " + task.path;
  }
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<T>> live_;  // guarded by mu_
};

}  // namespace cafs::jobs
