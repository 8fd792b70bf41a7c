# EDIF end to end: edifd target + edifd host + two edif-agents, qemu-io as the guest, the
# fabric bytes captured by a relay and checked for plaintext, agent kill -9 and restart.
if(TARGET edifd AND TARGET edif-agent)
  add_test(NAME edif_e2e_secure_link
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/edif_e2e_test.sh $<TARGET_FILE:edifd> $<TARGET_FILE:edif-agent>)
  set_tests_properties(edif_e2e_secure_link PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
