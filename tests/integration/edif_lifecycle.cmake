# EDIF with real edifd host + target + two edif-agent processes: rekey under sustained fio I/O
# (soft SA limits set low), kill -9 and restart of edifd host, and a smoke run of
# bench/run-edif-bench.sh --quick (asserts that every figure is printed, never its value).
if(TARGET edifd AND TARGET edif-agent)
  add_test(NAME edif_rekey_under_io
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/edif_rekey_test.sh $<TARGET_FILE:edifd> $<TARGET_FILE:edif-agent>)
  set_tests_properties(edif_rekey_under_io PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 400)
  add_test(NAME edif_driver_restart
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/edif_restart_test.sh $<TARGET_FILE:edifd> $<TARGET_FILE:edif-agent>)
  set_tests_properties(edif_driver_restart PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
  if(CAFS_BENCH)
    # The bench directory is configured after tests/: the script finds its binaries in the
    # build tree (apps/edifd, apps/edif-agent, bench/edif_mailbox_rtt_bench).
    add_test(NAME edif_bench_smoke
      COMMAND ${CMAKE_CURRENT_LIST_DIR}/edif_bench_smoke_test.sh ${PROJECT_SOURCE_DIR}/bench/run-edif-bench.sh
              ${PROJECT_BINARY_DIR})
    set_tests_properties(edif_bench_smoke PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180)
  endif()
endif()
