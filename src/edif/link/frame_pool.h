// FramePool: a small, bounded pool of worker threads that seals and opens DATA frames, and
// FrameLane: one ordered stream of frames on it (one direction of one session), handed back
// in the order they were submitted (docs/edif-link.md 6).
//
// A job is two steps: `work` (the GCM seal or open) runs on any worker, concurrently with the
// other jobs of the lane and of other lanes; `deliver` (the socket write, or the in-order
// anti-replay commit and the request's next step) runs after it, in submission order, one
// at a time per lane, with no pool lock held, on whichever worker completed the job at the
// head of the lane. So the caller fixes the order (e.g. the sequence number and the key,
// assigned before Submit under its own lock) and the pool keeps it, while one worker writes
// a frame and another seals the next.
//
// Bounds: a lane holds at most `max_in_flight` jobs between Submit and the end of their
// deliver (its reorder buffer); Submit blocks while it is full (back-pressure on the
// submitting thread). The pool's queue is bounded by the sum over its lanes.
//
// Errors: `work` returns a Status, `deliver` receives it. Once the pool is stopped, Submit
// returns Unavailable (and runs nothing), and jobs not yet started are delivered with
// Unavailable, still in order, by Stop(). Neither step may throw.
//
// With 0 workers Submit runs both steps on the calling thread before it returns (the
// one-thread data path, for comparison and for tiny machines).
//
// Threading: all methods are thread-safe. Do not Submit to a lane from that lane's own
// deliver (it would wait for itself when the lane is full), and do not call Stop() from a
// job. Lifetime: a lane keeps the pool's shared state alive; Stop() (or the destructor)
// joins the workers: call it before what the jobs refer to goes away.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "util/result.h"

namespace cafs::edif::link {

struct FramePoolOptions {
  unsigned workers = 2;            // 0: seal and open inline on the submitting thread
  std::size_t max_in_flight = 16;  // per lane: frames submitted and not yet delivered
};

class FrameLane;

class FramePool {
 public:
  using Work = std::function<Status()>;
  using Deliver = std::function<void(Status)>;

  explicit FramePool(FramePoolOptions options = {});
  ~FramePool();  // Stop()
  FramePool(const FramePool&) = delete;
  FramePool& operator=(const FramePool&) = delete;

  // A new ordered stream of jobs on this pool.
  std::shared_ptr<FrameLane> NewLane();
  // Stops the workers (each finishes the job it is running), delivers every job not yet
  // started with Unavailable in lane order, and joins. Idempotent.
  void Stop();
  const FramePoolOptions& options() const { return options_; }

  struct Core;

 private:
  const FramePoolOptions options_;
  std::shared_ptr<Core> core_;
};

class FrameLane {
 public:
  // Queues a job (see the header). Blocks while the lane has max_in_flight jobs not yet
  // delivered. Unavailable once the pool is stopped (nothing runs). With `inline_when_idle`
  // and nothing else in flight on the lane, both steps run on the calling thread before this
  // returns (a small frame is not worth a thread handoff; jobs submitted meanwhile queue
  // behind it as usual).
  Status Submit(FramePool::Work work, FramePool::Deliver deliver, bool inline_when_idle = false);
  // Jobs submitted and not yet delivered.
  std::size_t in_flight() const;
  // Waits until every job submitted so far was delivered (or the pool stopped).
  void Drain();

  struct State;
  explicit FrameLane(std::shared_ptr<FramePool::Core> core);
  ~FrameLane();

 private:
  std::shared_ptr<FramePool::Core> core_;
  std::shared_ptr<State> state_;
};

}  // namespace cafs::edif::link
