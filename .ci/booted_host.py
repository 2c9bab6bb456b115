#!/usr/bin/env python3
"""The generated prepare role on a booted host (issue 10; docs/ansible.md,
"On a booted host").

The chroot runs of .ci/ansible-idempotence skip the tasks that act on the
running kernel and init system (`iotc_prepare_in_container`). This boots a
throwaway Debian 12 virtual machine instead (QEMU) made from the same debootstrapped root plus Debian's kernel, and
runs the generated playbooks/prepare.yml of .ci/booted-host/gateway.iot
against it over SSH with nothing skipped, twice (the second run must report
`changed=0`). Then it reads the host back: the udev rule gave the render
node (the VM's virtio-gpu makes /dev/dri/renderD128) to iotc's fixed-id
group with the host group's ACL, the kernel modules are loaded, every
sysctl has its value, ufw is active, chrony runs, sshd runs with the
drop-in's settings, the host folder belongs to the service user. It
reboots the VM and reads everything again: what the role wrote must hold
from boot on, without Ansible.

Needs root (chroot, mount), qemu-system-x86_64 (software emulation, see
Vm.start), mkfs.ext4 (-d), ssh, and
deb.debian.org (the kernel once; the role's packages). Run by
.ci/ansible-idempotence, which makes the root and the Ansible venv.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(REPO, ".ci", "booted-host", "gateway.iot")
RENDER = "/dev/dri/renderD128"


def run(cmd, **kw):
    kw.setdefault("check", True)
    return subprocess.run(cmd, **kw)


def chroot(root, *cmd, env=None):
    e = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8")
    e.update(env or {})
    run(["chroot", root, *cmd], env=e, stdout=subprocess.DEVNULL)


class Mounts:
    def __init__(self):
        self.points = []

    def mount(self, *args):
        run(["mount", *args])
        self.points.append(args[-1])

    def undo(self):
        for p in reversed(self.points):
            subprocess.run(["umount", p], check=False)
            subprocess.run(["umount", "-l", p], check=False, stderr=subprocess.DEVNULL)
        self.points = []


def vm_base(base, cache):
    """The debootstrapped root with Debian's kernel and initramfs, kept in
    the cache beside it."""
    vm = os.path.join(cache, "bookworm-vm")
    if os.path.isdir(os.path.join(vm, "boot")) and any(f.startswith("initrd.img-") for f in os.listdir(os.path.join(vm, "boot"))):
        return vm
    tmp = vm + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    run(["cp", "-a", base, tmp])
    shutil.copy("/etc/resolv.conf", os.path.join(tmp, "etc/resolv.conf"))
    m = Mounts()
    try:
        m.mount("-t", "proc", "proc", os.path.join(tmp, "proc"))
        m.mount("--bind", "/dev", os.path.join(tmp, "dev"))
        m.mount("-t", "sysfs", "sysfs", os.path.join(tmp, "sys"))
        with open(os.path.join(tmp, "usr/sbin/policy-rc.d"), "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(os.path.join(tmp, "usr/sbin/policy-rc.d"), 0o755)
        chroot(tmp, "apt-get", "update", "-qq")
        chroot(tmp, "apt-get", "install", "-y", "-qq", "--no-install-recommends",
               "linux-image-amd64", "initramfs-tools", "e2fsprogs")
        chroot(tmp, "apt-get", "clean")
    finally:
        m.undo()
    os.remove(os.path.join(tmp, "usr/sbin/policy-rc.d"))
    shutil.rmtree(vm, ignore_errors=True)
    os.rename(tmp, vm)
    return vm


def configure(root, hostname, pubkey):
    """What an installer leaves on a gateway: DHCP on the NIC, a resolver,
    the host name, root's SSH key, the root file system in fstab."""
    def write(path, text, mode=0o644):
        p = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)

    short = hostname.split(".")[0]
    write("/etc/hostname", short + "\n")
    write("/etc/hosts", f"127.0.0.1 localhost\n127.0.1.1 {hostname} {short}\n")
    write("/etc/fstab", "/dev/vda / ext4 defaults 0 1\n")
    # QEMU's user network: DHCP from 10.0.2.2, DNS at 10.0.2.3.
    write("/etc/systemd/network/20-wired.network", "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n")
    write("/etc/resolv.conf", "nameserver 10.0.2.3\n")
    write("/root/.ssh/authorized_keys", pubkey, 0o600)
    os.chmod(os.path.join(root, "root/.ssh"), 0o700)
    for p in ("usr/sbin/policy-rc.d", "etc/machine-id"):
        try:
            os.remove(os.path.join(root, p))
        except FileNotFoundError:
            pass
    write("/etc/machine-id", "")
    chroot(root, "systemctl", "enable", "systemd-networkd.service", "ssh.service")


def newest(root, prefix):
    """The newest file of the root's /boot named PREFIX<version>."""
    d, _, name = prefix.rpartition("/")
    found = sorted(f for f in os.listdir(os.path.join(root, d)) if f.startswith(name))
    if not found:
        raise RuntimeError(f"no {prefix}* in {root}")
    return os.path.join(root, d, found[-1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Vm:
    def __init__(self, root, disk, port, console):
        self.root, self.disk, self.port, self.console = root, disk, port, console
        self.proc = None

    def start(self):
        # Software emulation (TCG) unless IOTC_VM_ACCEL=kvm: on the machines
        # this runs on /dev/kvm exists but a KVM guest hangs before its
        # first line on the console (nested virtualization), while TCG boots
        # Debian's kernel in seconds.
        kvm = os.environ.get("IOTC_VM_ACCEL") == "kvm"
        kernel = newest(self.root, "boot/vmlinuz-")
        initrd = newest(self.root, "boot/initrd.img-")
        self.proc = subprocess.Popen([
            "qemu-system-x86_64", "-accel", "kvm" if kvm else "tcg,thread=multi",
            "-m", "2048", "-smp", "2",
            "-kernel", kernel, "-initrd", initrd,
            "-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0",
            "-drive", f"file={self.disk},format=raw,if=virtio",
            "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{self.port}-:22",
            "-device", "virtio-net-pci,netdev=n0",
            # A virtio GPU: its driver makes /dev/dri/card0 and renderD128.
            "-device", "virtio-gpu-pci",
            "-display", "none", "-monitor", "none",
            "-serial", f"file:{self.console}",
        ], stdin=subprocess.DEVNULL)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Ssh:
    """Commands on the VM over one multiplexed connection, as Ansible does:
    ufw `limit`s SSH to six new connections in 30 s from one address."""

    def __init__(self, port, key, control):
        self.base = ["ssh", "-p", str(port), "-i", key, "-o", "StrictHostKeyChecking=no",
                     "-o", "ControlMaster=auto", "-o", f"ControlPath={control}", "-o", "ControlPersist=300",
                     "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                     "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "root@127.0.0.1"]

    def out(self, command, check=True):
        r = subprocess.run(self.base + [command], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"`{command}` on the VM: exit {r.returncode}: {r.stderr.strip()}")
        return r.stdout

    def wait(self, vm, seconds):
        end = time.time() + seconds
        while time.time() < end:
            if vm.proc.poll() is not None:
                raise RuntimeError(f"the VM stopped (exit {vm.proc.returncode}); see {vm.console}")
            r = subprocess.run(self.base + ["systemctl is-system-running --wait >/dev/null; true"],
                               capture_output=True, text=True, timeout=300)
            if r.returncode == 0:
                return
            time.sleep(3)
        raise RuntimeError(f"no SSH on the VM after {seconds} s; see {vm.console}")


def checks(ssh):
    """Read the booted host back; returns the failures."""
    failures = []

    def expect(what, got, want):
        if got != want:
            failures.append(f"{what}: {got!r}, expected {want!r}")

    # The device node: iotc's group, 0660, the host's own group by ACL.
    expect(f"{RENDER} group and mode", ssh.out(f"stat -c '%G %a' {RENDER}").strip(), "iotc-render 660")
    expect("iotc-render's id", ssh.out("getent group iotc-render | cut -d: -f3").strip(), "64040")
    acl = ssh.out(f"getfacl -cp {RENDER}")
    if "group:render:rw-" not in acl:
        failures.append(f"{RENDER} has no ACL for the host's render group: {acl!r}")
    # The host folder of the workload, for its user.
    expect("the spool's owner", ssh.out("stat -c %u /var/lib/inference/spool").strip(), "10001")
    # Every kernel module the role loads at boot is loaded.
    for m in ssh.out("cat /etc/modules-load.d/iotc.conf").split():
        if ssh.out(f"test -d /sys/module/{m} && echo yes || echo no").strip() != "yes":
            failures.append(f"kernel module {m} is not loaded")
    # Every sysctl the role writes has its value in the running kernel.
    for line in ssh.out("cat /etc/sysctl.d/90-iotc.conf").splitlines():
        mt = re.match(r"^\s*([\w.\-/]+)\s*=\s*(\S+)\s*$", line)
        if mt:
            expect(f"sysctl {mt[1]}", ssh.out(f"sysctl -n {mt[1]}").strip(), mt[2])
    expect("ufw", ssh.out("ufw status | head -1").strip(), "Status: active")
    expect("chrony", ssh.out("systemctl is-active chrony", check=False).strip(), "active")
    expect("sshd", ssh.out("systemctl is-active ssh", check=False).strip(), "active")
    # sshd runs with the drop-in's settings (`sshd -T` prints the effective
    # configuration, keys in lower case).
    effective = {}
    for line in ssh.out("sshd -T").splitlines():
        k, _, v = line.partition(" ")
        effective.setdefault(k, v)
    # `sshd -T` prints OpenSSH's older name for prohibit-password.
    alias = {"prohibit-password": "without-password"}
    dropin = ssh.out("cat /etc/ssh/sshd_config.d/00-iotc.conf")
    for line in dropin.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            k, _, v = line.strip().partition(" ")
            v = v.strip().lower()
            expect(f"sshd {k}", effective.get(k.lower()), alias.get(v, v))
    # SSH is let in from the admin network only (the solution's `admin`,
    # QEMU's user network), rate-limited.
    status = ssh.out("ufw status")
    if not re.search(r"^22/tcp\s+LIMIT( IN)?\s+10\.0\.2\.0/24\b", status, re.M):
        failures.append(f"ufw does not rate-limit SSH from the admin network: {status!r}")
    if re.search(r"^22/tcp\s+LIMIT( IN)?\s+Anywhere\b", status, re.M):
        failures.append(f"ufw still admits SSH from anywhere: {status!r}")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iotc", required=True)
    ap.add_argument("--base", required=True, help="the debootstrapped root")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--logs", required=True)
    a = ap.parse_args()
    os.makedirs(a.logs, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="iotc-booted-")
    vm = None
    try:
        out = os.path.join(tmp, "out")
        run([a.iotc, "build", SOURCE, "-o", out, "--color", "never"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        inv = subprocess.run(["ansible-inventory", "-i", "inventory.yaml", "--graph", "edge"],
                             cwd=os.path.join(out, "ansible"), capture_output=True, text=True, check=True)
        host = [l.split("--")[-1] for l in inv.stdout.splitlines() if "--" in l and "@" not in l][0]
        base = vm_base(a.base, a.cache)
        root = os.path.join(tmp, "root")
        run(["cp", "-a", base, root])
        key = os.path.join(tmp, "id_ed25519")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
        with open(key + ".pub") as f:
            configure(root, host, f.read())
        disk = os.path.join(tmp, "disk.img")
        run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", root, disk, "4G"])
        port = free_port()
        vm = Vm(root, disk, port, os.path.join(a.logs, "console.log"))
        print(f"   booting {host} (Debian 12, {os.path.basename(newest(root, 'boot/vmlinuz-'))})")
        vm.start()
        ssh = Ssh(port, key, os.path.join(tmp, "cm-%p"))
        ssh.wait(vm, 600)
        with open(os.path.join(tmp, "vm.yaml"), "w") as f:
            f.write(f"all:\n  hosts:\n    {host}:\n      ansible_host: 127.0.0.1\n      ansible_port: {port}\n"
                    f"      ansible_user: root\n      ansible_ssh_private_key_file: {key}\n"
                    "      ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null\n")
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_HOST_KEY_CHECKING="False")
        recaps = []
        for n in (1, 2):
            log = os.path.join(a.logs, f"prepare-{n}.log")
            with open(log, "w") as f:
                r = subprocess.run(["ansible-playbook", "playbooks/prepare.yml", "-i", "inventory.yaml",
                                    "-i", os.path.join(tmp, "vm.yaml"), "--limit", host, "--diff"],
                                   cwd=os.path.join(out, "ansible"), env=env, stdout=f, stderr=subprocess.STDOUT)
            text = open(log).read()
            recap = next((l for l in text.splitlines() if l.startswith(host) and "ok=" in l), "")
            print(f"   run {n}: {recap.strip()}")
            if r.returncode != 0:
                print(text[-4000:])
                raise RuntimeError(f"prepare.yml run {n} failed on the booted host (log {log})")
            recaps.append(recap)
        failures = []
        if not re.search(r"\bchanged=0\b", recaps[1]):
            failures.append("the second run changed something: prepare.yml is not idempotent on a booted host")
            with open(os.path.join(a.logs, "prepare-2.log")) as f:
                changed = [l for l in f.read().splitlines() if l.startswith("changed:")]
            failures.extend("  " + c for c in changed)
        failures += [f"after prepare: {x}" for x in checks(ssh)]
        print("   reboot")
        ssh.out("systemctl reboot", check=False)
        time.sleep(5)
        ssh.wait(vm, 600)
        failures += [f"after a reboot: {x}" for x in checks(ssh)]
        if failures:
            for x in failures:
                print(f"   !! {x}")
            return 1
        print(f"   booted host: prepare.yml twice (second changed=0); udev gave {RENDER} to iotc-render 0660 "
              "with the render ACL; modules, sysctls, ufw, chrony, sshd and the host folder as the role says, "
              "before and after a reboot")
        return 0
    finally:
        if vm:
            vm.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
