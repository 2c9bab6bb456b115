#!/usr/bin/env python3
"""The generated host firewall, loaded by the real ufw and probed for real.

Run by .ci/ansible-idempotence (issue 10; docs/ansible.md, "The firewall in
a throwaway network namespace") after the prepare role has installed its
packages into the throwaway Debian root. Needs root and network namespaces.

1. Throwaway network namespaces stand for the gateway and its peers, linked
   by veth pairs: `lan` (another host of the gateway's site, on the subnet of
   the gateway's default route), `wan` (anything outside the site: another
   site, the cloud, the internet) and, on Kubernetes fleets, `pod` (an
   address of the runtime's pod network). Nothing touches this machine's
   own netfilter tables or interfaces.
2. The firewall tasks of playbooks/prepare.yml (from "Allow SSH through the
   firewall", the role's last tasks, with iotc_prepare_in_container=false)
   run through Ansible's chroot connection with the controller inside the
   gateway's namespace, so the root's own ufw and iptables load the rules
   into that namespace. Twice: the second run must report changed=0.
3. The ruleset is read back (iptables-save, nft list ruleset in the
   namespace) into the log, and a listener on every probed port answers
   TCP connects and UDP datagrams. Each expectation is probed from its peer:
   what must connect connects, what must be dropped times out.

4. Docker fleets: Docker's DNAT and FORWARD rules for the services this
   gateway publishes (written here: no Docker engine runs), a namespace
   behind a br-* bridge standing for the containers, the role's DOCKER-USER
   block in ufw's after.rules and the real `ufw reload`; then probes from
   every other gateway of the site and from outside (`docker_user`).

What must connect comes from the IR (`iotc plan --format json`): the site
and its servers, the flows (talks_to, resolved by the checker) and the
public workloads. What the runtime itself needs between the nodes of a site
(k3s: API server, kubelet, flannel VXLAN, and embedded etcd between the
servers of an HA site; microk8s likewise) is the IR's decision too
(`node_rules` of each site); check_node_rules holds it against k3s's and
microk8s's documented port list, written here independently of the
compiler, and stops with a message when the IR misses one.

  firewall_netns.py --out OUT --root ROOT --host HOST --ir IR.json --chroot-inventory FILE
"""

import argparse
import ipaddress
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

FIRST_FIREWALL_TASK = "Allow SSH through the firewall (rate limited)"

# Addresses of the throwaway links (documentation / private ranges).
GW_LAN, PEER_LAN, LAN_GW, LAN_PREFIX = "10.77.0.1", "10.77.0.2", "10.77.0.254", 24
GW_WAN, PEER_WAN = "198.51.100.1", "198.51.100.2"

# What each runtime needs between the nodes of one site (the runtimes' own
# documentation, not the compiler): (port, proto, why), and its pod network.
RUNTIME = {
    "k3s": {
        "ports": [
            (6443, "tcp", "k3s API server (agents join a server of their site)"),
            (10250, "tcp", "kubelet (logs, exec, metrics)"),
            (8472, "udp", "flannel VXLAN between the nodes of a site"),
        ],
        "etcd": [(2379, "tcp", "embedded etcd client"), (2380, "tcp", "embedded etcd peers")],
        "pod": ("10.42.7.1", "10.42.7.2", 24),
    },
    "microk8s": {
        "ports": [
            (16443, "tcp", "microk8s API server"),
            (10250, "tcp", "kubelet (logs, exec, metrics)"),
            (25000, "tcp", "microk8s cluster agent (join)"),
            (19001, "tcp", "dqlite between control-plane nodes"),
            (4789, "udp", "calico VXLAN between the nodes of a site"),
        ],
        "etcd": [],
        "pod": ("10.1.7.1", "10.1.7.2", 24),
    },
}
# Ports nothing declares: dropped from every peer.
UNDECLARED = [(4, "tcp"), (31337, "tcp"), (31338, "udp")]

LISTENER = r"""
import selectors, socket, sys
sel = selectors.DefaultSelector()
for spec in sys.argv[1:]:
    port, proto = spec.split("/")
    if proto == "tcp":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(port)))
        s.listen(64)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", int(port)))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, proto)
print("listening", flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        try:
            if key.data == "tcp":
                c, _ = s.accept()
                c.close()
            else:
                data, addr = s.recvfrom(512)
                s.sendto(data, addr)
        except OSError:
            pass
"""

PROBE = r"""
import json, socket, sys
target, timeout = sys.argv[1], float(sys.argv[2])
out = []
for spec in sys.argv[3:]:
    spec, _, src = spec.partition("@")
    port, proto = spec.split("/")
    source = (src, 0) if src else None
    try:
        if proto == "tcp":
            with socket.create_connection((target, int(port)), timeout=timeout, source_address=source):
                pass
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                if source:
                    s.bind(source)
                s.settimeout(timeout)
                s.sendto(b"iotc", (target, int(port)))
                s.recvfrom(512)
        out.append(True)
    except OSError:
        out.append(False)
print(json.dumps(out))
"""


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, **kw)


class Namespaces:
    """Named network namespaces, deleted again on exit."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.names = []

    def add(self, role):
        name = f"{self.prefix}-{role}"
        run(["ip", "netns", "add", name])
        self.names.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    def link(self, a, a_if, a_addr, b, b_if, b_addr, prefix):
        tmp_a, tmp_b = f"{self.prefix[-6:]}{a_if}x", f"{self.prefix[-6:]}{b_if}y"
        run(["ip", "link", "add", "name", tmp_a, "type", "veth", "peer", "name", tmp_b])
        run(["ip", "link", "set", tmp_a, "netns", a, "name", a_if])
        run(["ip", "link", "set", tmp_b, "netns", b, "name", b_if])
        for ns, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
            run(["ip", "-n", ns, "addr", "add", f"{addr}/{prefix}", "dev", ifname])
            run(["ip", "-n", ns, "link", "set", ifname, "up"])

    def delete(self):
        for name in reversed(self.names):
            subprocess.run(["ip", "netns", "delete", name], check=False)
        self.names = []


def fleet_of(ir, host):
    for fleet in ir["fleets"]:
        for site in fleet["sites"]:
            if host in site["hosts"] or host in site.get("standby_hosts", []):
                return fleet, site
    sys.exit(f"{host} is not a host of any fleet site in the IR")


def check_node_rules(site, runtime):
    """The independent check: the IR's node rules of SITE cover what the
    runtime's documentation lists (RUNTIME, written here, not copied from
    the compiler), the datastore ports only for a site with more than one
    server."""
    rt = RUNTIME[runtime]
    ir_ports = {
        (port, r["protocol"])
        for r in site["node_rules"]
        if r["ports"] is not None and r["from"] == "lan"
        for port in range(r["ports"]["first"], r["ports"]["last"] + 1)
    }
    documented = list(rt["ports"]) + (rt["etcd"] if len(site["servers"]) > 1 else [])
    missing = [(p, pr, why) for p, pr, why in documented if (p, pr) not in ir_ports]
    if missing:
        sys.exit(f"site {site['name']}: the IR's node rules lack documented {runtime} ports: {missing}")
    if not any(r["ports"] is None and isinstance(r["from"], dict) for r in site["node_rules"]):
        sys.exit(f"site {site['name']}: the IR's node rules do not admit the {runtime} pod network")


def expectations(ir, host):
    """(peer, port, proto, must_connect, why) for the gateway HOST."""
    fleet, site = fleet_of(ir, host)
    runtime = fleet["runtime"]["name"]
    kubernetes = fleet["runtime"]["kind"] == "kubernetes"
    exp = []
    peers = ["lan", "wan"] + (["pod"] if runtime in RUNTIME else [])
    # SSH: ufw's `limit` rule, from anywhere; when the solution declares
    # `admin` networks, from an `admin` peer inside the first of them only.
    admin = ir.get("admin_networks") or []
    for peer in peers:
        if not admin:
            exp.append((peer, 22, "tcp", True, "SSH (rate limited)"))
        elif peer == "pod":
            # The runtime's pod network is admitted on every port (below).
            exp.append((peer, 22, "tcp", True, "SSH from the pod network (admitted wholesale)"))
        else:
            exp.append((peer, 22, "tcp", False, "SSH from outside the admin networks"))
    if admin:
        peers = peers + ["admin"]
        exp.append(("admin", 22, "tcp", True, "SSH from an admin network (rate limited)"))
    if runtime in RUNTIME:
        rt = RUNTIME[runtime]
        check_node_rules(site, runtime)
        # What to probe is the IR's decision (`Site::node_rules`), which
        # check_node_rules has just held against the documentation.
        for r in site["node_rules"]:
            if r["ports"] is None or r["from"] != "lan":
                continue  # the pod and service networks: the "pod" peer
            for port in range(r["ports"]["first"], r["ports"]["last"] + 1):
                why = r["why"]
                exp.append(("lan", port, r["protocol"], True, f"{why}, from the site's LAN (IR)"))
                exp.append(("wan", port, r["protocol"], False, f"{why}, not from outside the site (IR)"))
        for port, proto, why in rt["etcd"]:
            exp.append(("wan", port, proto, False, f"{why}, not from outside the site"))
    elif kubernetes:
        sys.exit(f"no port list for the Kubernetes runtime {runtime!r}: add it to RUNTIME")
    workloads = {w["name"]: w for w in ir["workloads"]}
    on_fleet = lambda w: w["placement"].get("tier") == "fleet" and w["placement"].get("fleet") == fleet["name"]
    opened = set()
    # Flows into workloads of this fleet, as the checker resolved them.
    for f in ir["flows"]:
        if f["to_group"] != fleet["name"] or not on_fleet(workloads[f["to"]]):
            continue
        callee = workloads[f["to"]]
        what = f"flow {f['from']}->{f['to']}"
        if f["reach"] == "same-group":
            if runtime in RUNTIME:
                # Pod to pod (or to a host-network pod) over the overlay:
                # the packets come from the pod network.
                exp.append(("pod", f["port"], f["protocol"], True, f"{what} (pod network)"))
            # Docker fleets: published ports, admitted by DOCKER-USER, not ufw.
            continue
        exposure = callee.get("exposure")
        port = exposure["endpoint"]["port"] if exposure else f["port"]
        proto = "tcp" if exposure else f["protocol"]
        exp.append(("wan", port, proto, True, f"{what} ({f['reach']}, through its exposure)"))
        opened.add((port, proto))
    for w in workloads.values():
        if on_fleet(w) and w["public"] and w["container"].get("port"):
            exposure = w.get("exposure")
            port = exposure["endpoint"]["port"] if exposure else w["container"]["port"]
            exp.append(("wan", port, "tcp", True, f"public {w['name']}"))
            opened.add((port, "tcp"))
    # Local flows' ports are not open from outside the site, unless a
    # flow from elsewhere or a public workload opens the same port.
    for f in ir["flows"]:
        if f["to_group"] == fleet["name"] and f["reach"] == "same-group":
            if (f["port"], f["protocol"]) not in opened:
                exp.append(("wan", f["port"], f["protocol"], False, f"flow {f['from']}->{f['to']} is local to the site"))
    # Scrapes of this fleet's workloads by its own Prometheus: over the
    # pod network, like the local flows.
    for m in ir.get("monitoring", []):
        if m.get("fleet") and m.get("group") == fleet["name"] and runtime in RUNTIME:
            for t in m["targets"]:
                exp.append(("pod", t["port"], "tcp", True, f"{m['prometheus']} scrapes {t['workload']} (pod network)"))
    # The pod network is allowed wholesale (pods reach host-network pods
    # and the node on any port, as k3s and microk8s document), so
    # undeclared ports are probed from the LAN and from outside only.
    for port, proto in UNDECLARED:
        for peer in ("lan", "wan"):
            exp.append((peer, port, proto, False, "declared by nothing"))
    # One expectation per (peer, port, proto): a must-connect wins over a
    # must-drop (two reasons for one port).
    merged = {}
    for peer, port, proto, ok, why in exp:
        key = (peer, port, proto)
        if key not in merged or (ok and not merged[key][0]):
            merged[key] = (ok, why)
        elif merged[key][0] == ok and why not in merged[key][1]:
            merged[key] = (ok, merged[key][1] + "; " + why)
    return fleet, site, runtime, peers, merged


CTR_GW, CTR, CTR_BRIDGE = "172.30.0.1", "172.30.0.2", "br-iotcfw"


def probe(ns, target, specs, timeout):
    res = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", PROBE, target, str(timeout)] + specs,
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def docker_user(args, ir, fleet, site, nss, gw, peer_ns, logdir, failed):
    """A Docker fleet's published ports: the DOCKER-USER block the stack role
    writes into ufw's after.rules, loaded by the real `ufw reload`, in front
    of the DNAT and FORWARD rules Docker makes for a published port. Which
    gateway calls which port comes from the IR's flows and the inventory's
    per-gateway shares (IOTC_REPLICAS_*)."""
    import jinja2

    inv = json.loads(subprocess.run(
        ["ansible-inventory", "-i", "inventory.yaml", "--list"], cwd=os.path.join(args.out, "ansible"),
        capture_output=True, text=True, check=True).stdout)
    hostvars = inv["_meta"]["hostvars"]
    me = hostvars[args.host]
    hosts = site["hosts"] + site.get("standby_hosts", [])
    others = [h for h in hosts if h != args.host]
    addr = {args.host: GW_LAN}
    for i, h in enumerate(others):
        addr[h] = f"10.77.0.{10 + i}"

    def share(h, workload):
        key = "IOTC_REPLICAS_" + re.sub(r"[^A-Za-z0-9]", "_", workload).upper() + "="
        for line in hostvars[h].get("iotc_compose_stack_env", []):
            if line.startswith(key):
                return int(line[len(key):])
        return 0

    # Docker's side, for each published port of a service this gateway
    # runs: DNAT to the container (one namespace behind a br-* bridge
    # stands for the containers), the FORWARD jump to DOCKER-USER first,
    # then Docker's accept towards the container.
    compose_file = os.path.join(args.out, "compose", fleet["name"], site["name"], "compose.yaml")
    with open(compose_file) as fh:
        services = yaml.safe_load(fh)["services"]
    published = {}  # host port -> (service, container port, proto)
    for name, svc in services.items():
        if share(args.host, name) <= 0:
            continue
        for spec in svc.get("ports") or []:
            text, _, proto = str(spec).partition("/")
            parts = text.split(":")  # [ip:]host:container, or container alone
            host_port, ctr_port = (parts[-2], parts[-1]) if len(parts) > 1 else (parts[0], parts[0])
            published[int(host_port)] = (name, int(ctr_port), proto or "tcp")
    ctr = nss.add("ctr")
    run(["ip", "-n", gw, "link", "add", "name", CTR_BRIDGE, "type", "bridge"])
    run(["ip", "-n", gw, "addr", "add", f"{CTR_GW}/24", "dev", CTR_BRIDGE])
    run(["ip", "-n", gw, "link", "set", CTR_BRIDGE, "up"])
    tmp_a, tmp_b = f"{nss.prefix[-6:]}cx", f"{nss.prefix[-6:]}cy"
    run(["ip", "link", "add", "name", tmp_a, "type", "veth", "peer", "name", tmp_b])
    run(["ip", "link", "set", tmp_a, "netns", gw, "name", "vethctr"])
    run(["ip", "link", "set", tmp_b, "netns", ctr, "name", "eth0"])
    run(["ip", "-n", gw, "link", "set", "vethctr", "master", CTR_BRIDGE, "up"])
    run(["ip", "-n", ctr, "addr", "add", f"{CTR}/24", "dev", "eth0"])
    run(["ip", "-n", ctr, "link", "set", "eth0", "up"])
    run(["ip", "-n", ctr, "route", "add", "default", "via", CTR_GW])
    # What 90-iotc.conf sets at boot (net.* is per namespace).
    run(["ip", "netns", "exec", gw, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    ipt = ["ip", "netns", "exec", gw, "chroot", args.root, "iptables"]
    subprocess.run(ipt + ["-N", "DOCKER-USER"], check=False, stderr=subprocess.DEVNULL)
    run(ipt + ["-I", "FORWARD", "1", "-j", "DOCKER-USER"])
    run(ipt + ["-I", "FORWARD", "2", "-o", CTR_BRIDGE, "-d", CTR, "-j", "ACCEPT"])
    run(ipt + ["-I", "FORWARD", "3", "-i", CTR_BRIDGE, "-j", "ACCEPT"])
    for host_port, (_, ctr_port, proto) in sorted(published.items()):
        run(ipt + ["-t", "nat", "-A", "PREROUTING", "-p", proto, "--dport", str(host_port),
                   "-j", "DNAT", "--to-destination", f"{CTR}:{ctr_port}"])

    # The role's block, rendered like its template lookup (Jinja2 with
    # trim_blocks) and inserted as blockinfile does, then `ufw reload`.
    template = os.path.join(args.out, "ansible", "roles", "iotc_compose_stack", "templates", "docker-user.rules.j2")
    env = jinja2.Environment(trim_blocks=True, keep_trailing_newline=False, undefined=jinja2.StrictUndefined)
    block = env.from_string(open(template).read()).render(
        iotc_compose_stack_project=me["iotc_compose_stack_project"],
        iotc_compose_stack_published=me.get("iotc_compose_stack_published", []),
        hostvars={h: {"ansible_facts": {"default_ipv4": {"address": a}}} for h, a in addr.items()})
    marker = f"iotc DOCKER-USER {me['iotc_compose_stack_project']}"
    after = os.path.join(args.root, "etc", "ufw", "after.rules")
    with open(after, "a") as fh:
        fh.write(f"# BEGIN {marker}\n{block.rstrip()}\n# END {marker}\n")
    reload = subprocess.run(["ip", "netns", "exec", gw, "chroot", args.root, "ufw", "reload"],
                            capture_output=True, text=True)
    saved = subprocess.run(["ip", "netns", "exec", gw, "chroot", args.root, "iptables-save"],
                           capture_output=True, text=True).stdout
    with open(os.path.join(logdir, "iptables-save-docker.txt"), "w") as fh:
        fh.write(saved)
    if reload.returncode != 0 or "-A DOCKER-USER" not in saved or "-A FORWARD -j DOCKER-USER" not in saved:
        print(reload.stdout + reload.stderr + saved)
        failed.append("ufw reload did not load the DOCKER-USER block in front of Docker's rules")
        return

    # Expectations: every same-site flow into a service this gateway runs,
    # from every other gateway that runs its caller; no other gateway of
    # the site; nothing from outside unless public or called from elsewhere.
    workloads = {w["name"]: w for w in ir["workloads"]}
    exp = {}  # (source host or "wan", port, proto) -> (must connect, why)
    for host_port, (service, ctr_port, proto) in sorted(published.items()):
        flows = [f for f in ir["flows"] if f["to"] == service and f["to_group"] == fleet["name"]]
        callers = {f["from"] for f in flows if f["reach"] == "same-group"}
        from_any = workloads[service]["public"] or any(f["reach"] != "same-group" for f in flows)
        for h in others:
            calls = sorted(c for c in callers if share(h, c) > 0)
            why = (f"{h} runs {', '.join(calls)} -> {service}" if calls
                   else f"{h} runs no caller of {service}")
            exp[(h, host_port, proto)] = (bool(calls) or from_any, why)
        exp[("wan", host_port, proto)] = (from_any, f"{service} from outside the site"
                                          + (" (public or called from elsewhere)" if from_any else ""))
    if not exp:
        print("   DOCKER-USER: this gateway runs no published service")
        return
    listener = subprocess.Popen(
        ["ip", "netns", "exec", ctr, sys.executable, "-c", LISTENER]
        + sorted({f"{c}/{pr}" for (_, c, pr) in published.values()}),
        stdout=subprocess.PIPE, text=True)
    try:
        if listener.stdout.readline().strip() != "listening":
            failed.append("the container's listener did not start")
            return
        for h in others:
            run(["ip", "-n", peer_ns["lan"], "addr", "add", f"{addr[h]}/{LAN_PREFIX}", "dev", "eth0"])

        def probe_all():
            got = {}
            lan_keys = [k for k in sorted(exp) if k[0] != "wan"]
            for k, ok in zip(lan_keys, probe(peer_ns["lan"], GW_LAN, [f"{p}/{pr}@{addr[h]}" for h, p, pr in lan_keys],
                                              args.timeout)):
                got[k] = ok
            wan_keys = [k for k in sorted(exp) if k[0] == "wan"]
            for k, ok in zip(wan_keys, probe(peer_ns["wan"], GW_WAN, [f"{p}/{pr}" for _, p, pr in wan_keys],
                                              args.timeout)):
                got[k] = ok
            return got

        good = 0
        for key, got in probe_all().items():
            want, why = exp[key]
            if got != want:
                failed.append(f"DOCKER-USER, from {key[0]} ({'must connect' if want else 'must be dropped'}): "
                              f"{key[1]}/{key[2]} {'connected' if got else 'was dropped'}: {why}")
            else:
                good += 1
        admitted = sum(1 for w, _ in exp.values() if w)
        print(f"   DOCKER-USER probes: {len(exp)} ({admitted} must connect) on published ports "
              f"{', '.join(f'{p}/{v[2]} ({v[0]})' for p, v in sorted(published.items()))}: {good} right")
        # Without the block every probe must connect (Docker's own rules
        # let everyone in): each drop above is DOCKER-USER's doing.
        run(ipt + ["-F", "DOCKER-USER"])
        for key, got in probe_all().items():
            if not got:
                failed.append(f"DOCKER-USER: {key[1]}/{key[2]} from {key[0]} is unreachable even without the block")
    finally:
        listener.kill()
        listener.wait()


def ansible_firewall(args, ns, log):
    # Ansible's network facts read /sys/class/net: a read-only sysfs of the
    # namespace, mounted in the root inside the mount namespace that
    # `ip netns exec` makes (gone when it exits).
    sysfs = os.path.join(args.root, "sys")
    cmd = [
        "ip", "netns", "exec", ns, "sh", "-c", 'mount -t sysfs -o ro sysfs "$0" && exec "$@"', sysfs,
        "ansible-playbook", "playbooks/prepare.yml",
        "-i", "inventory.yaml", "-i", args.chroot_inventory,
        "--limit", args.host,
        "--start-at-task", FIRST_FIREWALL_TASK,
        "-e", json.dumps({"iotc_prepare_in_container": False}),
    ]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_HOST_KEY_CHECKING="False")
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, cwd=os.path.join(args.out, "ansible"), env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
    text = open(log).read()
    tasks = re.findall(r"^TASK \[iotc_prepare : (.*?)\]", text, re.M)
    recap = re.search(rf"^{re.escape(args.host)}\s+:.*$", text, re.M)
    return rc, tasks, recap.group(0) if recap else "", text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--ir", required=True)
    ap.add_argument("--chroot-inventory", required=True)
    ap.add_argument("--logs", help="folder for the Ansible logs and the ruleset (default: a new temporary one)")
    ap.add_argument("--timeout", type=float, default=1.5)
    args = ap.parse_args()
    ir = json.load(open(args.ir))
    fleet, site, runtime, peers, exp = expectations(ir, args.host)
    print(f"   firewall: {args.host} (fleet {fleet['name']}, site {site['name']}, {runtime}, "
          f"{len(site['servers'])} server(s)) in a throwaway network namespace")

    nss = Namespaces(f"iotcfw{os.getpid()}")
    listener = None
    failed = []
    logdir = args.logs or tempfile.mkdtemp(prefix="iotc-firewall-")
    os.makedirs(logdir, exist_ok=True)
    try:
        gw = nss.add("gw")
        peer_ns = {}
        peer_ns["lan"] = nss.add("lan")
        nss.link(gw, "lan0", GW_LAN, peer_ns["lan"], "eth0", PEER_LAN, LAN_PREFIX)
        # The default route makes lan0 the gateway's default interface:
        # Ansible's default_ipv4, hence iotc_prepare_lan_cidr.
        run(["ip", "-n", gw, "route", "add", "default", "via", LAN_GW, "dev", "lan0", "onlink"])
        peer_ns["wan"] = nss.add("wan")
        nss.link(gw, "wan0", GW_WAN, peer_ns["wan"], "eth0", PEER_WAN, 24)
        targets = {"lan": GW_LAN, "wan": GW_WAN}
        if "admin" in peers:
            # An operator's machine in the first admin network, reached
            # over a link of its own (the VPN's end on the gateway).
            net = ipaddress.ip_network(ir["admin_networks"][0])
            hosts = list(itertools.islice(net.hosts(), 2))
            if len(hosts) < 2:
                hosts = [net.network_address, net.network_address]
            peer_ns["admin"] = nss.add("adm")
            nss.link(gw, "adm0", str(hosts[0]), peer_ns["admin"], "eth0", str(hosts[1]), net.prefixlen)
            targets["admin"] = str(hosts[0])
        if "pod" in peers:
            gw_pod, peer_pod, pod_prefix = RUNTIME[runtime]["pod"]
            peer_ns["pod"] = nss.add("pod")
            nss.link(gw, "pod0", gw_pod, peer_ns["pod"], "eth0", peer_pod, pod_prefix)
            targets["pod"] = gw_pod

        # The role's IPv4 kernel parameters (90-iotc.conf, written by the
        # prepare run; a booted gateway applies it at boot), set in the
        # gateway's namespace: net.ipv4.* is per namespace. The others
        # (fs.*, net.bridge.*) would reach this machine and are left alone.
        conf = os.path.join(args.root, "etc", "sysctl.d", "90-iotc.conf")
        for line in open(conf).read().splitlines():
            key, _, value = line.partition("=")
            if key.strip().startswith("net.ipv4."):
                run(["ip", "netns", "exec", gw, "sysctl", "-q", "-w", f"{key.strip()}={value.strip()}"])
        # Pods of this node reached from the LAN (another node's pods after
        # VXLAN decapsulation): forwarded, so ufw's routed policy decides.
        if "pod" in peers:
            run(["ip", "-n", peer_ns["lan"], "route", "add", f"{peer_pod.rsplit('.', 1)[0]}.0/{pod_prefix}",
                 "via", GW_LAN])
            run(["ip", "-n", peer_ns["pod"], "route", "add", "default", "via", gw_pod])

        # The role's firewall tasks, for real, twice. Only ufw tasks may run
        # (the others act on this machine's kernel or are not the firewall).
        with open(os.path.join(args.out, "ansible", "roles", "iotc_prepare", "tasks", "main.yml")) as fh:
            ufw_tasks = {t["name"]: "community.general.ufw" in t for t in yaml.safe_load(fh)}
        for attempt in (1, 2):
            log = os.path.join(logdir, f"firewall-{attempt}.log")
            rc, tasks, recap, text = ansible_firewall(args, gw, log)
            if rc != 0:
                print(text)
                failed.append(f"run {attempt} of the firewall tasks failed")
                break
            print(f"   firewall run {attempt}: {recap}")
            if not tasks or any(ufw_tasks.get(t) is not True for t in tasks):
                failed.append(f"the firewall run should run only the role's ufw tasks, ran {tasks}")
            if attempt == 2 and not re.search(r"\bchanged=0\b", recap):
                print(text)
                failed.append("the second run of the firewall tasks changed something: not idempotent")
        if failed:
            raise SystemExit(1)

        # Read back what the kernel has, from inside the namespace.
        saved = subprocess.run(["ip", "netns", "exec", gw, "chroot", args.root, "iptables-save"], capture_output=True, text=True).stdout
        with open(os.path.join(logdir, "iptables-save.txt"), "w") as fh:
            fh.write(saved)
        status = subprocess.run(["ip", "netns", "exec", gw, "chroot", args.root, "ufw", "status", "verbose"],
                                capture_output=True, text=True).stdout
        print("   " + "\n   ".join(status.strip().splitlines()))
        if "Status: active" not in status or ":INPUT DROP" not in saved or "-A ufw-user-input" not in saved:
            print(saved)
            failed.append("ufw is not active in the namespace, or its input chain is missing")
            raise SystemExit(1)

        # A listener on every probed port, then the probes.
        ports = sorted({(port, proto) for (_, port, proto) in exp})
        listener = subprocess.Popen(
            ["ip", "netns", "exec", gw, sys.executable, "-c", LISTENER] + [f"{p}/{pr}" for p, pr in ports],
            stdout=subprocess.PIPE, text=True)
        if listener.stdout.readline().strip() != "listening":
            failed.append("the listener did not start")
            raise SystemExit(1)
        connected = drop_ok = 0
        for peer in peers:
            keys = [k for k in sorted(exp) if k[0] == peer]
            res = subprocess.run(
                ["ip", "netns", "exec", peer_ns[peer], sys.executable, "-c", PROBE, targets[peer], str(args.timeout)]
                + [f"{port}/{proto}" for (_, port, proto) in keys],
                capture_output=True, text=True, check=True)
            for key, got in zip(keys, json.loads(res.stdout)):
                want, why = exp[key]
                _, port, proto = key
                if got != want:
                    failed.append(f"from {peer} ({'must connect' if want else 'must be dropped'}): "
                                  f"{port}/{proto} {'connected' if got else 'was dropped'}: {why}")
                elif want:
                    connected += 1
                else:
                    drop_ok += 1
        # Forwarded to a pod of this node, from the LAN, on every port that
        # must connect from the pod network (the local flows, SSH): the
        # role's "Allow forwarded traffic" task (without it ufw's routed
        # policy drops them).
        if "pod" in peers:
            flow_ports = sorted({(p, pr) for (peer, p, pr), (ok, _) in exp.items() if peer == "pod" and ok})
            pod_listener = subprocess.Popen(
                ["ip", "netns", "exec", peer_ns["pod"], sys.executable, "-c", LISTENER]
                + [f"{p}/{pr}" for p, pr in flow_ports], stdout=subprocess.PIPE, text=True)
            try:
                if pod_listener.stdout.readline().strip() != "listening":
                    failed.append("the pod's listener did not start")
                for (p, pr), ok in zip(flow_ports, probe(peer_ns["lan"], peer_pod, [f"{p}/{pr}" for p, pr in flow_ports],
                                                         args.timeout)):
                    if ok:
                        connected += 1
                    else:
                        failed.append(f"forwarded from the LAN to a pod of this node: {p}/{pr} was dropped "
                                      "(ufw's routed policy)")
            finally:
                pod_listener.kill()
                pod_listener.wait()
        print(f"   firewall probes: {connected} declared connect, {drop_ok} undeclared dropped, {len(failed)} wrong")
        for line in failed:
            print(f"!! {line}", file=sys.stderr)
        # The same probes with the firewall off must all connect: a probe
        # that is dropped either way proves nothing.
        if not failed:
            run(["ip", "netns", "exec", gw, "chroot", args.root, "ufw", "--force", "disable"], stdout=subprocess.DEVNULL)
            for peer in peers:
                keys = [k for k in sorted(exp) if k[0] == peer]
                res = subprocess.run(
                    ["ip", "netns", "exec", peer_ns[peer], sys.executable, "-c", PROBE, targets[peer], str(args.timeout)]
                    + [f"{port}/{proto}" for (_, port, proto) in keys],
                    capture_output=True, text=True, check=True)
                for key, got in zip(keys, json.loads(res.stdout)):
                    if not got:
                        failed.append(f"from {peer}: {key[1]}/{key[2]} is unreachable even without the firewall")
            # Docker fleets: the published ports, with ufw on again.
            if runtime == "docker" and not failed:
                run(["ip", "netns", "exec", gw, "chroot", args.root, "ufw", "--force", "enable"],
                    stdout=subprocess.DEVNULL)
                docker_user(args, ir, fleet, site, nss, gw, peer_ns, logdir, failed)
            for line in failed:
                print(f"!! {line}", file=sys.stderr)
    except SystemExit:
        for line in failed:
            print(f"!! {line}", file=sys.stderr)
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        nss.delete()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
