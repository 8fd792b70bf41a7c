# EDIF faults with real processes: kill -9 of edifd target under qemu-img bench writes through
# edifd host (bounded client error, restart, I/O again), auth timeout without agents, and with
# edif-agent a certificate naming another WWPN refused, then the right one accepted.
if(TARGET edifd)
  set(_edif_faults_agent "")
  if(TARGET edif-agent)
    set(_edif_faults_agent $<TARGET_FILE:edif-agent>)
  endif()
  add_test(NAME edif_target_lost_mid_io
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/edif_faults_test.sh $<TARGET_FILE:edifd> ${_edif_faults_agent})
  set_tests_properties(edif_target_lost_mid_io PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
