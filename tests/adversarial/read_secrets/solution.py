import os

targets = ["{REFERENCE}", "{ASSIGNMENT}/grading.toml", "{CLASS}/honest/notes.py", "{OUT}"]
for target in targets:
    try:
        if os.path.isdir(target):
            print("LISTED", target, os.listdir(target))
        else:
            print("READ", target, open(target).read()[:3000])
    except OSError as error:
        print("DENIED", target, type(error).__name__)
pid = os.getpid()
while pid > 1:
    try:
        print("ENVIRON", pid, open(f"/proc/{pid}/environ", "rb").read().replace(b"\0", b" ")[:3000])
    except OSError as error:
        print("DENIED environ", pid, type(error).__name__)
    try:
        pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except OSError:
        break
