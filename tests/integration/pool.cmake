# Storage pools on Ceph RADOS (docs/pools.md), with one single-node cluster per CTest run: the
# fixture `ceph` (lib/ceph_fixture.sh, lib/ceph.sh) is started before the first test that needs it
# and stopped after the last. Without the Ceph packages the start skips (77) and the tests
# skip themselves. Only when the rados pool kind is built (librados found, CAFS_RADOS).
if(TARGET cafs_pool_rados)
  set(CAFS_CEPH_FIXTURE_DIR ${CMAKE_BINARY_DIR}/ceph-fixture)
  add_test(NAME ceph_cluster_start
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/lib/ceph_fixture.sh start ${CAFS_CEPH_FIXTURE_DIR})
  set_tests_properties(ceph_cluster_start PROPERTIES FIXTURES_SETUP ceph SKIP_RETURN_CODE 77
                       TIMEOUT 150 LABELS integration)
  add_test(NAME ceph_cluster_stop
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/lib/ceph_fixture.sh stop ${CAFS_CEPH_FIXTURE_DIR})
  set_tests_properties(ceph_cluster_stop PROPERTIES FIXTURES_CLEANUP ceph TIMEOUT 60
                       LABELS integration)

  # The contract suite's cases of `kind` against the cluster: pool_contract_<kind>.
  function(cafs_pool_contract_test kind)
    add_test(NAME pool_contract_${kind}
      COMMAND $<TARGET_FILE:pool_contract_test> --gtest_filter=Kinds/PoolContractTest.*/${kind})
    set_tests_properties(pool_contract_${kind} PROPERTIES
      FIXTURES_REQUIRED ceph ENVIRONMENT CAFS_TEST_CEPH_DIR=${CAFS_CEPH_FIXTURE_DIR}
      SKIP_REGULAR_EXPRESSION "no test cluster|pool kind is not built" TIMEOUT 180
      RESOURCE_LOCK ceph_osd LABELS integration)
  endfunction()
  if(TARGET pool_contract_test)
    cafs_pool_contract_test(rados)
    # On the cluster's radosgw, a key prefix per test.
    if(TARGET cafs_pool_s3)
      cafs_pool_contract_test(s3)
    endif()
  endif()
  # The s3 kind under faults: radosgw behind a fault-injecting proxy (500/503, dropped
  # connections), bad credentials, no listener (tests/unit/pool/s3_pool_fault_test.cc).
  if(TARGET s3_pool_fault_test)
    add_test(NAME s3_pool_faults COMMAND $<TARGET_FILE:s3_pool_fault_test>)
    set_tests_properties(s3_pool_faults PROPERTIES
      FIXTURES_REQUIRED ceph ENVIRONMENT CAFS_TEST_CEPH_DIR=${CAFS_CEPH_FIXTURE_DIR}
      SKIP_REGULAR_EXPRESSION "no test cluster|pool kind is not built" TIMEOUT 120
      RESOURCE_LOCK ceph_osd LABELS integration)
  endif()

  # A cafsd test script on the cluster: SCRIPT <cafsd>, CAFS_TEST_CEPH_DIR set, resource locks
  # heavy and the extra arguments.
  function(cafs_ceph_gateway_test name script timeout)
    set(locks heavy ${ARGN})
    add_test(NAME ${name} COMMAND ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/${script} $<TARGET_FILE:cafsd>)
    set_tests_properties(${name} PROPERTIES
      FIXTURES_REQUIRED ceph ENVIRONMENT CAFS_TEST_CEPH_DIR=${CAFS_CEPH_FIXTURE_DIR}
      SKIP_RETURN_CODE 77 TIMEOUT ${timeout} RESOURCE_LOCK "${locks}" LABELS integration)
  endfunction()
  if(TARGET cafsd)
    # cafsd with *osdisk* in a RADOS pool and the rest in a directory pool: qemu-img, qemu-io,
    # fio --verify, kill -9 and restart, ciphertext only in the raw objects (rados get).
    # Release tree only (CI budget): under ASan, RadosPool is checked by pool_contract_rados
    # and the gateway layers above it by cafs_fuse_end_to_end.
    cafs_ceph_gateway_test(cafs_rados_e2e cafs_rados_e2e_test.sh 300)
    set_property(TEST cafs_rados_e2e APPEND PROPERTY LABELS no_sanitize)
    # The OSD frozen during writes: clear errors within op_timeout_s, nothing fsync'ed lost,
    # service back without a cafsd restart.
    # The cluster's behaviour under a fault, not our memory safety: release tree only.
    cafs_ceph_gateway_test(cafs_rados_faults cafs_rados_faults_test.sh 180 ceph_osd)
    set_property(TEST cafs_rados_faults APPEND PROPERTY LABELS no_sanitize)
    # Two cafsd on one RADOS pool: each serves its own files, write leases (EBUSY, log,
    # audit), fsck on one never removes the other's objects; a planned datastore move from one
    # to the other keeps every fsync'ed block (fio crc32c) and both fscks clean.
    cafs_ceph_gateway_test(cafs_rados_two_gateways cafs_rados_two_gateways_test.sh 180 ceph_osd)
    set_property(TEST cafs_rados_two_gateways APPEND PROPERTY LABELS no_sanitize)
    # cafsd with *osdisk* in an s3 pool (radosgw): fsync'ed files back after a restart,
    # qemu-img convert/compare, ciphertext only and GUID names in the raw objects. Release tree
    # only: under ASan, S3Pool is checked by pool_contract_s3 and s3_pool_faults.
    if(TARGET cafs_pool_s3)
      cafs_ceph_gateway_test(cafs_s3_e2e cafs_s3_e2e_test.sh 240 ceph_osd)
      set_property(TEST cafs_s3_e2e APPEND PROPERTY LABELS no_sanitize)
      # One image migrated along every pair of kinds (posix, rados, s3): live between posix
      # and rados (fsync'ed blocks checked), an open file refused by s3 (no random writes),
      # closed moves into and out of s3; fsck clean (docs/migration.md "Pool kinds").
      cafs_ceph_gateway_test(cafs_migrate_pools cafs_migrate_pools_test.sh 240 ceph_osd)
      set_property(TEST cafs_migrate_pools APPEND PROPERTY LABELS no_sanitize)
      # A VM's DR replicas (full, then incremental) into an s3 pool on radosgw, restored into a
      # directory pool: qemu-img check/compare against copies taken at replica time, ciphertext
      # only in the raw objects (curl), tampered data and manifest objects detected, nothing
      # restored (docs/replicas.md "Pool kinds"). Disk size (MiB) is the script's argument.
      cafs_ceph_gateway_test(cafs_s3_replica cafs_s3_replica_test.sh 240 ceph_osd)
      set_property(TEST cafs_s3_replica APPEND PROPERTY LABELS no_sanitize)
    endif()
  endif()
endif()
