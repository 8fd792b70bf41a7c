# Key & policy server: kpsd end to end with curl (kps_e2e.sh), with cafsctl and curl
# (kps_cafsctl_e2e.sh), and faults: kill -9 during writes, read-only and full data dir
# (kps_faults.sh).
if(TARGET kpsd)
  add_test(NAME kps_e2e COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/kps_e2e.sh $<TARGET_FILE:kpsd>)
  set_tests_properties(kps_e2e PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
  if(TARGET cafsctl)
    add_test(NAME kps_cafsctl_e2e COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/kps_cafsctl_e2e.sh
                                          $<TARGET_FILE:kpsd> $<TARGET_FILE:cafsctl>
                                          $<TARGET_FILE:cafs-demo>)
    set_tests_properties(kps_cafsctl_e2e PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
    if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/kps_faults.sh)
      add_test(NAME kps_faults COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/kps_faults.sh
                                       $<TARGET_FILE:kpsd> $<TARGET_FILE:cafsctl>)
      set_tests_properties(kps_faults PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
    endif()
  endif()
endif()
# KMIP over TLS driven by Debian's PyKMIP (kmip_pykmip_test.sh; docs/kmip.md).
if(TARGET kpsd)
  add_test(NAME kmip_pykmip COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/kmip_pykmip_test.sh
                                    $<TARGET_FILE:kpsd>)
  set_tests_properties(kmip_pykmip PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()
# Hostile clients against kpsd's two listeners (kps_hostile.py; docs/kps.md "The REST
# listener", "The KMIP listener"): floods from other loopback addresses, malformed and slow
# requests, random bytes; after each, an admin request and a gateway key fetch within 5 s
# and `cafsctl audit verify`.
if(TARGET kpsd AND TARGET cafsctl)
  foreach(listener rest kmip)
    add_test(NAME kps_${listener}_hostile
             COMMAND ${CAFS_TEST_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/kps_hostile.py --listener ${listener}
                     $<TARGET_FILE:kpsd> $<TARGET_FILE:cafsctl>)
    set_tests_properties(kps_${listener}_hostile PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180
                                                            RESOURCE_LOCK heavy)
  endforeach()
endif()
