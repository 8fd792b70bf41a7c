#!/usr/bin/env python3
"""Differential POSIX conformance: one table of cases run in a CAFS directory and in a plain
directory of the machine's own file system (the reference), compared outcome by outcome.

Each case is a small function that performs operations in a fresh directory and records
observations: the errno of each step (0 for success) and, for the entries it names, the
mode (type and permission bits), owner, group, link count, size and (where the case sets
them) times. A case runs twice per root: with clear-text names (the seed's hc_default vobj)
and with names matching the seed's `*osdisk*` vobj (AES-XTS), so both kinds of file are
checked. Any difference fails the run unless docs/posix.md lists the case id in its
"Known differences" table (with the reason); a listed case that now conforms fails too, so
the document stays true.

Usage: posix_conformance.py CAFS_DIR REFERENCE_DIR DOCS_POSIX_MD
Run as root: some cases switch to uid/gid 65534 in a child process (permission checks), which
needs both directories reachable by that user. Exit 0 pass, 1 differences, 2 usage.
"""
import errno
import os
import re
import shutil
import stat
import sys

NOBODY = 65534


def attrs(path, follow=False):
    """The compared attributes of `path` (lstat unless `follow`), or the errno."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except OSError as e:
        return {"errno": e.errno}
    a = {"mode": oct(st.st_mode), "uid": st.st_uid, "gid": st.st_gid, "nlink": st.st_nlink}
    if not stat.S_ISDIR(st.st_mode):
        a["size"] = st.st_size  # directory sizes are the backing file system's business
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        a["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
    return a


def err(fn, *args):
    """errno of fn(*args) (0 on success)."""
    try:
        fn(*args)
        return 0
    except OSError as e:
        return e.errno


def as_nobody(fn):
    """errno of fn() run as uid/gid 65534 in a child process (0 on success)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            fn()
        except OSError as e:
            code = e.errno
        except BaseException:
            code = 255
        os.write(w, str(code).encode())
        os._exit(0)
    os.close(w)
    out = b""
    while True:
        chunk = os.read(r, 64)
        if not chunk:
            break
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return int(out or b"255")


def write_file(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class Ctx:
    def __init__(self, root, prefix):
        self.root = root
        self.prefix = prefix
        self.obs = []

    def p(self, *names):
        """Path of names below the case directory; files get the vobj prefix."""
        return os.path.join(self.root, *[self.prefix + n if n.startswith("f") else n
                                         for n in names])

    def see(self, label, value):
        self.obs.append((label, value))


# ---- the table ------------------------------------------------------------------------------
# Each case: (id, function(ctx)). Ids are what docs/posix.md lists.

def under_umasks(c, op, name, modes, make):
    """`make(path, mode)` of every mode under umasks 022, 000 and 077, with the result's
    attributes."""
    for umask in (0o022, 0o000, 0o077):
        old = os.umask(umask)
        try:
            for mode in modes:
                path = c.p("%s%o_%o" % (name, umask, mode))
                c.see("%s %o umask %o" % (op, mode, umask), err(make, path, mode))
                c.see("attrs", attrs(path))
        finally:
            os.umask(old)


def mkdir_modes(c):
    under_umasks(c, "mkdir", "d", (0o777, 0o755, 0o700, 0o1777, 0o555, 0o2775), os.mkdir)


def create_modes(c):
    under_umasks(c, "create", "f", (0o666, 0o644, 0o640, 0o600, 0o777, 0o400),
                 lambda path, mode: os.close(
                     os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)))


def create_exclusive(c):
    f = c.p("f1")
    write_file(f, b"x")
    c.see("O_EXCL on existing", err(os.open, f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    c.see("create in missing dir", err(os.open, c.p("nodir", "f2"), os.O_WRONLY | os.O_CREAT))
    c.see("open missing", err(os.open, c.p("f3"), os.O_RDONLY))
    c.see("mkdir existing", err(os.mkdir, c.p("f1")))


def sizes(c):
    f = c.p("f1")
    write_file(f, b"a" * 5000)
    c.see("after write", attrs(f))
    os.truncate(f, 100)
    c.see("truncate 100", attrs(f))
    os.truncate(f, 100000)
    c.see("extend 100000", attrs(f))
    fd = os.open(f, os.O_RDWR)
    try:
        os.pwrite(fd, b"tail", 200000)
        c.see("pwrite beyond end", os.fstat(fd).st_size)
        os.ftruncate(fd, 7)
        c.see("ftruncate 7", os.fstat(fd).st_size)
        c.see("read back", os.pread(fd, 100, 0))
    finally:
        os.close(fd)
    fd = os.open(f, os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    c.see("O_TRUNC", attrs(f))


def chmod_chown(c):
    f = c.p("f1")
    d = c.p("d1")
    write_file(f, b"x", 0o600)
    os.mkdir(d, 0o700)
    for mode in (0o644, 0o4755, 0o2755, 0o1755, 0o000):
        c.see("chmod file %o" % mode, err(os.chmod, f, mode))
        c.see("attrs", attrs(f))
    c.see("chmod dir 1777", err(os.chmod, d, 0o1777))
    c.see("attrs", attrs(d))
    c.see("chown file", err(os.chown, f, NOBODY, NOBODY))
    c.see("attrs", attrs(f))
    c.see("chown dir", err(os.chown, d, NOBODY, 0))
    c.see("attrs", attrs(d))
    c.see("chown -1 -1", err(os.chown, f, -1, -1))
    c.see("attrs", attrs(f))


def times(c):
    f = c.p("f1")
    write_file(f, b"x")
    os.utime(f, ns=(1_000_000_123, 2_000_000_456))
    st = os.stat(f)
    c.see("utime ns", (st.st_atime_ns, st.st_mtime_ns))
    d = c.p("d1")
    os.mkdir(d)
    os.utime(d, (5, 6))
    st = os.stat(d)
    c.see("utime dir", (st.st_atime, st.st_mtime))


def removal_errors(c):
    os.mkdir(c.p("d1"))
    write_file(c.p("d1", "f1"), b"x")
    write_file(c.p("f2"), b"x")
    c.see("unlink missing", err(os.unlink, c.p("f9")))
    c.see("rmdir non-empty", err(os.rmdir, c.p("d1")))
    c.see("rmdir file", err(os.rmdir, c.p("f2")))
    c.see("unlink dir", err(os.unlink, c.p("d1")))
    c.see("rmdir missing", err(os.rmdir, c.p("d9")))
    c.see("unlink file", err(os.unlink, c.p("f2")))
    c.see("gone", attrs(c.p("f2")))


def renames(c):
    os.mkdir(c.p("d1"))
    os.mkdir(c.p("d2"))
    write_file(c.p("d2", "f1"), b"x")
    os.mkdir(c.p("d3"))
    write_file(c.p("fa"), b"aaaa")
    write_file(c.p("fb"), b"bb")
    c.see("file over file", err(os.rename, c.p("fa"), c.p("fb")))
    c.see("target", attrs(c.p("fb")))
    c.see("source", attrs(c.p("fa")))
    c.see("file over dir", err(os.rename, c.p("fb"), c.p("d1")))
    c.see("dir over file", err(os.rename, c.p("d1"), c.p("fb")))
    c.see("dir over non-empty dir", err(os.rename, c.p("d1"), c.p("d2")))
    c.see("dir over empty dir", err(os.rename, c.p("d1"), c.p("d3")))
    c.see("into own subdir", err(os.rename, c.p("d2"), c.p("d2", "sub")))
    c.see("missing source", err(os.rename, c.p("f9"), c.p("f8")))
    c.see("file to itself", err(os.rename, c.p("fb"), c.p("fb")))
    c.see("file into dir", err(os.rename, c.p("fb"), c.p("d2", "fb")))
    c.see("moved", attrs(c.p("d2", "fb")))
    c.see("dir nlink", attrs(c.p("d3")))


def symlinks(c):
    write_file(c.p("f1"), b"data")
    c.see("symlink", err(os.symlink, "f-target", c.p("l1")))
    c.see("lstat", attrs(c.p("l1")))
    c.see("readlink", os.readlink(c.p("l1")))
    c.see("symlink over existing", err(os.symlink, "x", c.p("f1")))
    c.see("readlink of a file", err(os.readlink, c.p("f1")))
    c.see("unlink symlink", err(os.unlink, c.p("l1")))


def dir_links(c):
    d = c.p("d1")
    os.mkdir(d)
    c.see("empty dir", attrs(d))
    for i in range(3):
        os.mkdir(os.path.join(d, "s%d" % i))
    c.see("three subdirs", attrs(d))
    os.rmdir(os.path.join(d, "s0"))
    c.see("after rmdir", attrs(d))
    write_file(os.path.join(d, c.prefix + "f1"), b"")
    c.see("listing", sorted(os.listdir(d)))


def open_unlinked(c):
    f = c.p("f1")
    fd = os.open(f, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        os.write(fd, b"z" * 3000)
        c.see("unlink while open", err(os.unlink, f))
        st = os.fstat(fd)
        c.see("fstat", (oct(st.st_mode), st.st_nlink, st.st_size))
        c.see("read", os.pread(fd, 10, 2995))
        os.write(fd, b"more")
        c.see("fstat after write", os.fstat(fd).st_size)
        c.see("fchmod", err(os.fchmod, fd, 0o600))
        c.see("fchown", err(os.fchown, fd, NOBODY, NOBODY))
        c.see("futimens", err(lambda: os.utime(fd, ns=(7_000_000_001, 8_000_000_002))))
        st = os.fstat(fd)
        c.see("fstat after f*", (oct(st.st_mode), st.st_uid, st.st_gid, st.st_nlink,
                                 st.st_mtime_ns))
        c.see("ftruncate", err(os.ftruncate, fd, 10))
        c.see("size", os.fstat(fd).st_size)
        c.see("name gone", attrs(f))
    finally:
        os.close(fd)


def permissions_nobody(c):
    root_dir = c.p("rootdir")
    os.mkdir(root_dir, 0o755)
    write_file(c.p("rootdir", "f1"), b"x", 0o644)
    ro = c.p("fro")
    write_file(ro, b"x", 0o444)
    os.chown(ro, NOBODY, NOBODY)
    sticky = c.p("sticky")
    os.mkdir(sticky, 0o1777)
    write_file(c.p("sticky", "froot"), b"x", 0o666)
    c.see("create in root's 0755 dir",
          as_nobody(lambda: os.close(os.open(c.p("rootdir", "f2"), os.O_WRONLY | os.O_CREAT,
                                             0o644))))
    c.see("write root's 0644 file",
          as_nobody(lambda: os.close(os.open(c.p("rootdir", "f1"), os.O_WRONLY))))
    c.see("read root's 0644 file",
          as_nobody(lambda: os.close(os.open(c.p("rootdir", "f1"), os.O_RDONLY))))
    c.see("write own 0444 file", as_nobody(lambda: os.close(os.open(ro, os.O_WRONLY))))
    c.see("chmod root's file", as_nobody(lambda: os.chmod(c.p("rootdir", "f1"), 0o777)))
    c.see("chown own file to root", as_nobody(lambda: os.chown(ro, 0, 0)))
    c.see("chmod own file", as_nobody(lambda: os.chmod(ro, 0o644)))
    c.see("attrs", attrs(ro))
    c.see("unlink root's file in sticky dir",
          as_nobody(lambda: os.unlink(c.p("sticky", "froot"))))
    c.see("create own in sticky dir",
          as_nobody(lambda: write_file(c.p("sticky", "fown"), b"y", 0o600)))
    c.see("own file attrs", attrs(c.p("sticky", "fown")))
    c.see("unlink own in sticky dir", as_nobody(lambda: os.unlink(c.p("sticky", "fown"))))
    c.see("mkdir in root's dir", as_nobody(lambda: os.mkdir(c.p("rootdir", "d"))))


def setgid_dirs(c):
    d = c.p("sgid")
    os.mkdir(d, 0o755)
    os.chown(d, 0, NOBODY)
    os.chmod(d, 0o2775)
    c.see("dir", attrs(d))
    write_file(os.path.join(d, c.prefix + "f1"), b"x", 0o644)
    c.see("file in setgid dir", attrs(os.path.join(d, c.prefix + "f1")))
    os.mkdir(os.path.join(d, "sub"), 0o755)
    c.see("dir in setgid dir", attrs(os.path.join(d, "sub")))


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def same_inode(a, b):
    """Whether two names are one file (what tar and rsync -H compare), or the errno."""
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError as e:
        return e.errno
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def hard_links(c):
    write_file(c.p("f1"), b"data")
    c.see("link", err(os.link, c.p("f1"), c.p("f2")))
    c.see("attrs f1", attrs(c.p("f1")))
    c.see("attrs f2", attrs(c.p("f2")))
    c.see("same inode", same_inode(c.p("f1"), c.p("f2")))
    write_file(c.p("f2"), b"written through the second name")
    c.see("read f1", read_file(c.p("f1")))
    c.see("link over an existing name", err(os.link, c.p("f1"), c.p("f2")))
    os.mkdir(c.p("d"))
    c.see("link of a directory", err(os.link, c.p("d"), c.p("dlink")))
    c.see("link into a missing directory", err(os.link, c.p("f1"), c.p("nodir", "f9")))
    c.see("link of a missing file", err(os.link, c.p("fnone"), c.p("f9")))
    c.see("link into a subdirectory", err(os.link, c.p("f1"), c.p("d", "f3")))
    c.see("attrs f1 (3 names)", attrs(c.p("f1")))
    # rename(2) of one name of a file onto another of its names does nothing.
    c.see("rename onto its own link", err(os.rename, c.p("f1"), c.p("f2")))
    c.see("attrs f1 after", attrs(c.p("f1")))
    c.see("rename a link", err(os.rename, c.p("f2"), c.p("f4")))
    c.see("attrs f4", attrs(c.p("f4")))
    c.see("unlink f1", err(os.unlink, c.p("f1")))
    c.see("attrs f4 after unlink", attrs(c.p("f4")))
    c.see("read f4", read_file(c.p("f4")))
    # A rename over a linked file drops one name of it, not its data.
    write_file(c.p("f5"), b"other")
    c.see("rename over a linked file", err(os.rename, c.p("f5"), c.p("f4")))
    c.see("read d/f3", read_file(c.p("d", "f3")))
    c.see("attrs d/f3", attrs(c.p("d", "f3")))
    c.see("unlink d/f3", err(os.unlink, c.p("d", "f3")))
    c.see("attrs d/f3 gone", attrs(c.p("d", "f3")))
    # Links of a symlink (not followed: linkat without AT_SYMLINK_FOLLOW).
    os.symlink("f4", c.p("sl"))
    c.see("link of a symlink", err(lambda: os.link(c.p("sl"), c.p("sl2"), follow_symlinks=False)))
    c.see("attrs sl2", attrs(c.p("sl2")))
    c.see("listing", sorted(os.listdir(c.root)))


def rename_vobj(c):
    """Renames that would put a regular file under another vobj's rules (docs/posix.md "Known
    differences": EXDEV on CAFS), the `mv` fallback, and renames that keep every file's vobj.
    The clear case's names are hc_default's and go into `osdisk_*` names; the encrypted case
    directory's names are all *osdisk*'s and go out of it, beside the case directory."""
    parent = os.path.dirname(c.root)
    kind = "enc" if c.prefix else "clear"
    if c.prefix:
        other_file = os.path.join(parent, "renamed-file-" + kind)
        other_dir = os.path.join(parent, "renamed-dir-" + kind)
    else:
        other_file, other_dir = c.p("osdisk_file"), c.p("osdisk_dir")
    write_file(c.p("f1"), b"data")
    got = err(os.rename, c.p("f1"), other_file)
    c.see("rename a file into another vobj", got)
    if got == 0:
        os.rename(other_file, c.p("f1"))
    # mv copies and unlinks after EXDEV: read under the old rules, written under the new.
    shutil.move(c.p("f1"), other_file)
    c.see("mv: old name", os.path.exists(c.p("f1")))
    c.see("mv: new name", read_file(other_file))
    os.unlink(other_file)
    os.mkdir(c.p("d"))
    os.mkdir(c.p("d", "sub"))
    write_file(c.p("d", "sub", "g2"), b"below")  # "g2": not prefixed, follows its directory
    got = err(os.rename, c.p("d"), other_dir)
    c.see("rename a directory whose file would change vobj", got)
    if got == 0:
        os.rename(other_dir, c.p("d"))
    c.see("rename a directory inside one vobj", err(os.rename, c.p("d"), c.p("d2")))
    c.see("read d2/sub/g2", read_file(c.p("d2", "sub", "g2")))
    os.symlink("f9", c.p("sl"))
    c.see("rename a symlink into another vobj", err(os.rename, c.p("sl"), other_file))
    os.unlink(other_file)
    c.see("listing", sorted(os.listdir(c.root)))


def special_files(c):
    c.see("mkfifo", err(os.mkfifo, c.p("fifo"), 0o644))
    c.see("attrs", attrs(c.p("fifo")))
    c.see("mkfifo again", err(os.mkfifo, c.p("fifo"), 0o644))
    # It works as a FIFO (the kernel's pipe, not the gateway's data path).
    fd = os.open(c.p("fifo"), os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(fd, b"through the fifo")
        c.see("fifo read", os.read(fd, 64))
    finally:
        os.close(fd)
    c.see("chmod", err(os.chmod, c.p("fifo"), 0o600))
    c.see("chown", err(os.chown, c.p("fifo"), NOBODY, NOBODY))
    c.see("attrs after chmod/chown", attrs(c.p("fifo")))
    c.see("rename", err(os.rename, c.p("fifo"), c.p("fifo2")))
    c.see("link", err(os.link, c.p("fifo2"), c.p("fifo3")))
    c.see("attrs linked", attrs(c.p("fifo2")))
    c.see("unlink", err(os.unlink, c.p("fifo3")))
    c.see("attrs after unlink", attrs(c.p("fifo2")))
    import socket
    old = os.getcwd()
    os.chdir(c.root)  # sun_path is short: bind by a relative name
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            c.see("bind", err(sock.bind, "sock"))
        finally:
            sock.close()
    finally:
        os.chdir(old)
    c.see("attrs socket", attrs(c.p("sock")))
    c.see("mknod chr", err(os.mknod, c.p("chr"), stat.S_IFCHR | 0o640, os.makedev(1, 3)))
    c.see("attrs chr", attrs(c.p("chr")))
    c.see("mknod blk", err(os.mknod, c.p("blk"), stat.S_IFBLK | 0o600, os.makedev(7, 200)))
    c.see("attrs blk", attrs(c.p("blk")))
    c.see("mknod fifo", err(os.mknod, c.p("fifo4"), stat.S_IFIFO | 0o640))
    c.see("attrs fifo4", attrs(c.p("fifo4")))
    c.see("mknod chr as nobody",
          as_nobody(lambda: os.mknod(c.p("chr2"), stat.S_IFCHR | 0o600, os.makedev(1, 3))))
    c.see("mknod fifo as nobody", as_nobody(lambda: os.mknod(c.p("fifo5"), stat.S_IFIFO | 0o600)))
    c.see("listing", sorted(os.listdir(c.root)))
    c.see("rename a fifo over a file", err(lambda: (write_file(c.p("f1"), b"x"),
                                                     os.rename(c.p("fifo4"), c.p("f1")))))
    c.see("attrs f1", attrs(c.p("f1")))
    for n in ("fifo2", "sock", "chr", "blk", "f1"):
        c.see("unlink " + n, err(os.unlink, c.p(n)))
    c.see("listing after", sorted(os.listdir(c.root)))


def long_names(c):
    """Names up to NAME_MAX for every kind of entry (files longer than `name##pool` allows
    are stored hashed, docs/redirectors.md "Long names")."""
    longest = "f" + "n" * (255 - 1 - len(c.prefix))
    c.see("create name_max", err(write_file, c.p(longest), b"long"))
    c.see("create name_max + 1", err(write_file, c.p(longest + "n"), b""))
    c.see("attrs", attrs(c.p(longest)))
    c.see("read", read_file(c.p(longest)) if os.path.exists(c.p(longest)) else None)
    c.see("listed", longest in [n[len(c.prefix):] for n in os.listdir(c.root)])
    write_file(c.p("fshort"), b"short")
    longer = "f" + "m" * (255 - 1 - len(c.prefix))
    c.see("rename to name_max", err(os.rename, c.p("fshort"), c.p(longer)))
    c.see("read renamed", read_file(c.p(longer)) if os.path.exists(c.p(longer)) else None)
    c.see("link to name_max", err(os.link, c.p(longer), c.p("f" + "l" * (254 - len(c.prefix)))))
    c.see("attrs linked", attrs(c.p(longer)))
    c.see("mkdir name_max", err(os.mkdir, c.p("d" * 255)))
    c.see("symlink name_max", err(os.symlink, "target", c.p("s" * 255)))
    c.see("mkfifo name_max", err(os.mkfifo, c.p("p" * 255)))
    c.see("listing", sorted(os.listdir(c.root)))
    # 254 bytes ending in '#', and 255 bytes that are not UTF-8.
    hashes = "f" + "h" * (252 - len(c.prefix)) + "#"
    c.see("create 254 ending in #", err(write_file, c.p(hashes), b"hashes"))
    raw = os.fsencode(c.prefix) + b"f\xff\xfe\xc3(" + b"r" * (250 - len(c.prefix))
    raw_path = os.path.join(os.fsencode(c.root), raw)
    c.see("create not UTF-8", err(write_file, raw_path, b"raw"))
    c.see("read not UTF-8", read_file(raw_path) if os.path.exists(raw_path) else None)
    c.see("listed not UTF-8", raw in os.listdir(os.fsencode(c.root)))
    # Renames: long over an existing long file (its data goes), long to short and back,
    # into and out of a directory with a NAME_MAX name.
    c.see("rename long over long", err(os.rename, c.p(hashes), c.p(longest)))
    c.see("read replaced", read_file(c.p(longest)) if os.path.exists(c.p(longest)) else None)
    c.see("rename long to short", err(os.rename, c.p(longest), c.p("fback")))
    c.see("rename short to long", err(os.rename, c.p("fback"), c.p(hashes)))
    c.see("rename into long dir", err(os.rename, raw_path,
                                      os.path.join(os.fsencode(c.p("d" * 255)), raw)))
    c.see("attrs in long dir", attrs(os.path.join(os.fsencode(c.p("d" * 255)), raw)))
    c.see("rmdir non-empty long dir", err(os.rmdir, c.p("d" * 255)))
    c.see("listing 2", sorted(os.listdir(c.root)))
    c.see("unlink in long dir", err(os.unlink, os.path.join(os.fsencode(c.p("d" * 255)), raw)))
    c.see("rmdir long dir", err(os.rmdir, c.p("d" * 255)))
    for n in (hashes, longer, "f" + "l" * (254 - len(c.prefix))):
        c.see("unlink", err(os.unlink, c.p(n)))
    for n in ("s" * 255, "p" * 255):
        c.see("unlink", err(os.unlink, c.p(n)))
    c.see("listing after", sorted(os.listdir(c.root)))


def hash_names(c):
    """Names containing "##" (the separator of CAFS's backing names `name##pool`): files,
    directories, symlinks and FIFOs named so, beside the file whose redirector has that very
    backing name (`fa` in default_pool is `fa##default_pool` in the backing store); create,
    read, stat, link, rename in and out of the form, a symlink over such a file, listing,
    removal (docs/redirectors.md "Long names": stored hashed)."""
    write_file(c.p("fa"), b"plain a")
    for n in ("fa##default_pool", "fa##mirrored_pool_A", "f##", "f##x##y", "f#a##"):
        c.see("create " + n, err(write_file, c.p(n), n.encode()))
        c.see("attrs " + n, attrs(c.p(n)))
    c.see("read fa", read_file(c.p("fa")))
    c.see("read fa##default_pool", read_file(c.p("fa##default_pool")))
    c.see("mkdir", err(os.mkdir, c.p("fa##mirrored_pool_Ad"), 0o750))
    c.see("mkdir over the backing name of fa", err(os.mkdir, c.p("d##default_pool"), 0o750))
    c.see("attrs dir", attrs(c.p("d##default_pool")))
    c.see("create in dir", err(write_file, c.p("d##default_pool", "f##in"), b"in"))
    c.see("symlink", err(os.symlink, "fa", c.p("s##mirrored_pool_A")))
    c.see("readlink", os.readlink(c.p("s##mirrored_pool_A")))
    c.see("mkfifo", err(os.mkfifo, c.p("##"), 0o640))
    c.see("attrs fifo", attrs(c.p("##")))
    c.see("link", err(os.link, c.p("fa"), c.p("fa##link")))
    c.see("attrs linked", attrs(c.p("fa")))
    c.see("read link", read_file(c.p("fa##link")))
    c.see("rename to plain", err(os.rename, c.p("f##"), c.p("fb")))
    c.see("rename back", err(os.rename, c.p("fb"), c.p("f##")))
    c.see("rename over hashed", err(os.rename, c.p("f#a##"), c.p("f##")))
    c.see("read renamed over", read_file(c.p("f##")))
    c.see("rename dir", err(os.rename, c.p("d##default_pool"), c.p("d2##")))
    c.see("read in renamed dir", read_file(c.p("d2##", "f##in")))
    c.see("rename symlink over file", err(os.rename, c.p("s##mirrored_pool_A"), c.p("f##x##y")))
    c.see("attrs replaced", attrs(c.p("f##x##y")))
    c.see("listing", sorted(os.listdir(c.root)))
    for n in ("fa", "fa##default_pool", "fa##mirrored_pool_A", "f##", "f##x##y", "fa##link", "##",
              os.path.join("d2##", "f##in")):
        c.see("unlink " + n, err(os.unlink, c.p(*n.split("/"))))
    for n in ("d2##", "fa##mirrored_pool_Ad"):
        c.see("rmdir " + n, err(os.rmdir, c.p(n)))
    c.see("listing after", sorted(os.listdir(c.root)))


def newline_names(c):
    """Names with a newline (ext4 takes them; CAFS's redirectors carry no name)."""
    for n in ("f\nx", "fpath\npath y"):
        c.see("create", err(write_file, c.p(n), b"nl"))
        c.see("attrs", attrs(c.p(n)))
        c.see("read", read_file(c.p(n)))
    c.see("mkdir", err(os.mkdir, c.p("d\ny")))
    c.see("symlink", err(os.symlink, "f\nx", c.p("s\nz")))
    c.see("rename", err(os.rename, c.p("f\nx"), c.p("d\ny", "f\nw")))
    c.see("read renamed", read_file(c.p("d\ny", "f\nw")))
    c.see("listing", sorted(os.listdir(c.root)))
    for n in (("d\ny", "f\nw"), ("fpath\npath y",), ("s\nz",)):
        c.see("unlink", err(os.unlink, c.p(*n)))
    c.see("rmdir", err(os.rmdir, c.p("d\ny")))
    c.see("listing after", sorted(os.listdir(c.root)))


def long_paths(c):
    """Paths up to and past PATH_MAX: a chain of 200-byte directory names ~5000 bytes deep,
    walked with directory descriptors (no caller can name such a path whole); a file at the
    bottom created, written, read, stat'ed, linked, renamed and removed; and an absolute path
    of ~3800 bytes used whole (open, stat, rename) where both roots are still under PATH_MAX."""
    def at(fd, name):
        try:
            st = os.lstat(name, dir_fd=fd)
        except OSError as e:
            return {"errno": e.errno}
        return {"mode": oct(st.st_mode), "nlink": st.st_nlink,
                "size": None if stat.S_ISDIR(st.st_mode) else st.st_size}

    fds = [os.open(c.root, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for level in range(25):
            name = ("%02d" % level) + "d" * 198
            c.see("mkdir level %d" % level, err(lambda: os.mkdir(name, 0o755, dir_fd=fds[-1])))
            fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
            if level == 18:  # ~3800 bytes below the case directory: absolute paths still work
                rel = os.path.join(*[("%02d" % i) + "d" * 198 for i in range(19)])
                whole = os.path.join(c.root, rel, c.prefix + "abs")
                c.see("create absolute", err(write_file, whole, b"absolute"))
                c.see("read absolute", read_file(whole) if os.path.exists(whole) else None)
                c.see("rename absolute", err(os.rename, whole, whole + "2"))
                c.see("stat absolute", at(fds[-1], c.prefix + "abs2"))
        bottom = fds[-1]
        f = c.prefix + "deep"
        fd = os.open(f, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640, dir_fd=bottom)
        os.write(fd, b"deep data")
        os.fsync(fd)
        os.close(fd)
        c.see("stat deep", at(bottom, f))
        fd = os.open(f, os.O_RDONLY, dir_fd=bottom)
        c.see("read deep", os.read(fd, 100))
        os.close(fd)
        c.see("link deep", err(lambda: os.link(f, f + ".l", src_dir_fd=bottom, dst_dir_fd=bottom)))
        c.see("stat linked", at(bottom, f))
        c.see("rename deep up", err(lambda: os.rename(f, f + ".up", src_dir_fd=bottom,
                                                      dst_dir_fd=fds[10])))
        c.see("stat renamed", at(fds[10], f + ".up"))
        c.see("listing deep", sorted(os.listdir(bottom)))
        c.see("unlink deep", err(lambda: os.unlink(f + ".l", dir_fd=bottom)))
        c.see("unlink renamed", err(lambda: os.unlink(f + ".up", dir_fd=fds[10])))
        c.see("unlink absolute", err(lambda: os.unlink(c.prefix + "abs2", dir_fd=fds[19])))
        for level in range(24, -1, -1):
            name = ("%02d" % level) + "d" * 198
            c.see("rmdir level %d" % level, err(lambda: os.rmdir(name, dir_fd=fds[level])))
    finally:
        for fd in fds:
            os.close(fd)


def dir_rewind(c):
    """An open directory listed again (rewinddir: Python's listdir of a descriptor) shows the
    names added and removed since, also the names a rename moved in or out."""
    fd = os.open(c.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        c.see("listing", sorted(os.listdir(fd)))
        write_file(c.p("f1"), b"x")
        os.mkdir(c.p("d1"))
        c.see("after create", sorted(os.listdir(fd)))
        os.rename(c.p("f1"), c.p("d1", "f1"))
        c.see("after rename out", sorted(os.listdir(fd)))
        os.rename(c.p("d1", "f1"), c.p("f2"))
        c.see("after rename in", sorted(os.listdir(fd)))
        os.unlink(c.p("f2"))
        os.rmdir(c.p("d1"))
        c.see("after unlink", sorted(os.listdir(fd)))
    finally:
        os.close(fd)

CASES = [
    ("mkdir-modes", mkdir_modes),
    ("create-modes", create_modes),
    ("create-exclusive", create_exclusive),
    ("sizes", sizes),
    ("chmod-chown", chmod_chown),
    ("times", times),
    ("removal-errors", removal_errors),
    ("renames", renames),
    ("symlinks", symlinks),
    ("dir-links", dir_links),
    ("open-unlinked", open_unlinked),
    ("permissions-nobody", permissions_nobody),
    ("setgid-dirs", setgid_dirs),
    ("hard-links", hard_links),
    ("special-files", special_files),
    ("rename-vobj", rename_vobj),
    ("long-names", long_names),
    ("hash-names", hash_names),
    ("newline-names", newline_names),
    ("long-paths", long_paths),
    ("dir-rewind", dir_rewind),
]
PREFIXES = [("clear", ""), ("encrypted", "osdisk_")]


def known_differences(doc):
    """Case ids in the first column of docs/posix.md's "Known differences" table."""
    ids = set()
    in_section = False
    with open(doc, encoding="utf-8") as f:
        for line in f:
            if line.startswith("## "):
                in_section = line.strip().lower().startswith("## known differences")
                continue
            m = re.match(r"\|\s*`([a-z0-9-]+)`\s*\|", line)
            if in_section and m:
                ids.add(m.group(1))
    return ids


def run(root, name, prefix, fn):
    case_dir = os.path.join(root, "%s.%s" % (name, prefix or "clear"))
    os.mkdir(case_dir, 0o755)
    c = Ctx(case_dir, prefix)
    try:
        fn(c)
    except OSError as e:  # a step the case did not expect to fail: an outcome too
        c.see("unexpected failure", "%s (%s)" % (errno.errorcode.get(e.errno, e.errno), e))
    return c.obs


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    cafs, ref, doc = sys.argv[1:]
    known = known_differences(doc)
    unknown_ids = known - {name for name, _ in CASES}
    failures = []
    if unknown_ids:
        failures.append("docs/posix.md lists cases that do not exist: %s" % sorted(unknown_ids))
    conform = differ_known = 0
    for name, fn in CASES:
        for kind, prefix in PREFIXES:
            got = run(cafs, name, prefix, fn)
            want = run(ref, name, prefix, fn)
            diffs = []
            for i in range(max(len(got), len(want))):
                g = got[i] if i < len(got) else None
                w = want[i] if i < len(want) else None
                if g != w:
                    diffs.append("  step %d: cafs %r, reference %r" % (i, g, w))
            label = "%s (%s)" % (name, kind)
            if not diffs:
                if name in known:
                    failures.append("%s conforms but docs/posix.md lists it as a known difference"
                                    % label)
                else:
                    conform += 1
                continue
            if name in known:
                differ_known += 1
                print("known difference %s:\n%s" % (label, "\n".join(diffs[:3])))
            else:
                failures.append("%s differs:\n%s" % (label, "\n".join(diffs)))
    for f in failures:
        print("FAIL", f)
    print("posix conformance: %d case runs conform, %d known differences, %d failures"
          % (conform, differ_known, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
