#!/usr/bin/env python3
"""An offline site's prepare run, for real, without a network (issue 10;
docs/ansible.md, "Offline sites").

Builds a solution whose k3s site is `offline = true` and serves a model
from the controller's loopback (its artifact URL and checksum made here),
then runs the generated playbooks/prepare.yml against a throwaway Debian 12
root (the chroot connection) with Ansible inside a network namespace that
has nothing but loopback: a gateway task that tried to download (apt, a
URL) would fail. It checks that

1. on the bare root the run stops at the package check and names exactly
   the base packages the root lacks, having installed nothing;
2. once they are installed (from outside the namespace, as an OS image or a
   site mirror would have them), the run passes: the model was downloaded
   on the controller, checked against its sha256, and copied into the
   model server's cache where its fetch looks for it, owned by its user;
3. a second run changes nothing.

Needs root (chroot, mount, ip netns). Run by .ci/ansible-idempotence, which
makes the root and the Ansible venv and passes them.
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

SOURCE = """solution offline_check {{
  version = "1.0.0"
  namespace = "offline-check"
}}

import std.devices
import std.ml

fleet plants {{
  device = std.devices.x86_gateway
  runtime = k3s
  site south {{
    gateways = 1
    hosts = "gw{{n}}.south.offline.internal"
    offline = true
    mirror = "registry.south.offline.internal:5000"
  }}
}}

model defects {{
  format   = onnx
  version  = "3"
  artifact = "http://127.0.0.1:{port}/defects.onnx"
  checksum = "sha256:{sha}"
  serve on plants {{ runtime = std.ml.onnxruntime }}
}}
"""
PORT = 18731


def run(cmd, **kw):
    kw.setdefault("check", True)
    return subprocess.run(cmd, **kw)


def installed(root):
    out = run(["chroot", root, "dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n"],
              capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iotc", required=True)
    ap.add_argument("--base", required=True, help="the debootstrapped Debian 12 root")
    ap.add_argument("--archives", required=True, help="apt's download cache, bind-mounted")
    ap.add_argument("--logs", required=True)
    a = ap.parse_args()
    os.makedirs(a.logs, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="iotc-offline-")
    ns = f"iotcoff{os.getpid()}"
    mounts = []
    server = None
    ok = True
    try:
        # The model the controller serves itself, and its checksum.
        served = os.path.join(tmp, "served")
        os.makedirs(served)
        model = os.urandom(4096)
        with open(os.path.join(served, "defects.onnx"), "wb") as f:
            f.write(model)
        sha = hashlib.sha256(model).hexdigest()
        src = os.path.join(tmp, "offline.iot")
        with open(src, "w") as f:
            f.write(SOURCE.format(port=PORT, sha=sha))
        out = os.path.join(tmp, "out")
        built = subprocess.run([a.iotc, "build", src, "-o", out, "--color", "never"], capture_output=True, text=True)
        if built.returncode != 0:
            print(built.stdout + built.stderr, file=sys.stderr)
            return 1
        inv = open(os.path.join(out, "ansible", "inventory.yaml")).read()
        host = "gw1.south.offline.internal"
        assert "iotc_offline: true" in inv, "the site is offline in the inventory"
        dest = re.search(r"dest: (/var/lib/iotc/model-cache/\S+)", inv).group(1)

        root = os.path.join(tmp, "root")
        run(["cp", "-a", a.base, root])
        os.makedirs(os.path.join(root, "run", "sshd"), exist_ok=True)
        with open(os.path.join(root, "usr", "sbin", "policy-rc.d"), "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(os.path.join(root, "usr", "sbin", "policy-rc.d"), 0o755)
        os.makedirs(os.path.join(root, "proc"), exist_ok=True)
        run(["mount", "-t", "proc", "-o", "ro", "proc", os.path.join(root, "proc")])
        mounts.append(os.path.join(root, "proc"))
        with open(os.path.join(tmp, "chroot.yaml"), "w") as f:
            f.write(f"all:\n  hosts:\n    {host}:\n      ansible_connection: community.general.chroot\n"
                    f"      ansible_host: {root}\n")

        # A network namespace with loopback only; the controller's server in it.
        run(["ip", "netns", "add", ns])
        run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"])
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "http.server", str(PORT), "--bind", "127.0.0.1",
             "--directory", served], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        home = os.path.join(tmp, "home")
        os.makedirs(home)

        def prepare(log):
            env = dict(os.environ, HOME=home, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                       ANSIBLE_HOST_KEY_CHECKING="False")
            with open(log, "w") as f:
                r = subprocess.run(
                    ["ip", "netns", "exec", ns, "ansible-playbook", "playbooks/prepare.yml", "-i", "inventory.yaml",
                     "-i", os.path.join(tmp, "chroot.yaml"), "--limit", host,
                     "-e", '{"iotc_prepare_in_container": true}'],
                    cwd=os.path.join(out, "ansible"), env=env, stdout=f, stderr=subprocess.STDOUT)
            text = open(log).read()
            recap = re.search(rf"^{re.escape(host)}\s+:.*$", text, re.M)
            return r.returncode, text, recap.group(0) if recap else ""

        # 1. The bare root: the check names what is missing, nothing installed.
        defaults = open(os.path.join(out, "ansible", "roles", "iotc_prepare", "defaults", "main.yml")).read()
        block = re.search(r"iotc_prepare_packages:\n((?:  - .*\n)+)", defaults).group(1)
        wanted = re.findall(r"  - (\S+)", block)
        before = installed(root)
        missing = sorted(p for p in wanted if p not in before)
        rc, text, recap = prepare(os.path.join(a.logs, "offline-1.log"))
        said = re.search(r"Offline site: install (.*?) on " + re.escape(host), text)
        if rc == 0 or not said:
            print(f"!! offline run 1 should stop at the package check (rc={rc})", file=sys.stderr)
            ok = False
        elif sorted(s.strip() for s in said.group(1).split(",")) != missing:
            print(f"!! offline run 1 named {said.group(1)!r}, the root lacks {missing}", file=sys.stderr)
            ok = False
        else:
            print(f"   offline run 1 stopped, naming the missing packages: {said.group(1)}")
        if installed(root) != before:
            print("!! offline run 1 installed packages", file=sys.stderr)
            ok = False

        # 2. The packages in place (outside the namespace, with the network).
        archives = os.path.join(root, "var", "cache", "apt", "archives")
        os.makedirs(os.path.join(a.archives, "partial"), exist_ok=True)
        run(["mount", "--bind", a.archives, archives])
        mounts.append(archives)
        shutil.copy("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8")
        with open(os.path.join(a.logs, "apt.log"), "w") as apt_log:
            run(["chroot", root, "apt-get", "update", "-qq"], env=env, stdout=apt_log, stderr=subprocess.STDOUT)
            run(["chroot", root, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                env=env, stdout=apt_log, stderr=subprocess.STDOUT)
        os.remove(os.path.join(root, "etc", "resolv.conf"))
        rc, text, recap = prepare(os.path.join(a.logs, "offline-2.log"))
        staged = os.path.join(root, dest.lstrip("/"))
        if rc != 0:
            print(text[-4000:], file=sys.stderr)
            print("!! offline run 2 failed with the packages installed", file=sys.stderr)
            ok = False
        elif not os.path.isfile(staged) or hashlib.sha256(open(staged, "rb").read()).hexdigest() != sha:
            print(f"!! the model is not in the server's cache at {dest}", file=sys.stderr)
            ok = False
        elif os.stat(staged).st_uid != 10001:
            print(f"!! {dest} belongs to uid {os.stat(staged).st_uid}, not the server's 10001", file=sys.stderr)
            ok = False
        else:
            print(f"   offline run 2: {recap}")
            print(f"   the model is at {dest}, verified, uid 10001")
        # 3. Idempotent, still offline.
        rc, text, recap = prepare(os.path.join(a.logs, "offline-3.log"))
        if rc != 0 or " changed=0 " not in recap:
            print(re.findall(r"^changed: .*$", text, re.M), file=sys.stderr)
            print(f"!! offline run 3 is not idempotent: {recap}", file=sys.stderr)
            ok = False
        else:
            print(f"   offline run 3: {recap}")
    finally:
        if server:
            server.terminate()
            server.wait()
        subprocess.run(["ip", "netns", "delete", ns], check=False, stderr=subprocess.DEVNULL)
        for m in reversed(mounts):
            subprocess.run(["umount", m], check=False)
            subprocess.run(["umount", "-l", m], check=False, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
