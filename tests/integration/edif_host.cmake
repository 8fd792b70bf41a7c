# EDIF host + target: edifd target and edifd host as real processes, qemu-io as the guest.
if(TARGET edifd)
  add_test(NAME edif_host_clear_lun
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/edif_host_test.sh $<TARGET_FILE:edifd>)
  set_tests_properties(edif_host_clear_lun PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180)
endif()
