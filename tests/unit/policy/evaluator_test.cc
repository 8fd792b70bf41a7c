#include "policy/evaluator.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "policy/vmset_path.h"
#include "unit/policy/seed_xml.h"
#include "unit/policy/test_time.h"

namespace cafs::policy {
namespace {

using testing::Utc;

VmSet SeedVmSet() {
  auto v = VmSet::Parse(testing::kSeedVmSet);
  EXPECT_TRUE(v.ok());
  return *v;
}
PolicyDescriptor SeedDescriptor() {
  auto d = PolicyDescriptor::Parse(testing::kSeedVobjList);
  EXPECT_TRUE(d.ok());
  return *d;
}

TEST(VmSetPathTest, SeedPaths) {
  const VmSet v = SeedVmSet();
  auto p = ResolveVmSetPath(v, "/nfs/my_vmset/windows_xp/osdisk1.vmdk");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, (VmSetPath{"my_vmset", "windows_xp", "windows_xp/osdisk1.vmdk"}));
  auto dir = ResolveVmSetPath(v, "/nfs/my_vmset");
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(*dir, (VmSetPath{"my_vmset", "", ""}));
  auto vm = ResolveVmSetPath(v, "/nfs//my_vmset/./rh_linux/");
  ASSERT_TRUE(vm.ok());
  EXPECT_EQ(*vm, (VmSetPath{"my_vmset", "rh_linux", "rh_linux"}));
  // The seed's table: /nfs/vmset-A/VM-1.
  auto a = ResolveVmSetPath("/nfs", 1, "/nfs/vmset-A/VM-1/VM-1-flat.vmdk");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, (VmSetPath{"vmset-A", "VM-1", "VM-1/VM-1-flat.vmdk"}));
}

TEST(VmSetPathTest, PositionSkipsComponents) {
  auto p = ResolveVmSetPath("/exports", 2, "/exports/tenant-a/vmset-A/VM-1/disk.vmdk");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, (VmSetPath{"vmset-A", "VM-1", "VM-1/disk.vmdk"}));
  auto root = ResolveVmSetPath("/", 1, "/vmset-B/VM-2");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, (VmSetPath{"vmset-B", "VM-2", "VM-2"}));
}

TEST(VmSetPathTest, Errors) {
  const VmSet v = SeedVmSet();
  auto dotdot = ResolveVmSetPath(v, "/nfs/my_vmset/../other_vmset/x.vmdk");
  ASSERT_FALSE(dotdot.ok());
  EXPECT_TRUE(dotdot.status().IsInvalidArgument());
  EXPECT_EQ(dotdot.status().message(),
            "path '/nfs/my_vmset/../other_vmset/x.vmdk': '..' components are not allowed");
  auto other = ResolveVmSetPath(v, "/nfs/other_vmset/x.vmdk");
  ASSERT_FALSE(other.ok());
  EXPECT_TRUE(other.status().IsNotFound());
  EXPECT_EQ(other.status().message(),
            "path '/nfs/other_vmset/x.vmdk' is in VM set 'other_vmset', not 'my_vmset'");
  EXPECT_TRUE(ResolveVmSetPath(v, "/mnt/my_vmset/x").status().IsNotFound());
  EXPECT_TRUE(ResolveVmSetPath(v, "/nfsx/my_vmset/x").status().IsNotFound());
  EXPECT_TRUE(ResolveVmSetPath(v, "/nfs").status().IsNotFound());
  EXPECT_TRUE(ResolveVmSetPath(v, "nfs/my_vmset/x").status().IsInvalidArgument());
  EXPECT_TRUE(ResolveVmSetPath("/nfs", 0, "/nfs/a").status().IsInvalidArgument());
  auto n = NormalizePathWithinVmSet("/windows_xp//./osdisk1.vmdk");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, "windows_xp/osdisk1.vmdk");
  EXPECT_FALSE(NormalizePathWithinVmSet("windows_xp/../../etc").ok());
}

class EvaluatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VmSet v = SeedVmSet();
    v.servers.push_back("10.2.45.67");
    auto e = Evaluator::Create(std::move(v), SeedDescriptor());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    evaluator_ = std::make_unique<Evaluator>(*e);
  }
  std::unique_ptr<Evaluator> evaluator_;
};

TEST_F(EvaluatorTest, ListedServerInsideTheWindowIsAllowed) {
  ManualClock clock(Utc(2026, 11, 16, 10, 0));  // Monday
  auto d = evaluator_->Evaluate("755083456", "windows_xp/osdisk1.vmdk", clock.Now());
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->allowed);
  EXPECT_EQ(d->reason, "allowed by vobj 1 (*osdisk*)");
  EXPECT_EQ(d->vobj_index, 0u);
  EXPECT_EQ(d->vobj->storage_pool, "mirrored_pool_A");
  EXPECT_EQ(d->audit, AuditLevel::kAllRecords);
  EXPECT_TRUE(d->ShouldAudit());
}

TEST_F(EvaluatorTest, UnlistedServerIsDenied) {
  auto d = evaluator_->Evaluate("10.2.45.68", "windows_xp/osdisk1.vmdk", Utc(2026, 11, 16, 10, 0));
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->allowed);
  EXPECT_EQ(d->reason,
            "server 10.2.45.68 is not a listed virtualization server of VM set my_vmset");
  EXPECT_TRUE(d->ShouldAudit());
  // Even for hc_default files (at_all_times, audit none): the server check comes first.
  auto other = evaluator_->Evaluate("10.2.45.68", "windows_xp/data.vmdk", Utc(2026, 11, 16, 10, 0));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->allowed);
  EXPECT_EQ(other->vobj_index, 1u);
  EXPECT_FALSE(other->ShouldAudit());  // audit level none
}

TEST_F(EvaluatorTest, OutsideTheWindowIsDenied) {
  ManualClock clock(Utc(2026, 11, 21, 14, 3, 20));  // Saturday
  auto d = evaluator_->Evaluate("10.2.45.67", "rh_linux/root_osdisk.vmdk", clock.Now());
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->allowed);
  EXPECT_EQ(d->reason, "outside access window Mon-Fri(9am-5pm) (Sat 2026-11-21 14:03 UTC)");
  EXPECT_TRUE(d->ShouldAudit());
  // The catch-all is at_all_times.
  auto other = evaluator_->Evaluate("10.2.45.67", "rh_linux/swap.vmdk", clock.Now());
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->allowed);
  EXPECT_EQ(other->vobj->storage_pool, "default_pool");
  EXPECT_FALSE(other->ShouldAudit());
  // Boundaries: 9:00 open, 17:00 closed.
  clock.Set(Utc(2026, 11, 20, 9, 0));
  EXPECT_TRUE(evaluator_->Evaluate("10.2.45.67", "a/osdisk", clock.Now())->allowed);
  clock.Set(Utc(2026, 11, 20, 17, 0));
  EXPECT_FALSE(evaluator_->Evaluate("10.2.45.67", "a/osdisk", clock.Now())->allowed);
}

TEST_F(EvaluatorTest, BadPathsAndNoMatch) {
  auto dotdot = evaluator_->Evaluate("755083456", "../x", Utc(2026, 11, 16, 10, 0));
  ASSERT_FALSE(dotdot.ok());
  EXPECT_TRUE(dotdot.status().IsInvalidArgument());
  // Non-normalized paths are normalized before matching.
  auto d = evaluator_->Evaluate("755083456", "/windows_xp//osdisk1.vmdk", Utc(2026, 11, 16, 10, 0));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->vobj_index, 0u);

  PolicyDescriptor only_os = SeedDescriptor();
  only_os.objects.pop_back();
  auto e = Evaluator::Create(SeedVmSet(), only_os);
  ASSERT_TRUE(e.ok());
  auto none = e->Evaluate("755083456", "windows_xp/data.vmdk", Utc(2026, 11, 16, 10, 0));
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.status().IsNotFound());
  EXPECT_EQ(none.status().message(),
            "VM set my_vmset: no virtual object matches 'windows_xp/data.vmdk' and the policy "
            "descriptor has no hc_default catch-all");
}

TEST(EvaluatorCreateTest, DescriptorMustBelongToTheVmSet) {
  PolicyDescriptor d = SeedDescriptor();
  d.guid = Uuid::ClearTextKey();
  auto e = Evaluator::Create(SeedVmSet(), d);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Status::Code::kFailedPrecondition);
  d.guid = SeedVmSet().policy_descriptor;
  EXPECT_TRUE(Evaluator::Create(SeedVmSet(), d).ok());
  d.vmset_name = "other";
  EXPECT_FALSE(Evaluator::Create(SeedVmSet(), d).ok());
}

TEST(EvaluatorCreateTest, NeverWindowAndTimeZone) {
  if (!std::filesystem::exists("/usr/share/zoneinfo/Europe/Berlin")) GTEST_SKIP() << "no tzdata";
  VmSet v = SeedVmSet();
  v.time_zone = "Europe/Berlin";
  PolicyDescriptor d = SeedDescriptor();
  d.objects[1].access = AccessSchedule::Never();
  auto e = Evaluator::Create(v, d);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  // Monday 08:30 UTC = 09:30 CET: inside Mon-Fri(9am-5pm) in Berlin.
  auto in = e->Evaluate("755083456", "vm/osdisk.vmdk", Utc(2026, 11, 16, 8, 30));
  ASSERT_TRUE(in.ok());
  EXPECT_TRUE(in->allowed) << in->reason;
  // Monday 16:30 UTC = 17:30 CET: closed.
  auto out = e->Evaluate("755083456", "vm/osdisk.vmdk", Utc(2026, 11, 16, 16, 30));
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->allowed);
  EXPECT_EQ(out->reason, "outside access window Mon-Fri(9am-5pm) (Mon 2026-11-16 17:30 CET)");
  // Summer: 07:00 UTC = 09:00 CEST: open.
  EXPECT_TRUE(e->Evaluate("755083456", "vm/osdisk.vmdk", Utc(2026, 7, 15, 7, 0))->allowed);
  EXPECT_FALSE(e->Evaluate("755083456", "vm/osdisk.vmdk", Utc(2026, 7, 15, 6, 59))->allowed);
  auto never = e->Evaluate("755083456", "vm/data.vmdk", Utc(2026, 7, 15, 12, 0));
  ASSERT_TRUE(never.ok());
  EXPECT_FALSE(never->allowed);
  EXPECT_EQ(never->reason, "access to 'vm/data.vmdk' is never allowed (vobj 2 hc_default)");

  v.time_zone = "Mars/Olympus_Mons";
  auto bad = Evaluator::Create(v, d);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsNotFound());
}

}  // namespace
}  // namespace cafs::policy
