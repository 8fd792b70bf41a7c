# Policy parsers (src/policy). Sources in tests/unit/policy/fuzz/; seeds in
# tests/fuzz/corpus/<name>/ are the seed document's examples plus documented extensions.
set(CAFS_POLICY_FUZZ_DIR ${PROJECT_SOURCE_DIR}/tests/unit/policy/fuzz)
cafs_add_fuzzer(policy_xml_fuzzer
  SOURCES ${CAFS_POLICY_FUZZ_DIR}/policy_xml_fuzzer.cc LIBS cafs_policy)
cafs_add_fuzzer(access_window_fuzzer
  SOURCES ${CAFS_POLICY_FUZZ_DIR}/access_window_fuzzer.cc LIBS cafs_policy)
cafs_add_fuzzer(policy_vglob_fuzzer
  SOURCES ${CAFS_POLICY_FUZZ_DIR}/policy_vglob_fuzzer.cc LIBS cafs_policy)
cafs_add_fuzzer(policy_tzif_fuzzer
  SOURCES ${CAFS_POLICY_FUZZ_DIR}/policy_tzif_fuzzer.cc LIBS cafs_policy)
