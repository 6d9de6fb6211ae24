"""A fork bomb: children that never end, as many as the machine allows (only ever run in the sandbox)."""
import os
import time

born = 0
try:
    while born < 20_000:
        if os.fork() == 0:
            time.sleep(3600)
            os._exit(0)
        born += 1
    print("LEAK forked", born, "children")
except OSError as error:
    print("DENIED fork refused after", born, "children:", type(error).__name__)
print("ATTACK-RAN fork_bomb")
