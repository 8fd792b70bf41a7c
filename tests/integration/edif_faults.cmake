# EDIF faults with real processes: kill -9 of edifd target under qemu-img bench writes through
# edifd host, bounded client error, restart, I/O again.
if(TARGET edifd)
  add_test(NAME edif_target_lost_mid_io
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/edif_faults_test.sh $<TARGET_FILE:edifd>)
  set_tests_properties(edif_target_lost_mid_io PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 240)
endif()
