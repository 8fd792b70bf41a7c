#include "jobs/job.h"

#include <algorithm>
#include <array>
#include <set>
#include <utility>

namespace cafs::jobs {
namespace {

using json = nlohmann::json;

constexpr std::array<std::pair<JobState, std::string_view>, 7> kJobStates{{
    {JobState::kQueued, "queued"},
    {JobState::kRunning, "running"},
    {JobState::kPaused, "paused"},
    {JobState::kCancelling, "cancelling"},
    {JobState::kCancelled, "cancelled"},
    {JobState::kDone, "done"},
    {JobState::kFailed, "failed"},
}};
constexpr std::array<std::pair<TaskState, std::string_view>, 5> kTaskStates{{
    {TaskState::kPending, "pending"},
    {TaskState::kRunning, "running"},
    {TaskState::kDone, "done"},
    {TaskState::kFailed, "failed"},
    {TaskState::kSkipped, "skipped"},
}};

template <typename E, std::size_t N>
std::string_view NameOf(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "?";
}

template <typename E, std::size_t N>
Result<E> ParseName(const std::array<std::pair<E, std::string_view>, N>& table,
                    std::string_view text, std::string_view what) {
  for (const auto& [v, name] : table) {
    if (name == text) return v;
  }
  return Status::InvalidArgument("unknown " + std::string(what) + " '" + std::string(text) + "'");
}

// Reads the fields of one JSON object strictly: each Get* checks the type; Finish refuses
// fields nobody asked for.
class FieldReader {
 public:
  FieldReader(const json& j, std::string_view what) : j_(j), what_(what) {
    if (!j.is_object()) status_ = Status::InvalidArgument(what_ + " is not a JSON object");
  }
  void String(const char* key, std::string* out, bool required = true) {
    if (const json* v = Find(key, required)) {
      if (!v->is_string()) return Bad(key, "a string");
      *out = v->get<std::string>();
    }
  }
  void U64(const char* key, std::uint64_t* out, bool required = true) {
    if (const json* v = Find(key, required)) {
      if (!v->is_number_unsigned()) return Bad(key, "a non-negative integer");
      *out = v->get<std::uint64_t>();
    }
  }
  void I64(const char* key, std::int64_t* out, bool required = true) {
    if (const json* v = Find(key, required)) {
      if (!v->is_number_integer()) return Bad(key, "an integer");
      *out = v->get<std::int64_t>();
    }
  }
  void Bool(const char* key, bool* out, bool required = true) {
    if (const json* v = Find(key, required)) {
      if (!v->is_boolean()) return Bad(key, "true or false");
      *out = v->get<bool>();
    }
  }
  const json* Object(const char* key, bool required = true) {
    const json* v = Find(key, required);
    if (v != nullptr && !v->is_object()) {
      Bad(key, "an object");
      return nullptr;
    }
    return v;
  }
  const json* Array(const char* key) {
    const json* v = Find(key, true);
    if (v != nullptr && !v->is_array()) {
      Bad(key, "an array");
      return nullptr;
    }
    return v;
  }
  void Fail(Status s) {
    if (status_.ok()) status_ = std::move(s);
  }
  Status Finish() {
    if (status_.ok()) {
      for (const auto& [key, value] : j_.items()) {
        if (!seen_.count(key))
          return Status::InvalidArgument(what_ + ": unknown field '" + key + "'");
      }
    }
    return status_;
  }

 private:
  const json* Find(const char* key, bool required) {
    if (!status_.ok()) return nullptr;
    seen_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end()) {
      if (required) status_ = Status::InvalidArgument(what_ + ": missing field '" + key + "'");
      return nullptr;
    }
    return &*it;
  }
  void Bad(const char* key, const char* type) {
    status_ = Status::InvalidArgument(what_ + ": field '" + key + "' must be " + type);
  }

  const json& j_;
  std::string what_;
  std::set<std::string> seen_;
  Status status_;
};

json ToJson(const TaskRecord& t) {
  json j{{"path", t.path},
         {"state", TaskStateName(t.state)},
         {"done", t.done},
         {"total", t.total},
         {"cursor", t.cursor}};
  if (!t.error.empty()) j["error"] = t.error;
  return j;
}

Result<TaskRecord> TaskFromJson(const json& j) {
  TaskRecord t;
  FieldReader r(j, "task");
  std::string state;
  r.String("path", &t.path);
  r.String("state", &state);
  r.U64("done", &t.done);
  r.U64("total", &t.total);
  if (const json* c = r.Object("cursor")) t.cursor = *c;
  r.String("error", &t.error, /*required=*/false);
  if (!state.empty()) {
    auto s = ParseTaskState(state);
    if (!s.ok()) r.Fail(s.status());
    if (s.ok()) t.state = *s;
  }
  CAFS_RETURN_IF_ERROR(r.Finish());
  return t;
}

}  // namespace

std::string VolumePathOf(std::string_view gateway_path) {
  while (!gateway_path.empty() && gateway_path.front() == '/') gateway_path.remove_prefix(1);
  while (!gateway_path.empty() && gateway_path.back() == '/') gateway_path.remove_suffix(1);
  return std::string(gateway_path);
}

std::string_view JobStateName(JobState s) { return NameOf(kJobStates, s); }
Result<JobState> ParseJobState(std::string_view text) {
  return ParseName(kJobStates, text, "job state");
}
bool IsFinal(JobState s) {
  return s == JobState::kDone || s == JobState::kFailed || s == JobState::kCancelled;
}
std::string_view TaskStateName(TaskState s) { return NameOf(kTaskStates, s); }
Result<TaskState> ParseTaskState(std::string_view text) {
  return ParseName(kTaskStates, text, "task state");
}

std::uint64_t JobRecord::DoneBytes() const {
  std::uint64_t n = 0;
  for (const auto& t : tasks) n += t.done;
  return n;
}

std::uint64_t JobRecord::TotalBytes() const {
  std::uint64_t n = 0;
  for (const auto& t : tasks) n += t.total;
  return n;
}

json ToJson(const JobTarget& t) {
  json j{{"type", t.type}};
  if (!t.path.empty()) j["path"] = t.path;
  if (!t.pool.empty()) j["pool"] = t.pool;
  if (!t.key.empty()) {
    j["key"] = t.key;
    j["version"] = t.version;
  }
  return j;
}

Result<JobTarget> TargetFromJson(const json& j) {
  JobTarget t;
  FieldReader r(j, "target");
  r.String("type", &t.type);
  r.String("path", &t.path, false);
  r.String("pool", &t.pool, false);
  r.String("key", &t.key, false);
  std::uint64_t version = 0;
  r.U64("version", &version, false);
  if (version > UINT32_MAX) r.Fail(Status::InvalidArgument("target: version out of range"));
  t.version = static_cast<std::uint32_t>(version);
  CAFS_RETURN_IF_ERROR(r.Finish());
  if (t.type.empty()) return Status::InvalidArgument("target: empty type");
  return t;
}

json ToJson(const JobRecord& job) {
  json tasks = json::array();
  for (const auto& t : job.tasks) tasks.push_back(ToJson(t));
  json j{{"format", kJobFormat},
         {"id", job.id},
         {"kind", job.spec.kind},
         {"target", ToJson(job.spec.target)},
         {"params", job.spec.params},
         {"rate_limit_bps", job.spec.rate_limit_bps.value_or(0)},
         {"parallel", job.spec.parallel},
         {"requested_by", job.spec.requested_by},
         {"state", JobStateName(job.state)},
         {"planned", job.planned},
         {"created_ms", job.created_ms},
         {"updated_ms", job.updated_ms},
         {"finished_ms", job.finished_ms},
         {"tasks", std::move(tasks)}};
  if (!job.error.empty()) j["error"] = job.error;
  return j;
}

Result<JobRecord> JobFromJson(const json& j) {
  JobRecord job;
  FieldReader r(j, "job");
  std::string format, state;
  std::uint64_t parallel = 0, rate = 0;
  r.String("format", &format);
  r.String("id", &job.id);
  r.String("kind", &job.spec.kind);
  const json* target = r.Object("target");
  if (const json* p = r.Object("params")) job.spec.params = *p;
  r.U64("rate_limit_bps", &rate);
  job.spec.rate_limit_bps = rate;
  r.U64("parallel", &parallel);
  job.spec.parallel = static_cast<unsigned>(std::min<std::uint64_t>(parallel, 1024));
  r.String("requested_by", &job.spec.requested_by);
  r.String("state", &state);
  r.Bool("planned", &job.planned);
  r.I64("created_ms", &job.created_ms);
  r.I64("updated_ms", &job.updated_ms);
  r.I64("finished_ms", &job.finished_ms);
  r.String("error", &job.error, false);
  const json* tasks = r.Array("tasks");
  if (Status s = r.Finish(); !s.ok() || format != kJobFormat) {
    if (!format.empty() && format != kJobFormat) {
      return Status::InvalidArgument("job: format '" + format + "' is not '" +
                                     std::string(kJobFormat) + "'");
    }
    return s;
  }
  CAFS_ASSIGN_OR_RETURN(job.spec.target, TargetFromJson(*target));
  CAFS_ASSIGN_OR_RETURN(job.state, ParseJobState(state));
  for (const auto& t : *tasks) {
    CAFS_ASSIGN_OR_RETURN(TaskRecord task, TaskFromJson(t));
    job.tasks.push_back(std::move(task));
  }
  if (job.id.empty()) return Status::InvalidArgument("job: empty id");
  return job;
}

}  // namespace cafs::jobs
