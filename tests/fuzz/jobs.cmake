# cafsd's jobs control channel (src/jobs). jobs_control_fuzzer: ControlService::HandleLine on
# one request line against a real JobManager (records in memory) with the shred kind on an
# empty temp Volume. Seeds in tests/fuzz/corpus/jobs_control_fuzzer/: every op as `cafsd jobs`,
# `cafsd shred` and `cafsd rekey` send it, "$ID" standing for a real job's id.
if(TARGET cafs_jobs)
  cafs_add_fuzzer(jobs_control_fuzzer
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/jobs_control_fuzzer.cc
    LIBS cafs_jobs)
endif()
