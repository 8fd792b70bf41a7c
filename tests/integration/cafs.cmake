# CAFS gateway: cafsd + FUSE against real clients (qemu-img, qemu-io, fio, dd).
if(TARGET cafsd)
  add_test(NAME cafs_fuse_end_to_end
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_fuse_test.sh $<TARGET_FILE:cafsd>)
  set_tests_properties(cafs_fuse_end_to_end PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()
if(TARGET cafsd AND TARGET kpsd AND TARGET cafsctl)
  add_test(NAME cafs_kps_end_to_end
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_kps_test.sh $<TARGET_FILE:cafsd> $<TARGET_FILE:kpsd>
            $<TARGET_FILE:cafsctl>)
  set_tests_properties(cafs_kps_end_to_end PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
# Shallow rekey (KEK and master-key rotation under I/O) and crypto-shred through the mount.
if(TARGET cafsd AND TARGET kpsd AND TARGET cafsctl)
  add_test(NAME cafs_shallow_rekey
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_shallow_rekey_test.sh $<TARGET_FILE:cafsd>
            $<TARGET_FILE:kpsd> $<TARGET_FILE:cafsctl>)
  set_tests_properties(cafs_shallow_rekey PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                       RESOURCE_LOCK heavy)
endif()
# The README's first command (scripts/demo.sh) with this build's binaries.
if(TARGET cafsd AND TARGET kpsd AND TARGET cafsctl AND TARGET cafs-demo)
  add_test(NAME cafs_product_demo
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_demo_test.sh $<TARGET_FILE:cafs-demo>
            $<TARGET_FILE:kpsd> $<TARGET_FILE:cafsd> $<TARGET_FILE:cafsctl>)
  set_tests_properties(cafs_product_demo PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()
# Faults on the FUSE mount: a pool that fills up (tmpfs) or vanishes (umount -l), kill -9 in a
# rename loop, READDIRPLUS of a 200-file directory. Root only (skips with 77 otherwise).
if(TARGET cafsd)
  add_test(NAME cafs_faults
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_faults_test.sh $<TARGET_FILE:cafsd>)
  set_tests_properties(cafs_faults PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()
# Names are bytes through the FUSE mount ('#', spaces, UTF-8, not UTF-8, name_max), pool file
# modes, the audit chain with non-UTF-8 names (issue 20 classes 9, 10, 11).
if(TARGET cafsd)
  add_test(NAME cafs_fuse_names
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_fuse_names_test.sh $<TARGET_FILE:cafsd>)
  set_tests_properties(cafs_fuse_names PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180
                       RESOURCE_LOCK heavy)
endif()
# POSIX semantics through the FUSE mount (issue 17): modes exactly the caller's whatever
# cafsd's umask, fstat of an open unlinked file, no `error` audit records for the lookups of a
# create-heavy run, and the differential conformance table (posix_conformance.py) against a
# plain directory, known differences listed in docs/posix.md. Root only (skips with 77).
if(TARGET cafsd)
  add_test(NAME cafs_posix_semantics
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_posix_test.sh $<TARGET_FILE:cafsd>)
  set_tests_properties(cafs_posix_semantics PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                       RESOURCE_LOCK heavy)
endif()
# Overwrite shred jobs through cafsd with the pool on a loop-mounted ext4 image: no block of
# a shredded file left on the raw image; kill -9 mid-job, restart, resume (docs/jobs.md).
if(TARGET cafsd)
  add_test(NAME cafs_shred
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_shred_test.sh $<TARGET_FILE:cafsd>)
  set_tests_properties(cafs_shred PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                       RESOURCE_LOCK heavy)
endif()
# Deep rekey jobs through cafsd + FUSE: qemu-io pattern writes/verifies (and fio
# --verify=crc32c) on disk images WHILE `cafsd rekey` runs; the pool file header names only
# the new version; kill -9 mid-rekey, restart, resume (docs/jobs.md "Deep rekey").
if(TARGET cafsd)
  add_test(NAME cafs_rekey
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_rekey_test.sh $<TARGET_FILE:cafsd>)
  set_tests_properties(cafs_rekey PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
                       RESOURCE_LOCK heavy)
endif()
# Rekey triggers: a key version marked compromised in kpsd -> urgent rekey request -> cafsd
# polls it, runs the local rekey job and reports progress -> `cafsctl rekey status` shows it
# done; headers name the new version only; the old one is destroyed without --force.
if(TARGET cafsd AND TARGET kpsd AND TARGET cafsctl)
  add_test(NAME cafs_rekey_triggers
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_rekey_triggers_test.sh $<TARGET_FILE:cafsd>
            $<TARGET_FILE:kpsd> $<TARGET_FILE:cafsctl>)
  set_tests_properties(cafs_rekey_triggers PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                       RESOURCE_LOCK heavy)
endif()
# Policy-driven conversion through cafsd + FUSE: the default vobj gets a key while fio
# --verify=crc32c writes a clear-text image; the policy cache starts the conversion job; the
# pool file then decrypts with the new key alone (docs/jobs.md "Conversions").
if(TARGET cafsd)
  add_test(NAME cafs_convert
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_convert_test.sh $<TARGET_FILE:cafsd>)
  set_tests_properties(cafs_convert PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                       RESOURCE_LOCK heavy)
endif()
# Hostile clients on the jobs control socket (issue 20): malformed, non-UTF-8, deep and huge
# requests, over-long lines, idle floods, byte-a-second and deaf clients, another uid; after
# each `cafsd jobs list` is served within 5 s and the mount serves I/O (docs/jobs.md).
if(TARGET cafsd)
  add_test(NAME cafs_jobs_control_hostile
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_jobs_control_hostile_test.sh $<TARGET_FILE:cafsd>)
  set_tests_properties(cafs_jobs_control_hostile PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                       RESOURCE_LOCK heavy)
endif()

# Deep rekey under kill -9: 20 rounds of kill -9 of cafsd at a random instant while a writer
# fsyncs 4 KiB blocks into the image being rekeyed; after each restart every fsync'ed block
# reads back and the job resumes; at the end the header names only the last key version.
# Release trees only (kill loops are too slow under ASan); iterations and image MiB are the
# script's arguments.
if(TARGET cafsd AND NOT CAFS_SANITIZE)
  add_test(NAME cafs_rekey_crash
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_rekey_crash_test.sh $<TARGET_FILE:cafsd> 20 8)
  set_tests_properties(cafs_rekey_crash PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
                       RESOURCE_LOCK heavy)
endif()

# Online migration jobs through cafsd + FUSE: fio --verify=crc32c on a disk image WHILE
# `cafsd migrate` moves it back and forth between two pools (name, size, inode unchanged);
# bad input (unknown/same/too small pool, directory, symlink); kill -9 mid-move, restart,
# resume; fsck clean (docs/migration.md). Size (MiB) and number of moves are parameters.
if(TARGET cafsd)
  add_test(NAME cafs_migrate
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_migrate_test.sh $<TARGET_FILE:cafsd> 16 2 1)
  set_tests_properties(cafs_migrate PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                       RESOURCE_LOCK heavy)
endif()

# Migration under kill -9 of cafsd at random points (20 rounds in release trees, 2 under ASan;
# the seed is printed): every fsync'ed block reads back after each restart, the job resumes,
# name/size/inode unchanged, `cafsd fsck` clean after every finished move. Rounds and image MiB
# are the script's arguments.
if(TARGET cafsd)
  if(CAFS_SANITIZE)
    set(cafs_migrate_crash_rounds 2)
  else()
    set(cafs_migrate_crash_rounds 20)
  endif()
  add_test(NAME cafs_migrate_crash
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_migrate_crash_test.sh $<TARGET_FILE:cafsd>
            ${cafs_migrate_crash_rounds} 8)
  set_tests_properties(cafs_migrate_crash PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900
                       RESOURCE_LOCK heavy)
endif()

# Mirrored storage through cafsd + FUSE (docs/redirectors.md "Mirrored files"): 2 copies, one
# pool on a tmpfs lazily unmounted while fio --verify=crc32c writes; degraded, audited once;
# the pool returns, the tick's resync job makes the copies byte-identical; kill -9 during a
# resync; fsck clean. Size (MiB), kill -9 rounds, resync rate (MiB/s) and the seed are the
# script's arguments: cafs_mirror (2 rounds, 2 MiB/s) in every tree, cafs_mirror_crash (20
# rounds of a 4 MiB resync at 4 MiB/s: each kill 0-2 s after the pool returns, the tick's
# second and the job's) in release trees only.
if(TARGET cafsd)
  add_test(NAME cafs_mirror
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_mirror_test.sh $<TARGET_FILE:cafsd> 8 2)
  set_tests_properties(cafs_mirror PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                       RESOURCE_LOCK heavy)
endif()
if(TARGET cafsd AND NOT CAFS_SANITIZE)
  add_test(NAME cafs_mirror_crash
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_mirror_test.sh $<TARGET_FILE:cafsd> 4 20 4)
  set_tests_properties(cafs_mirror_crash PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900
                       RESOURCE_LOCK heavy)
endif()

# DR replicas and restore through cafsd + FUSE (docs/replicas.md): qcow2 disk, full and
# incremental replica (~1% copied), restores checked with qemu-img check/compare, tampering
# detected, a vanished DR pool fails the job and it resumes. Disk size (MiB) is a parameter.
if(TARGET cafsd)
  add_test(NAME cafs_replica
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_replica_test.sh $<TARGET_FILE:cafsd> 32)
  set_tests_properties(cafs_replica PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                       RESOURCE_LOCK heavy)
endif()
