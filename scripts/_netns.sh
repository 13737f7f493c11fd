#!/usr/bin/env bash
# Run a command in a network namespace of its own, made by the caller (`unshare -n`): loopback
# up, and a veth pair (10.99.0.1/24 <-> 10.99.0.2/24) so WebRTC has an interface that is not
# loopback to gather candidates on (libnice gathers none on `lo`). Nothing inside can reach any
# address outside: Janus, the service and Chromium all run in here.
set -euo pipefail
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add 10.99.0.1/24 dev v0
ip addr add 10.99.0.2/24 dev v1
ip link set v0 up
ip link set v1 up
export ROOMSCRIBE_NETNS=1
exec "$@"
