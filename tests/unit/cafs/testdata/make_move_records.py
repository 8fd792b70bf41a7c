#!/usr/bin/env python3
# Writes the golden and broken move records of datastore_move_test.cc (move_record_v1*.bin) from
# the byte table of docs/pools.md "Moving a datastore to another gateway", independently of the
# C++ encoder. Run from the repository root; the files are committed, this is how they were made.
import struct, hashlib, uuid, sys
def s(b): 
    if isinstance(b,str): b=b.encode()
    return struct.pack('<I',len(b))+b
def u(x): return uuid.UUID(x).bytes
out=b'CAFSMOVE'+struct.pack('<I',1)+u("6d6f7665-0000-4000-8000-000000000001")+u("a0a0a0a0-0000-4000-8000-00000000000a")+s("my_vmset")
red=("CAFS-REDIRECTOR 1\nguid 11111111-1111-4111-8111-111111111111\npath a0a0a0a0-0000-4000-8000-00000000000a/11/11111111-1111-4111-8111-111111111111\n")
entries=[(1,"",0o40755,0,0,0,1,2,3,4,""),(1,"vm1",0o40750,1000,1000,0,5,6,7,8,""),
 (2,"vm1/osdisk.img##shared_pool",0o100640,1000,1000,0,9,10,11,12,red),
 (4,"vm1/alias.img##shared_pool",0o100640,1000,1000,0,9,10,11,12,"vm1/osdisk.img##shared_pool"),
 (3,"vm1/current",0o120777,1000,1000,0,13,14,15,16,"osdisk.img")]
out+=struct.pack('<I',len(entries))
for (t,p,mode,uid,gid,rdev,a,an,m,mn,d) in entries:
    out+=struct.pack('<BIIIQqIqI',t,mode,uid,gid,rdev,a,an,m,mn)+s(p)+s(d)
out+=struct.pack('<I',1)+u("11111111-1111-4111-8111-111111111111")+s("shared_pool")+s("a0a0a0a0-0000-4000-8000-00000000000a/11/11111111-1111-4111-8111-111111111111")
out+=hashlib.sha256(out).digest()
d='tests/unit/cafs/testdata/'
open(d+'move_record_v1.bin','wb').write(out)
open(d+'move_record_v1_truncated.bin','wb').write(out[:len(out)-40])
t=bytearray(out); i=out.find(b'osdisk.img##'); t[i]=ord('O')
open(d+'move_record_v1_tampered.bin','wb').write(bytes(t))
print(len(out))
