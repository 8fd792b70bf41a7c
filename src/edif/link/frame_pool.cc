#include "edif/link/frame_pool.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace cafs::edif::link {

namespace {

struct Job {
  std::shared_ptr<FrameLane::State> lane;
  FramePool::Work work;
  FramePool::Deliver deliver;
  Status result;
  bool done = false;  // guarded by Core::mu
};

}  // namespace

// Everything below is guarded by Core::mu.
struct FrameLane::State {
  std::deque<std::shared_ptr<Job>> window;  // submission order; the front is delivered next
  bool delivering = false;                  // one deliver at a time per lane
};

struct FramePool::Core {
  explicit Core(FramePoolOptions o) : options(o) {}
  const FramePoolOptions options;
  std::mutex mu;
  std::condition_variable work_cv;   // a job was queued, or stop
  std::condition_variable space_cv;  // a lane's window shrank, or stop
  std::deque<std::shared_ptr<Job>> queue;
  std::vector<std::thread> threads;
  bool stopped = false;

  // Delivers the finished jobs at the head of `lane`, in order, unless another thread is
  // doing so already (it will see them: `done` is set before this is called).
  void DeliverReady(FrameLane::State& lane, std::unique_lock<std::mutex>& lock) {
    if (lane.delivering) return;
    lane.delivering = true;
    while (!lane.window.empty() && lane.window.front()->done) {
      std::shared_ptr<Job> job = lane.window.front();
      lock.unlock();
      job->deliver(job->result);
      job->work = nullptr;  // free what the closures hold before the lock is taken again
      job->deliver = nullptr;
      lock.lock();
      lane.window.pop_front();
      job->lane.reset();
      space_cv.notify_all();
    }
    lane.delivering = false;
  }

  void Run() {
    std::unique_lock lock(mu);
    for (;;) {
      work_cv.wait(lock, [this] { return stopped || !queue.empty(); });
      if (stopped) return;
      std::shared_ptr<Job> job = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      Status result = job->work();
      lock.lock();
      job->result = std::move(result);
      job->done = true;
      std::shared_ptr<FrameLane::State> lane = job->lane;
      DeliverReady(*lane, lock);
    }
  }
};

FramePool::FramePool(FramePoolOptions options)
    : options_(options), core_(std::make_shared<Core>(options)) {}

FramePool::~FramePool() { Stop(); }

std::shared_ptr<FrameLane> FramePool::NewLane() { return std::make_shared<FrameLane>(core_); }

void FramePool::Stop() {
  std::vector<std::thread> threads;
  std::deque<std::shared_ptr<Job>> cancelled;
  {
    std::lock_guard lock(core_->mu);
    core_->stopped = true;
    threads = std::move(core_->threads);
    cancelled = std::move(core_->queue);
    for (auto& job : cancelled) {
      job->result = Status::Unavailable("frame pool stopped");
      job->done = true;
    }
  }
  core_->work_cv.notify_all();
  core_->space_cv.notify_all();
  for (auto& t : threads) t.join();
  // No worker is left: deliver what was cancelled (and what follows it), lane by lane.
  std::unique_lock lock(core_->mu);
  for (auto& job : cancelled) {
    if (std::shared_ptr<FrameLane::State> lane = job->lane) core_->DeliverReady(*lane, lock);
  }
}

FrameLane::FrameLane(std::shared_ptr<FramePool::Core> core)
    : core_(std::move(core)), state_(std::make_shared<State>()) {}

FrameLane::~FrameLane() = default;

std::size_t FrameLane::in_flight() const {
  std::lock_guard lock(core_->mu);
  return state_->window.size();
}

void FrameLane::Drain() {
  std::unique_lock lock(core_->mu);
  core_->space_cv.wait(lock, [&] { return core_->stopped || state_->window.empty(); });
}

Status FrameLane::Submit(FramePool::Work work, FramePool::Deliver deliver, bool inline_when_idle) {
  FramePool::Core& core = *core_;
  const std::size_t max = std::max<std::size_t>(core.options.max_in_flight, 1);
  std::unique_lock lock(core.mu);
  core.space_cv.wait(lock, [&] { return core.stopped || state_->window.size() < max; });
  if (core.stopped) return Status::Unavailable("frame pool stopped");
  auto job = std::make_shared<Job>();
  job->lane = state_;
  job->work = std::move(work);
  job->deliver = std::move(deliver);
  const bool here = core.options.workers == 0 || (inline_when_idle && state_->window.empty());
  state_->window.push_back(job);
  if (here) {
    lock.unlock();
    Status result = job->work();
    lock.lock();
    job->result = std::move(result);
    job->done = true;
    core.DeliverReady(*state_, lock);
    return Status::OK();
  }
  if (core.threads.empty()) {
    for (unsigned i = 0; i < core.options.workers; ++i) {
      core.threads.emplace_back([c = &core] { c->Run(); });
    }
  }
  core.queue.push_back(std::move(job));
  core.work_cv.notify_one();
  return Status::OK();
}

}  // namespace cafs::edif::link
