# Key & policy server: kpsd end to end with curl (tests/integration/kps_e2e.sh).
if(TARGET kpsd)
  add_test(NAME kps_e2e COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/kps_e2e.sh $<TARGET_FILE:kpsd>)
  set_tests_properties(kps_e2e PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
