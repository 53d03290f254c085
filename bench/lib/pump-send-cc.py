# The sender half of bench/lib/pump.mjs with a per-socket TCP congestion control
# (setsockopt TCP_CONGESTION, which Node cannot do). Root may pick any algorithm in
# net.ipv4.tcp_available_congestion_control; the per-namespace default is restricted to
# tcp_allowed_congestion_control, which on this machine excludes cubic.
#
#   python3 pump-send-cc.py HOST PORT BYTES CC
#
# Prints T0 <ns> (CLOCK_MONOTONIC, the clock of Node's process.hrtime), CC <name> as the
# kernel reports it after connect, then SENT; then waits to be killed.
import socket
import sys
import time

host, port, total, cc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
block = bytes((i * 2654435761 >> 13) & 0xFF for i in range(65536))
print("T0 %d" % time.monotonic_ns(), flush=True)
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
    s.connect((host, port))
    got = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).split(b"\0")[0]
    print("CC %s" % got.decode(), flush=True)
    left = total
    view = memoryview(block)
    while left > 0:
        n = min(len(block), left)
        s.sendall(view[:n])
        left -= n
    s.shutdown(socket.SHUT_WR)
    print("SENT", flush=True)
except OSError as e:
    print("SEND_ERROR %s" % e, flush=True)
while True:
    time.sleep(3600)
