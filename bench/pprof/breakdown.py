#!/usr/bin/env python3
"""bench/pprof/breakdown.py: where a gateway's CPU time goes, by group.

Reads `go tool pprof -traces PROFILE` (run for you) and puts every sample
in exactly one group, so the groups add up to 100 % of the profile:

  syscalls: server I/O     read/write on the client connections
  syscalls: transport I/O  read/write on the upstream connections
  syscalls: runtime        futex, epoll, nanosleep/usleep (scheduler, netpoller)
  GC                       background marking, assists, sweeping
  allocation               mallocgc and what it calls, outside GC work
  scheduler                finding and switching goroutines
  then, for the rest, the innermost frame that owns the work (the generic
  packages it calls, context, sync, time, bufio, textproto, count for it):
  gatehouse: PKG           gatehouse's own code (router, gateway, policies, stores)
  net/http transport       http.Transport / persistConn (upstream side)
  httputil.ReverseProxy    the proxy's copy and header work
  net/http server          parsing requests, writing responses, conn state
  crypto, dependency: MOD  hashing and signatures; third-party modules

Usage: bench/pprof/breakdown.py cpu-proxy.pprof [cpu-key-auth.pprof ...]
"""
import re
import subprocess
import sys
from collections import defaultdict


def samples(path):
    out = subprocess.run(["go", "tool", "pprof", "-traces", path], check=True,
                         capture_output=True, text=True).stdout
    stack, value = [], 0.0
    for line in out.splitlines():
        if line.startswith("-----------+"):
            if stack:
                yield value, stack
            stack, value = [], 0.0
            continue
        m = re.match(r"^\s+([0-9.]+)(ns|us|µs|ms|s)\s+(\S.*)$", line)
        if m:
            scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]
            value = float(m.group(1)) * scale
            stack = [m.group(3).strip()]
        elif stack and line.strip() and not line.startswith(" " * 11 + "bytes"):
            stack.append(line.strip())
    if stack:
        yield value, stack


def has(stack, pattern):
    return any(re.search(pattern, f) for f in stack)


def group(stack):
    leaf = stack[0]
    # The upstream side is http.Transport's persistConn for the bare proxy
    # and the proxy policy's synchronous pool (upConn, connPool) for
    # Gatehouse, whose reads and writes run on the handler's goroutine.
    transport = has(stack, r"net/http\.\(\*persistConn\)|net/http\.\(\*Transport\)|"
                    r"policy/proxy\.\(\*(upConn|connPool)\)")
    if re.search(r"Syscall6?$|syscall\.(Syscall|RawSyscall)", leaf):
        if has(stack, r"^syscall\.(read|write|Read|Write)|internal/poll\.\(\*FD\)\.(Read|Write)"):
            return "syscalls: transport I/O" if transport else "syscalls: server I/O"
        return "syscalls: other (accept, setsockopt, ...)"
    if re.search(r"^runtime\.(futex|epollwait|usleep|nanosleep|osyield|madvise|mmap|munmap)", leaf):
        return "syscalls: runtime (futex, epoll, usleep)"
    if has(stack, r"^runtime\.(gcBgMarkWorker|gcAssistAlloc|gcDrain|bgsweep|bgscavenge|markroot|gcStart|scanobject)"):
        return "GC"
    if has(stack, r"^runtime\.(mallocgc|newobject|makeslice|growslice|makemap|rawstring|rawbyteslice|concatstring)"):
        return "allocation"
    if has(stack, r"^runtime\.(schedule|findRunnable|park_m|mcall|goready|ready|wakep|startm|stopm|netpoll)"):
        return "scheduler"
    # The rest goes to the innermost frame that owns the work: gatehouse's
    # code, httputil, net/http (server or transport side), crypto or a
    # dependency; the generic packages they call (context, sync, time,
    # bufio, net/textproto, internal/poll, strings...) count for their caller.
    for f in stack:
        m = re.match(r"github\.com/gatehouse/gatehouse/(internal/)?([a-z0-9/]+)", f)
        if m:
            return "gatehouse: " + m.group(2)
        if f.startswith("net/http/httputil"):
            return "httputil.ReverseProxy"
        if f.startswith("net/http"):
            return "net/http transport" if transport else "net/http server"
        if f.startswith("crypto/") or f.startswith("vendor/golang.org/x/crypto"):
            return "crypto"
        m = re.match(r"((github\.com|golang\.org|go\.etcd\.io|gopkg\.in)/[^/.]+/[^/.]+)", f)
        if m:
            return "dependency: " + m.group(1)
    return "runtime (other)"


def main():
    for path in sys.argv[1:]:
        groups, total = defaultdict(float), 0.0
        for value, stack in samples(path):
            groups[group(stack)] += value
            total += value
        own = sum(v for k, v in groups.items() if k.startswith("gatehouse: "))
        sysc = sum(v for k, v in groups.items() if k.startswith("syscalls: "))
        print(f"== {path}: {total:.2f}s of samples; gatehouse's own code {100 * own / total:.1f}%, "
              f"system calls {100 * sysc / total:.1f}%")
        for name, v in sorted(groups.items(), key=lambda kv: -kv[1]):
            if v / total >= 0.005:
                print(f"  {100 * v / total:5.1f}%  {name}")
        print()


if __name__ == "__main__":
    main()
